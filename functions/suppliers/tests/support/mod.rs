#![allow(dead_code)]

use serde_json::{Value, json};
use shared::testing::TestApp;
use sqlx::PgPool;

pub struct Apps {
    pub auth: TestApp,
    pub suppliers: TestApp,
    pub pool: PgPool,
    pub state: shared::AppState,
}

pub fn apps(pool: PgPool) -> Apps {
    apps_with(pool, &[])
}

/// [`apps`] with setting overrides (`SMTP_URL`, ...).
pub fn apps_with(pool: PgPool, settings: &[(&str, &str)]) -> Apps {
    let state = shared::testing::state_as(pool.clone(), shared::db::Login::Tenant, settings);
    Apps {
        auth: TestApp::new(
            auth::app(shared::testing::state_as(
                pool.clone(),
                shared::db::Login::Auth,
                settings,
            )),
            pool.clone(),
        ),
        suppliers: TestApp::new(suppliers::app(state.clone()), pool.clone()),
        pool,
        state,
    }
}

pub struct Org {
    pub id: String,
    pub token: String,
}

pub async fn org(apps: &Apps, email: &str) -> Org {
    let registered = shared::testing::register(&apps.auth, email).await;
    Org {
        id: registered.org_id,
        token: registered.token,
    }
}

pub async fn reader(apps: &Apps, org: &Org, email: &str) -> String {
    shared::testing::member(&apps.auth, &org.id, email, json!({"suppliers": "read"}))
        .await
        .token
}

pub fn iban_details() -> Value {
    json!({"account_holder_name": "Acme Tools GmbH", "currency": "EUR", "type": "iban",
           "details": {"iban": "DE89 3704 0044 0532 0130 00"}})
}

/// A second valid IBAN (ending 5432).
pub fn other_iban_details() -> Value {
    json!({"account_holder_name": "Acme Tools Ltd", "currency": "GBP", "type": "iban",
           "details": {"iban": "GB82 WEST 1234 5698 7654 32"}})
}

/// `POST /api/suppliers` as `org`'s owner; with a step-up when it sets payment details, as the
/// API requires.
pub async fn create(apps: &Apps, org: &Org, body: Value) -> Value {
    create_as(apps, &org.token, body).await
}

/// [`create`] as the holder of `token`.
pub async fn create_as(apps: &Apps, token: &str, body: Value) -> Value {
    let r = if body.get("payment_details").is_some() {
        apps.suppliers
            .stepped_up(http::Method::POST, "/api/suppliers", Some(body), token)
            .await
    } else {
        apps.suppliers
            .post_with("/api/suppliers", body, token)
            .await
    };
    assert_eq!(r.status, 201, "{}", r.body);
    r.body
}
