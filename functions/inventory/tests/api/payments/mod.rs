//! Paying a purchase order's supplier through Wise, against a local server playing Wise's API:
//! one file per part of `inventory::payments` (the route, a run's retries and outcomes, the
//! steps at Wise, the transfer's states, approvals, the Wise connection).

use std::collections::BTreeMap;

use crate::support::fake_wise::{FakeWise, PROFILE, PROFILE_B, TOKEN, TOKEN_B};
use crate::support::*;
use http::{Method, StatusCode};
use serde_json::{Value, json};
use shared::domain::{OrgId, SessionId, UserId};
use shared::payment_details::PaymentDetails;
use shared::testing::{Registered, TestApp, TestResponse, assert_problem};
use sqlx::PgPool;
use uuid::Uuid;

mod approvals;
mod pay;
mod policy;
mod record;
mod run;
mod send;
mod wise_account;

pub(crate) const IBAN: &str = "DE89370400440532013000";

pub(crate) async fn with_wise(pool: PgPool) -> (TestApp, FakeWise) {
    let wise = FakeWise::start().await;
    let settings = wise.settings();
    let overrides: Vec<(&str, &str)> = settings.iter().map(|(k, v)| (*k, v.as_str())).collect();
    (app_with(pool, &overrides), wise)
}

/// The supplier's bank details the payments tests pay to: [`IBAN`] in `currency`.
pub(crate) fn iban_details(currency: &str) -> PaymentDetails {
    PaymentDetails {
        account_holder_name: "Acme Tools GmbH".into(),
        currency: currency.into(),
        kind: "iban".into(),
        details: BTreeMap::from([("iban".to_owned(), IBAN.to_owned())]),
    }
}

/// A supplier whose bank details (an IBAN in `currency`) are sealed as the suppliers function
/// seals them.
pub(crate) async fn payable_supplier(app: &TestApp, org: &Registered, currency: &str) -> String {
    let id = Uuid::new_v4();
    let details = iban_details(currency);
    let sealed = details
        .seal(&shared::testing::settings(&[]).keys.snapshot(), id)
        .unwrap();
    sqlx::query(
        "INSERT INTO suppliers (id, org_id, name, payment_details, payment_summary)
         VALUES ($1, $2::uuid, 'Acme Tools', $3, '{}')",
    )
    .bind(id)
    .bind(&org.org_id)
    .bind(sealed)
    .execute(&app.pool)
    .await
    .unwrap();
    id.to_string()
}

/// A submitted order of 10 × 2.50 EUR.
pub(crate) async fn submitted_order(app: &TestApp, org: &Registered, supplier: &str) -> String {
    let product = product(app, org, &format!("P-{}", Uuid::new_v4()), 0).await;
    let r = app
        .by(org)
        .post(
            "/api/purchase-orders",
            json!({"supplier_id": supplier, "currency": "EUR",
        "lines": [{"product_id": product, "quantity": 10, "unit_cost": "2.50"}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let id = r.body["id"].as_str().unwrap().to_owned();
    let submitted = app
        .by(org)
        .post(&format!("/api/purchase-orders/{id}/submit"), json!({}))
        .await;
    assert_eq!(submitted.body["status"], "submitted");
    id
}

/// Pays with a step-up of the caller's own session, as a frontend does after asking for the
/// password.
pub(crate) async fn pay(app: &TestApp, org: &Registered, order: &str) -> TestResponse {
    app.by(&org.token)
        .stepped_up()
        .post(&format!("/api/purchase-orders/{order}/pay"), json!({}))
        .await
}

/// An organization whose owner connected the fake Wise's first account (profile 42).
pub(crate) async fn org(app: &TestApp, email: &str) -> Registered {
    let org = app.register(email).await;
    connect(app, &org, TOKEN, PROFILE).await;
    org
}

async fn audit_actions(app: &TestApp, order: &str) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT action FROM audit_log WHERE entity_id = $1::uuid AND action LIKE 'purchase_order_payment_%' ORDER BY id",
    )
    .bind(order)
    .fetch_all(&app.pool)
    .await
    .unwrap()
}

async fn shown_payment(app: &TestApp, org: &Registered, order: &str) -> Value {
    app.by(&org.token)
        .get(&format!("/api/purchase-orders/{order}"))
        .await
        .body["payment"]
        .clone()
}

/// A second person of the organization, signed in: an admin unless `role` says otherwise.
async fn colleague(
    app: &TestApp,
    org: &Registered,
    email: &str,
    role: shared::auth::Role,
) -> Registered {
    app.person(&org.org_id, email, role, json!({})).await
}

pub(crate) async fn approve(app: &TestApp, who: &Registered, order: &str) -> TestResponse {
    app.by(&who.token)
        .stepped_up()
        .send(
            Method::POST,
            &format!("/api/purchase-orders/{order}/pay/approve"),
            None,
        )
        .await
}
