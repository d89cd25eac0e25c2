//! Paying a purchase order's supplier through Wise, against a local server playing Wise's API.

use std::collections::BTreeMap;

use crate::support::fake_wise::{FakeWise, PROFILE, PROFILE_B, TOKEN, TOKEN_B};
use crate::support::*;
use http::{Method, StatusCode};
use serde_json::{Value, json};
use shared::domain::{OrgId, SessionId, UserId};
use shared::payment_details::PaymentDetails;
use shared::testing::{Registered, TestApp, TestResponse, assert_problem, register};
use sqlx::PgPool;
use uuid::Uuid;

pub(crate) const IBAN: &str = "DE89370400440532013000";

pub(crate) async fn with_wise(pool: PgPool) -> (TestApp, FakeWise) {
    let wise = FakeWise::start().await;
    let settings = wise.settings();
    let overrides: Vec<(&str, &str)> = settings.iter().map(|(k, v)| (*k, v.as_str())).collect();
    (app_with(pool, &overrides), wise)
}

/// While Wise answers, the payment holds no transaction: each step commits before the next
/// call, so a transaction pooler can lend the server connection to other requests meanwhile.
#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn no_transaction_waits_on_wise(pool: PgPool) {
    let wise = FakeWise::start_watching(pool.clone()).await;
    let settings = wise.settings();
    let overrides: Vec<(&str, &str)> = settings.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let app = app_with(pool, &overrides);
    let org = org(&app, "ann@example.com").await;
    let supplier = payable_supplier(&app, &org, "EUR").await;
    let order = submitted_order(&app, &org, &supplier).await;

    let r = pay(&app, &org, &order).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let book = wise.book();
    assert_eq!(book.calls.len(), 4, "{:?}", book.calls);
    assert_eq!(book.idle_in_transaction, [0, 0, 0, 0], "{:?}", book.calls);
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
    let r = post(
        app,
        org,
        "/api/purchase-orders",
        json!({"supplier_id": supplier, "currency": "EUR",
        "lines": [{"product_id": product, "quantity": 10, "unit_cost": "2.50"}]}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let id = r.body["id"].as_str().unwrap().to_owned();
    let submitted = post(
        app,
        org,
        &format!("/api/purchase-orders/{id}/submit"),
        json!({}),
    )
    .await;
    assert_eq!(submitted.body["status"], "submitted");
    id
}

/// Pays with a step-up of the caller's own session, as a frontend does after asking for the
/// password.
pub(crate) async fn pay(app: &TestApp, org: &Registered, order: &str) -> TestResponse {
    app.stepped_up(
        Method::POST,
        &format!("/api/purchase-orders/{order}/pay"),
        Some(json!({})),
        &org.token,
    )
    .await
}

/// An organization whose owner connected the fake Wise's first account (profile 42).
pub(crate) async fn org(app: &TestApp, email: &str) -> Registered {
    let org = register(app, email).await;
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

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn paying_runs_quote_recipient_transfer_and_funding_and_records_the_payment(pool: PgPool) {
    let (app, wise) = with_wise(pool).await;
    let org = org(&app, "ann@example.com").await;
    let supplier = payable_supplier(&app, &org, "EUR").await;
    let order = submitted_order(&app, &org, &supplier).await;

    let r = pay(&app, &org, &order).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let payment = &r.body["payment"];
    assert_eq!(payment["status"], "processing");
    assert_eq!(payment["amount"], "25.00");
    assert_eq!(payment["currency"], "EUR");
    assert_eq!(payment["source_currency"], "EUR");
    assert_eq!(payment["source_amount"], "25.42");
    assert_eq!(payment["attempt"], 1);
    assert_eq!(payment["wise_transfer_id"], 50_000);
    assert_eq!(payment["failure_message"], Value::Null);

    // The order shows its payment, the list its payment status, the audit log each step.
    let shown = app
        .get_with(&format!("/api/purchase-orders/{order}"), &org.token)
        .await;
    assert_eq!(shown.body["payment"], r.body["payment"]);
    let list = app.get_with("/api/purchase-orders", &org.token).await;
    assert_eq!(list.body["items"][0]["payment_status"], "processing");
    assert_eq!(
        audit_actions(&app, &order).await,
        [
            "purchase_order_payment_started",
            "purchase_order_payment_transfer_recorded",
            "purchase_order_payment_processing"
        ]
    );
    // The ids Wise gave are audited as they are written: the recipient on the supplier, the
    // quote and recipient with the transfer on the order.
    let (created,): (Value,) = sqlx::query_as(
        "SELECT after FROM audit_log WHERE action = 'wise_recipient_created' AND entity = 'supplier' AND entity_id = $1::uuid",
    )
    .bind(&supplier)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        created,
        json!({"wise_profile_id": PROFILE, "wise_recipient_id": 10_000})
    );
    let (recorded,): (Value,) = sqlx::query_as(
        "SELECT after FROM audit_log WHERE action = 'purchase_order_payment_transfer_recorded'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(recorded["wise_transfer_id"], 50_000);
    assert_eq!(recorded["wise_recipient_id"], 10_000);

    let book = wise.book();
    assert_eq!(
        book.calls,
        [
            format!("POST /v3/profiles/{PROFILE}/quotes"),
            "POST /v1/accounts".to_owned(),
            "POST /v1/transfers".to_owned(),
            format!("POST /v3/profiles/{PROFILE}/transfers/50000/payments"),
        ]
    );
    let quote = &book.quotes[0];
    assert_eq!(
        quote["request"],
        json!({"sourceCurrency": "EUR", "targetCurrency": "EUR", "targetAmount": 25.0, "payOut": "BANK_TRANSFER"})
    );
    let recipient = &book.recipients[0];
    assert_eq!(recipient["accountHolderName"], "Acme Tools GmbH");
    assert_eq!(recipient["type"], "iban");
    assert_eq!(recipient["profile"], PROFILE);
    assert_eq!(
        recipient["details"],
        json!({"legalType": "BUSINESS", "iban": IBAN})
    );
    let transfer = &book.transfers[0];
    assert_eq!(transfer["targetAccount"], recipient["id"]);
    assert_eq!(transfer["quoteUuid"], quote["answer"]["id"]);
    assert_eq!(
        transfer["customerTransactionId"],
        payment["customer_transaction_id"]
    );
    let reference = transfer["reference"].as_str().unwrap();
    assert!(
        reference.len() == 10 && order.to_uppercase().starts_with(&reference[3..]),
        "{reference}"
    );
    assert_eq!(transfer["status"], "processing");
    assert_eq!(recorded["wise_quote_id"], quote["answer"]["id"]);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn an_order_being_paid_or_paid_is_not_paid_again_nor_cancelled(pool: PgPool) {
    let (app, wise) = with_wise(pool).await;
    let org = org(&app, "ann@example.com").await;
    let supplier = payable_supplier(&app, &org, "EUR").await;
    let order = submitted_order(&app, &org, &supplier).await;
    assert_eq!(pay(&app, &org, &order).await.status, StatusCode::OK);

    assert_problem(
        &pay(&app, &org, &order).await,
        StatusCode::CONFLICT,
        "payment_in_progress",
    );
    let cancel = post(
        &app,
        &org,
        &format!("/api/purchase-orders/{order}/cancel"),
        json!({}),
    )
    .await;
    assert_problem(&cancel, StatusCode::CONFLICT, "payment_in_progress");

    sqlx::query("UPDATE purchase_order_payments SET status = 'paid'")
        .execute(&app.pool)
        .await
        .unwrap();
    assert_problem(
        &pay(&app, &org, &order).await,
        StatusCode::CONFLICT,
        "already_paid",
    );
    assert_eq!(wise.book().transfer_requests.len(), 1);
    assert_eq!(wise.book().fundings.len(), 1);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn two_pays_at_once_make_one_transfer(pool: PgPool) {
    let (app, wise) = with_wise(pool).await;
    let org = org(&app, "ann@example.com").await;
    let supplier = payable_supplier(&app, &org, "EUR").await;
    let order = submitted_order(&app, &org, &supplier).await;
    let (a, b) = tokio::join!(pay(&app, &org, &order), pay(&app, &org, &order));
    let mut statuses = [a.status, b.status];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::OK, StatusCode::CONFLICT]);
    let refused = if a.status == StatusCode::CONFLICT {
        &a
    } else {
        &b
    };
    assert_problem(refused, StatusCode::CONFLICT, "payment_in_progress");
    assert_eq!(wise.book().transfer_requests.len(), 1);
    assert_eq!(wise.book().fundings.len(), 1);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_run_cut_off_while_pending_is_taken_over_after_two_minutes(pool: PgPool) {
    let (app, wise) = with_wise(pool).await;
    let org = org(&app, "ann@example.com").await;
    let supplier = payable_supplier(&app, &org, "EUR").await;
    let order = submitted_order(&app, &org, &supplier).await;
    // A run that made the transfer at Wise, then stopped before recording anything more.
    wise.book().lose_next_transfer_answer = true;
    pay(&app, &org, &order).await;
    let set_pending = |age: &'static str| {
        sqlx::query(
            "UPDATE purchase_order_payments SET status = 'pending', started_at = now() - $1::interval",
        )
        .bind(age)
        .execute(&app.pool)
    };
    set_pending("10 seconds").await.unwrap();
    assert_problem(
        &pay(&app, &org, &order).await,
        StatusCode::CONFLICT,
        "payment_in_progress",
    );
    set_pending("3 minutes").await.unwrap();
    let taken_over = pay(&app, &org, &order).await;
    assert_eq!(taken_over.status, StatusCode::OK, "{}", taken_over.body);
    assert_eq!(taken_over.body["payment"]["status"], "processing");
    assert_eq!(wise.book().transfers.len(), 1);
    assert_eq!(wise.book().fundings.len(), 1);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_retry_after_a_lost_answer_reuses_the_customer_transaction_id_and_pays_once(
    pool: PgPool,
) {
    let (app, wise) = with_wise(pool).await;
    let org = org(&app, "ann@example.com").await;
    let supplier = payable_supplier(&app, &org, "EUR").await;
    let order = submitted_order(&app, &org, &supplier).await;
    // Wise makes the transfer but the answer never arrives intact.
    wise.book().lose_next_transfer_answer = true;

    let failed = pay(&app, &org, &order).await;
    assert_problem(&failed, StatusCode::BAD_GATEWAY, "wise_error");
    assert!(
        failed.body["detail"]
            .as_str()
            .unwrap()
            .contains("Something went wrong"),
        "{}",
        failed.body
    );
    let shown = app
        .get_with(&format!("/api/purchase-orders/{order}"), &org.token)
        .await;
    let payment = &shown.body["payment"];
    assert_eq!(payment["status"], "failed");
    assert_eq!(payment["failure_code"], "internal.error");
    assert_eq!(
        payment["failure_message"],
        "Something went wrong, please try again"
    );
    assert_eq!(payment["wise_transfer_id"], Value::Null);
    let first_id = payment["customer_transaction_id"].clone();

    let retried = pay(&app, &org, &order).await;
    assert_eq!(retried.status, StatusCode::OK, "{}", retried.body);
    assert_eq!(retried.body["payment"]["status"], "processing");
    assert_eq!(retried.body["payment"]["attempt"], 1);
    assert_eq!(retried.body["payment"]["customer_transaction_id"], first_id);
    assert_eq!(retried.body["payment"]["failure_message"], Value::Null);

    assert_eq!(
        audit_actions(&app, &order).await,
        [
            "purchase_order_payment_started",
            "purchase_order_payment_failed",
            "purchase_order_payment_started",
            "purchase_order_payment_transfer_recorded",
            "purchase_order_payment_processing"
        ]
    );
    let book = wise.book();
    let sent: Vec<&Value> = book
        .transfer_requests
        .iter()
        .map(|r| &r["customerTransactionId"])
        .collect();
    assert_eq!(sent, [&first_id, &first_id]);
    assert_eq!(book.transfers.len(), 1, "one transfer only");
    assert_eq!(book.fundings, [50_000]);
    assert_eq!(retried.body["payment"]["wise_transfer_id"], 50_000);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_refused_funding_fails_the_payment_and_the_retry_funds_the_same_transfer(pool: PgPool) {
    let (app, wise) = with_wise(pool).await;
    let org = org(&app, "ann@example.com").await;
    let supplier = payable_supplier(&app, &org, "EUR").await;
    let order = submitted_order(&app, &org, &supplier).await;
    wise.book().reject_next_funding = Some("transfer.insufficient_funds".into());

    let failed = pay(&app, &org, &order).await;
    assert_problem(&failed, StatusCode::BAD_GATEWAY, "wise_error");
    let shown = app
        .get_with(&format!("/api/purchase-orders/{order}"), &org.token)
        .await;
    assert_eq!(shown.body["payment"]["status"], "failed");
    assert_eq!(
        shown.body["payment"]["failure_code"],
        "transfer.insufficient_funds"
    );
    assert_eq!(shown.body["payment"]["wise_transfer_id"], 50_000);
    assert_eq!(
        shown.body["payment"]["wise_state"],
        "incoming_payment_waiting"
    );

    let retried = pay(&app, &org, &order).await;
    assert_eq!(retried.status, StatusCode::OK, "{}", retried.body);
    assert_eq!(retried.body["payment"]["status"], "processing");
    let book = wise.book();
    assert_eq!(
        book.quotes.len(),
        1,
        "the known transfer is not quoted again"
    );
    assert_eq!(book.transfers.len(), 1);
    assert_eq!(book.fundings, [50_000, 50_000]);
    assert_eq!(
        book.calls.last().unwrap(),
        &format!("POST /v3/profiles/{PROFILE}/transfers/50000/payments")
    );
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn wise_error_messages_are_recorded_and_nothing_is_sent(pool: PgPool) {
    let (app, wise) = with_wise(pool).await;
    let org = org(&app, "ann@example.com").await;
    let supplier = payable_supplier(&app, &org, "EUR").await;
    let order = submitted_order(&app, &org, &supplier).await;
    wise.book().fail_next_quote = Some((
        StatusCode::UNPROCESSABLE_ENTITY,
        json!({"errors": [{"code": "error.route.not.supported", "message": "We don't support this currency route", "path": "targetCurrency"}]}),
    ));

    let r = pay(&app, &org, &order).await;
    assert_problem(&r, StatusCode::BAD_GATEWAY, "wise_error");
    assert_eq!(
        r.body["detail"],
        "Wise refused the payment: We don't support this currency route"
    );
    let shown = app
        .get_with(&format!("/api/purchase-orders/{order}"), &org.token)
        .await;
    assert_eq!(
        shown.body["payment"]["failure_code"],
        "error.route.not.supported"
    );
    assert!(wise.book().transfer_requests.is_empty());
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn after_wise_cancels_a_transfer_the_next_pay_starts_a_new_one(pool: PgPool) {
    let (app, wise) = with_wise(pool).await;
    let org = org(&app, "ann@example.com").await;
    let supplier = payable_supplier(&app, &org, "EUR").await;
    let order = submitted_order(&app, &org, &supplier).await;
    let first = pay(&app, &org, &order).await;
    // What a transfers#state-change webhook records when Wise cancels the transfer.
    sqlx::query("UPDATE purchase_order_payments SET status = 'cancelled', wise_state = 'cancelled', wise_state_at = now()")
        .execute(&app.pool)
        .await
        .unwrap();

    let second = pay(&app, &org, &order).await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.body);
    assert_eq!(second.body["payment"]["attempt"], 2);
    assert_ne!(
        second.body["payment"]["customer_transaction_id"],
        first.body["payment"]["customer_transaction_id"]
    );
    assert_eq!(second.body["payment"]["wise_transfer_id"], 50_001);
    assert_eq!(second.body["payment"]["wise_state_at"], Value::Null);
    let book = wise.book();
    assert_eq!(book.transfers.len(), 2);
    assert_eq!(book.recipients.len(), 1, "the recipient account is reused");
}

/// Records a transfer state as a `transfers#state-change` webhook would (status, state, time).
async fn webhook_recorded(app: &TestApp, status: &str, state: &str) {
    sqlx::query(
        "UPDATE purchase_order_payments SET status = $1::payment_status, wise_state = $2, wise_state_at = now()",
    )
    .bind(status)
    .bind(state)
    .execute(&app.pool)
    .await
    .unwrap();
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_bounced_transfer_blocks_paying_and_cancelling_until_wise_refunds_it(pool: PgPool) {
    let (app, wise) = with_wise(pool).await;
    let org = org(&app, "ann@example.com").await;
    let supplier = payable_supplier(&app, &org, "EUR").await;
    let order = submitted_order(&app, &org, &supplier).await;
    assert_eq!(pay(&app, &org, &order).await.status, StatusCode::OK);

    // The supplier's bank returned the money: Wise may still resend this same transfer.
    webhook_recorded(&app, "failed", "bounced_back").await;
    let r = pay(&app, &org, &order).await;
    assert_problem(&r, StatusCode::CONFLICT, "payment_bounced");
    let cancel = post(
        &app,
        &org,
        &format!("/api/purchase-orders/{order}/cancel"),
        json!({}),
    )
    .await;
    assert_problem(&cancel, StatusCode::CONFLICT, "payment_bounced");
    assert_eq!(wise.book().transfer_requests.len(), 1, "no second transfer");

    // Charged back: settled with Wise, never by a second transfer from here.
    webhook_recorded(&app, "failed", "charged_back").await;
    assert_problem(
        &pay(&app, &org, &order).await,
        StatusCode::CONFLICT,
        "payment_charged_back",
    );

    // Once Wise refunds it, the transfer is closed for good and a new attempt may start.
    webhook_recorded(&app, "failed", "funds_refunded").await;
    let again = pay(&app, &org, &order).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    assert_eq!(again.body["payment"]["attempt"], 2);
    assert_eq!(again.body["payment"]["wise_transfer_id"], 50_001);
    assert_eq!(wise.book().transfers.len(), 2);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_new_wise_profile_starts_a_new_attempt_only_once_the_old_transfer_is_closed(
    pool: PgPool,
) {
    let (app, wise) = with_wise(pool).await;
    let org = org(&app, "ann@example.com").await;
    let supplier = payable_supplier(&app, &org, "EUR").await;
    let order = submitted_order(&app, &org, &supplier).await;
    // A payment made from another profile, whose funding that profile's Wise refused.
    wise.book().reject_next_funding = Some("transfer.insufficient_funds".into());
    assert_problem(
        &pay(&app, &org, &order).await,
        StatusCode::BAD_GATEWAY,
        "wise_error",
    );
    sqlx::query("UPDATE purchase_order_payments SET wise_profile_id = $1")
        .bind(PROFILE + 1)
        .execute(&app.pool)
        .await
        .unwrap();

    // Its transfer is still open at the other profile and could yet be funded there.
    let r = pay(&app, &org, &order).await;
    assert_problem(&r, StatusCode::CONFLICT, "wise_profile_changed");
    assert_eq!(wise.book().transfer_requests.len(), 1);

    // Cancelled at Wise (the webhook records it): now a new attempt from this profile.
    webhook_recorded(&app, "cancelled", "cancelled").await;
    let again = pay(&app, &org, &order).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    assert_eq!(again.body["payment"]["attempt"], 2);
    assert_eq!(again.body["payment"]["wise_transfer_id"], 50_001);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_new_wise_profile_starts_a_new_attempt_when_the_old_one_made_no_transfer(pool: PgPool) {
    let (app, wise) = with_wise(pool).await;
    let org = org(&app, "ann@example.com").await;
    let supplier = payable_supplier(&app, &org, "EUR").await;
    let order = submitted_order(&app, &org, &supplier).await;
    wise.book().fail_next_quote = Some((
        StatusCode::UNPROCESSABLE_ENTITY,
        json!({"errors": [{"code": "error.route.not.supported", "message": "Not supported"}]}),
    ));
    assert_problem(
        &pay(&app, &org, &order).await,
        StatusCode::BAD_GATEWAY,
        "wise_error",
    );
    sqlx::query("UPDATE purchase_order_payments SET wise_profile_id = $1")
        .bind(PROFILE + 1)
        .execute(&app.pool)
        .await
        .unwrap();
    let again = pay(&app, &org, &order).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    assert_eq!(again.body["payment"]["attempt"], 2);
    assert_eq!(wise.book().transfers.len(), 1);
}

async fn pay_with_key(app: &TestApp, org: &Registered, order: &str, key: &str) -> TestResponse {
    let path = format!("/api/purchase-orders/{order}/pay");
    let request = http::Request::post(&path)
        .header("authorization", format!("Bearer {}", org.token))
        .header(
            "x-step-up-token",
            shared::testing::step_up_token(&org.token, &format!("POST {path}")),
        )
        .header("idempotency-key", key)
        .body(axum::body::Body::empty())
        .unwrap();
    shared::testing::send(&app.router, request).await
}

async fn shown_payment(app: &TestApp, org: &Registered, order: &str) -> Value {
    app.get_with(&format!("/api/purchase-orders/{order}"), &org.token)
        .await
        .body["payment"]
        .clone()
}

/// Makes the run of a `pending` payment look older than the takeover delay.
async fn age_pending_run(app: &TestApp) {
    sqlx::query("UPDATE purchase_order_payments SET started_at = now() - interval '3 minutes'")
        .execute(&app.pool)
        .await
        .unwrap();
}

/// What an unknown outcome must look like: 502 `wise_unreachable`, the payment still pending
/// with its transfer, no failure recorded, and the order neither payable nor cancellable.
async fn assert_unconfirmed(app: &TestApp, org: &Registered, order: &str, r: &TestResponse) {
    assert_problem(r, StatusCode::BAD_GATEWAY, "wise_unreachable");
    let detail = r.body["detail"].as_str().unwrap();
    assert!(
        detail.contains("stays pending") && detail.contains("50000"),
        "{detail}"
    );
    let payment = shown_payment(app, org, order).await;
    assert_eq!(payment["status"], "pending", "{payment}");
    assert_eq!(payment["wise_transfer_id"], 50_000);
    assert_eq!(payment["failure_code"], Value::Null);
    let cancel = post(
        app,
        org,
        &format!("/api/purchase-orders/{order}/cancel"),
        json!({}),
    )
    .await;
    assert_problem(&cancel, StatusCode::CONFLICT, "payment_in_progress");
    assert_problem(
        &pay(app, org, order).await,
        StatusCode::CONFLICT,
        "payment_in_progress",
    );
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_funding_whose_answer_is_lost_leaves_the_payment_pending_until_it_is_checked(
    pool: PgPool,
) {
    let (app, wise) = with_wise(pool).await;
    let org = org(&app, "ann@example.com").await;
    let supplier = payable_supplier(&app, &org, "EUR").await;
    let order = submitted_order(&app, &org, &supplier).await;
    // Wise funds the transfer, but its gateway answers 502.
    wise.book().lose_next_funding_answer = true;

    let r = pay(&app, &org, &order).await;
    assert_unconfirmed(&app, &org, &order, &r).await;

    // The takeover looks at the transfer first: funded already, so it is not funded again.
    age_pending_run(&app).await;
    let checked = pay(&app, &org, &order).await;
    assert_eq!(checked.status, StatusCode::OK, "{}", checked.body);
    assert_eq!(checked.body["payment"]["status"], "processing");
    assert_eq!(checked.body["payment"]["attempt"], 1);
    assert_eq!(
        audit_actions(&app, &order).await,
        [
            "purchase_order_payment_started",
            "purchase_order_payment_transfer_recorded",
            "purchase_order_payment_unconfirmed",
            "purchase_order_payment_started",
            "purchase_order_payment_processing"
        ]
    );
    let book = wise.book();
    assert_eq!(book.transfers.len(), 1);
    assert_eq!(book.fundings, [50_000], "funded once");
    assert_eq!(book.calls.last().unwrap(), "GET /v1/transfers/50000");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_funding_answer_that_never_comes_leaves_the_payment_pending(pool: PgPool) {
    let (app, wise) = with_wise(pool).await;
    let org = org(&app, "ann@example.com").await;
    let supplier = payable_supplier(&app, &org, "EUR").await;
    let order = submitted_order(&app, &org, &supplier).await;
    // Wise funds the transfer but answers after the client's 10 s request timeout.
    wise.book().stall_next_funding = Some(std::time::Duration::from_secs(12));

    let r = pay(&app, &org, &order).await;
    assert_unconfirmed(&app, &org, &order, &r).await;
    assert!(
        r.body["detail"]
            .as_str()
            .unwrap()
            .contains("did not answer in time"),
        "{}",
        r.body
    );
    assert_eq!(wise.book().fundings, [50_000]);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn an_idempotency_key_is_freed_by_every_error_after_its_claim(pool: PgPool) {
    let (app, wise) = with_wise(pool).await;
    let org = org(&app, "ann@example.com").await;
    let supplier = payable_supplier(&app, &org, "EUR").await;

    // An unknown outcome: a retry with the key runs again (and finds the payment pending)...
    let order = submitted_order(&app, &org, &supplier).await;
    wise.book().lose_next_funding_answer = true;
    let first = pay_with_key(&app, &org, &order, "pay-1").await;
    assert_problem(&first, StatusCode::BAD_GATEWAY, "wise_unreachable");
    let retried = pay_with_key(&app, &org, &order, "pay-1").await;
    assert_problem(&retried, StatusCode::CONFLICT, "payment_in_progress");
    // ...and once the outcome is checked, the key replays that answer.
    age_pending_run(&app).await;
    let checked = pay_with_key(&app, &org, &order, "pay-1").await;
    assert_eq!(checked.status, StatusCode::OK, "{}", checked.body);
    let replayed = pay_with_key(&app, &org, &order, "pay-1").await;
    assert_eq!(replayed.headers["idempotent-replayed"], "true");
    assert_eq!(replayed.body, checked.body);

    // A failure of our own after the claim (here the database refuses what Wise answered).
    let order = submitted_order(&app, &org, &supplier).await;
    wise.book().next_transfer_status = Some("x".repeat(101));
    let failed = pay_with_key(&app, &org, &order, "pay-2").await;
    assert_problem(&failed, StatusCode::INTERNAL_SERVER_ERROR, "internal_error");
    let retried = pay_with_key(&app, &org, &order, "pay-2").await;
    assert_problem(&retried, StatusCode::CONFLICT, "payment_in_progress");

    // A refusal, as before.
    let order = submitted_order(&app, &org, &supplier).await;
    wise.book().reject_next_funding = Some("transfer.insufficient_funds".into());
    let refused = pay_with_key(&app, &org, &order, "pay-3").await;
    assert_problem(&refused, StatusCode::BAD_GATEWAY, "wise_error");
    let retried = pay_with_key(&app, &org, &order, "pay-3").await;
    assert_eq!(retried.status, StatusCode::OK, "{}", retried.body);

    let keys: Vec<String> =
        sqlx::query_scalar("SELECT key FROM idempotency_keys WHERE response IS NULL")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert!(keys.is_empty(), "no key is left claimed: {keys:?}");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_state_read_from_wise_replaces_the_webhook_time_with_null(pool: PgPool) {
    let (app, wise) = with_wise(pool).await;
    let org = org(&app, "ann@example.com").await;
    let supplier = payable_supplier(&app, &org, "EUR").await;
    let order = submitted_order(&app, &org, &supplier).await;
    wise.book().reject_next_funding = Some("transfer.insufficient_funds".into());
    assert_problem(
        &pay(&app, &org, &order).await,
        StatusCode::BAD_GATEWAY,
        "wise_error",
    );
    // A webhook recorded the waiting state at its time; then the transfer was funded.
    sqlx::query("UPDATE purchase_order_payments SET wise_state_at = now() - interval '1 hour'")
        .execute(&app.pool)
        .await
        .unwrap();
    wise.book().transfers[0]["status"] = json!("processing");

    let r = pay(&app, &org, &order).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let payment = &r.body["payment"];
    assert_eq!(payment["wise_state"], "processing");
    // Not the waiting state's time: a later event is then ordered by state, not by a time
    // that belongs to another state.
    assert_eq!(payment["wise_state_at"], Value::Null);
}

async fn wise_ids(app: &TestApp) -> (Option<Uuid>, Option<i64>, Option<i64>) {
    sqlx::query_as(
        "SELECT wise_quote_id, wise_recipient_id, wise_transfer_id FROM purchase_order_payments",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap()
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_retry_records_the_quote_and_recipient_of_the_transfer_wise_made(pool: PgPool) {
    let (app, wise) = with_wise(pool).await;
    let org = org(&app, "ann@example.com").await;
    let supplier = payable_supplier(&app, &org, "EUR").await;
    let order = submitted_order(&app, &org, &supplier).await;
    // Wise makes the transfer, its answer is lost, and the stored recipient is gone by the retry
    // (say the supplier's details were edited), so the retry sends a new quote and recipient.
    wise.book().lose_next_transfer_answer = true;
    assert_problem(
        &pay(&app, &org, &order).await,
        StatusCode::BAD_GATEWAY,
        "wise_error",
    );
    sqlx::query("DELETE FROM wise_recipients")
        .execute(&app.pool)
        .await
        .unwrap();

    let retried = pay(&app, &org, &order).await;
    assert_eq!(retried.status, StatusCode::OK, "{}", retried.body);
    let (quote, recipient, transfer) = wise_ids(&app).await;
    let book = wise.book();
    assert_eq!((book.quotes.len(), book.recipients.len()), (2, 2));
    assert_eq!(book.transfer_requests[1]["targetAccount"], 10_001);
    // Wise answered with the transfer made the first time: its quote and recipient are recorded.
    let made = &book.transfers[0];
    assert_eq!(json!(quote), made["quoteUuid"]);
    assert_eq!(json!(recipient), made["targetAccount"]);
    assert_eq!((recipient, transfer), (Some(10_000), Some(50_000)));
    assert_eq!(retried.body["payment"]["source_amount"], "25.42");
}

async fn stored_recipients(app: &TestApp) -> Vec<i64> {
    sqlx::query_scalar("SELECT wise_recipient_id FROM wise_recipients ORDER BY created_at")
        .fetch_all(&app.pool)
        .await
        .unwrap()
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_stored_recipient_is_dropped_only_when_wise_refuses_that_recipient(pool: PgPool) {
    let (app, wise) = with_wise(pool).await;
    let org = org(&app, "ann@example.com").await;
    let supplier = payable_supplier(&app, &org, "EUR").await;
    let a = submitted_order(&app, &org, &supplier).await;
    assert_eq!(pay(&app, &org, &a).await.status, StatusCode::OK);
    assert_eq!(stored_recipients(&app).await, [10_000]);

    // A refusal about something else (a limit) keeps the recipient.
    let b = submitted_order(&app, &org, &supplier).await;
    wise.book().fail_next_transfer = Some((
        StatusCode::UNPROCESSABLE_ENTITY,
        json!({"errors": [{"code": "error.transfer.limit", "message": "This transfer is over your limit"}]}),
    ));
    assert_problem(
        &pay(&app, &org, &b).await,
        StatusCode::BAD_GATEWAY,
        "wise_error",
    );
    assert_eq!(stored_recipients(&app).await, [10_000]);
    // So does an outage.
    wise.book().fail_next_transfer = Some((
        StatusCode::SERVICE_UNAVAILABLE,
        json!({"errors": [{"code": "service.unavailable", "message": "Try later", "path": "targetAccount"}]}),
    ));
    assert_problem(
        &pay(&app, &org, &b).await,
        StatusCode::BAD_GATEWAY,
        "wise_error",
    );
    assert_eq!(stored_recipients(&app).await, [10_000]);

    // Deactivated at Wise: Wise refuses the target account, so it is forgotten (and audited),
    // and the retry creates a new one.
    wise.book().deactivated_recipients.push(10_000);
    let r = pay(&app, &org, &b).await;
    assert_problem(&r, StatusCode::BAD_GATEWAY, "wise_error");
    assert!(stored_recipients(&app).await.is_empty());
    let removed: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE action = 'wise_recipient_removed' AND before->>'wise_recipient_id' = '10000'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(removed, 1);
    let retried = pay(&app, &org, &b).await;
    assert_eq!(retried.status, StatusCode::OK, "{}", retried.body);
    assert_eq!(stored_recipients(&app).await, [10_001]);
    assert_eq!(wise.book().transfers.len(), 2);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn the_supplier_recipient_is_created_once_and_an_idempotent_retry_replays(pool: PgPool) {
    let (app, wise) = with_wise(pool).await;
    let org = org(&app, "ann@example.com").await;
    let supplier = payable_supplier(&app, &org, "EUR").await;
    let a = submitted_order(&app, &org, &supplier).await;
    let b = submitted_order(&app, &org, &supplier).await;
    assert_eq!(pay(&app, &org, &a).await.status, StatusCode::OK);

    let send = || {
        // A client that always sends a JSON Content-Type, here with no body.
        let path = format!("/api/purchase-orders/{b}/pay");
        let request = http::Request::post(&path)
            .header("authorization", format!("Bearer {}", org.token))
            .header(
                "x-step-up-token",
                shared::testing::step_up_token(&org.token, &format!("POST {path}")),
            )
            .header("content-type", "application/json")
            .header("idempotency-key", "pay-b-once")
            .body(axum::body::Body::empty())
            .unwrap();
        shared::testing::send(&app.router, request)
    };
    let first = send().await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    let again = send().await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.headers["idempotent-replayed"], "true");
    assert_eq!(again.body, first.body);

    let book = wise.book();
    assert_eq!(book.recipients.len(), 1);
    assert_eq!(book.transfers.len(), 2);
    assert_eq!(book.fundings.len(), 2);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn orders_that_cannot_be_paid_are_refused_before_wise_is_called(pool: PgPool) {
    let (app, wise) = with_wise(pool).await;
    let org = org(&app, "ann@example.com").await;
    let payable = payable_supplier(&app, &org, "EUR").await;
    let product = product(&app, &org, "BOLT", 0).await;

    let draft = post(
        &app,
        &org,
        "/api/purchase-orders",
        json!({"supplier_id": payable, "currency": "EUR",
        "lines": [{"product_id": product, "quantity": 1, "unit_cost": "1.00"}]}),
    )
    .await;
    let draft = draft.body["id"].as_str().unwrap();
    assert_problem(
        &pay(&app, &org, draft).await,
        StatusCode::CONFLICT,
        "invalid_status",
    );

    let without_details = supplier(&app, &org).await;
    let order = submitted_order(&app, &org, &without_details).await;
    assert_problem(
        &pay(&app, &org, &order).await,
        StatusCode::CONFLICT,
        "missing_payment_details",
    );

    let in_pounds = payable_supplier(&app, &org, "GBP").await;
    let order = submitted_order(&app, &org, &in_pounds).await;
    let r = pay(&app, &org, &order).await;
    assert_problem(&r, StatusCode::CONFLICT, "currency_mismatch");

    let bad = app
        .stepped_up(
            Method::POST,
            &format!("/api/purchase-orders/{order}/pay"),
            Some(json!({"source_currency": "euro"})),
            &org.token,
        )
        .await;
    assert_problem(&bad, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");

    assert!(wise.book().calls.is_empty());
    let payments: i64 = sqlx::query_scalar("SELECT count(*) FROM purchase_order_payments")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(payments, 0);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn another_organizations_order_is_404(pool: PgPool) {
    let (app, wise) = with_wise(pool).await;
    let a = org(&app, "a@example.com").await;
    let b = register(&app, "b@example.com").await;
    connect(&app, &b, TOKEN_B, PROFILE_B).await;
    let supplier = payable_supplier(&app, &b, "EUR").await;
    let theirs = submitted_order(&app, &b, &supplier).await;
    assert_problem(
        &pay(&app, &a, &theirs).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert!(wise.book().calls.is_empty());
}

/// The stranger of issue 18: anyone may register, add a supplier with their own IBAN, raise an
/// order and pay it. Without their own Wise connection it ends at 409, and Wise is never asked.
#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_stranger_without_a_wise_connection_cannot_pay(pool: PgPool) {
    let (app, wise) = with_wise(pool).await;
    // A legitimate tenant has connected its Wise account.
    let _tenant = org(&app, "ann@example.com").await;
    let stranger = register(&app, "mallory@example.com").await;
    let supplier = payable_supplier(&app, &stranger, "EUR").await;
    let order = submitted_order(&app, &stranger, &supplier).await;
    let r = pay(&app, &stranger, &order).await;
    assert_problem(&r, StatusCode::CONFLICT, "wise_not_connected");
    assert!(wise.book().calls.is_empty(), "{:?}", wise.book().calls);
    let payments: i64 = sqlx::query_scalar("SELECT count(*) FROM purchase_order_payments")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(payments, 0);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn paying_needs_write_access_to_purchasing(pool: PgPool) {
    let (app, wise) = with_wise(pool).await;
    let org = org(&app, "ann@example.com").await;
    let supplier = payable_supplier(&app, &org, "EUR").await;
    let order = submitted_order(&app, &org, &supplier).await;
    let path = format!("/api/purchase-orders/{order}/pay");
    let anonymous = app.request(Method::POST, &path, None, None).await;
    assert_problem(&anonymous, StatusCode::UNAUTHORIZED, "missing_token");

    let reader = shared::testing::member(
        &app,
        &org.org_id,
        "r@example.com",
        json!({"purchasing": "read"}),
    )
    .await
    .token;
    let reader = reader.as_str();
    let r = app.post_with(&path, json!({}), reader).await;
    assert_problem(&r, StatusCode::FORBIDDEN, "missing_permission");
    assert!(wise.book().calls.is_empty());
}

/// A second person of the organization, signed in: an admin unless `role` says otherwise.
async fn colleague(
    app: &TestApp,
    org: &Registered,
    email: &str,
    role: shared::auth::Role,
) -> Registered {
    shared::testing::person(app, &org.org_id, email, role, json!({})).await
}

async fn set_threshold(app: &TestApp, owner: &Registered, amount: Option<&str>) {
    let r = app
        .stepped_up(
            Method::PUT,
            "/api/payments/policy",
            Some(json!({"approval_threshold": amount, "approval_currency": "EUR"})),
            &owner.token,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}

pub(crate) async fn approve(app: &TestApp, who: &Registered, order: &str) -> TestResponse {
    app.stepped_up(
        Method::POST,
        &format!("/api/purchase-orders/{order}/pay/approve"),
        None,
        &who.token,
    )
    .await
}

/// Two organizations, each connected to its own Wise account through the API, pay their own
/// suppliers: every call with one organization's token names only its own profile, and each
/// payment records the profile it was made from.
#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn each_organization_pays_from_its_own_wise_profile(pool: PgPool) {
    let (app, wise) = with_wise(pool).await;
    let a = register(&app, "ann@example.com").await;
    let b = register(&app, "bob@example.com").await;
    for (org, token, profile) in [(&a, TOKEN, PROFILE), (&b, TOKEN_B, PROFILE_B)] {
        let r = app
            .stepped_up(
                Method::PUT,
                "/api/payments/wise",
                Some(json!({"api_token": token, "profile_id": profile})),
                &org.token,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(r.body["profile_id"], profile);
        assert_eq!(r.body["token_ending"], &token[token.len() - 4..]);
        assert!(!r.body.to_string().contains(token));
    }
    let supplier_a = payable_supplier(&app, &a, "EUR").await;
    let supplier_b = payable_supplier(&app, &b, "EUR").await;
    let order_a = submitted_order(&app, &a, &supplier_a).await;
    let order_b = submitted_order(&app, &b, &supplier_b).await;
    assert_eq!(pay(&app, &a, &order_a).await.status, StatusCode::OK);
    assert_eq!(pay(&app, &b, &order_b).await.status, StatusCode::OK);

    {
        let book = wise.book();
        for (call, token) in book.calls.iter().zip(&book.tokens) {
            let (own, other) = match token.as_str() {
                TOKEN => (PROFILE, PROFILE_B),
                TOKEN_B => (PROFILE_B, PROFILE),
                _ => panic!("a call without a connected token: {call}"),
            };
            assert!(!call.contains(&format!("/{other}/")), "{token}: {call}");
            if call.contains("/profiles/") {
                assert!(call.contains(&format!("/{own}/")), "{token}: {call}");
            }
        }
        let recipient_profiles: Vec<Value> = book
            .recipients
            .iter()
            .map(|r| r["profile"].clone())
            .collect();
        assert_eq!(recipient_profiles, [json!(PROFILE), json!(PROFILE_B)]);
        let transfer_profiles: Vec<Value> = book
            .transfers
            .iter()
            .map(|t| t["profile"].clone())
            .collect();
        assert_eq!(transfer_profiles, [json!(PROFILE), json!(PROFILE_B)]);
    }
    let recorded: Vec<(String, i64)> = sqlx::query_as(
        "SELECT org_id::text, wise_profile_id FROM purchase_order_payments ORDER BY wise_profile_id",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        recorded,
        [(a.org_id.clone(), PROFILE), (b.org_id.clone(), PROFILE_B)]
    );
    // The token is stored sealed, never as sent.
    let stored: Vec<Vec<u8>> = sqlx::query_scalar("SELECT api_token FROM wise_connections")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    for sealed in stored {
        assert!(!String::from_utf8_lossy(&sealed).contains("wise-token"));
    }
}

/// Connecting checks the token and the profile with Wise and stores nothing when either is
/// wrong; listing profiles stores nothing; only an owner with a step-up may connect; the token
/// never appears in an answer or the audit log; disconnecting stops payments.
#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn connecting_wise_checks_the_token_and_profile_and_only_owners_may(pool: PgPool) {
    let (app, wise) = with_wise(pool).await;
    let owner = register(&app, "ann@example.com").await;
    let connect = |body: Value, who: &Registered| {
        let token = who.token.clone();
        let app = &app;
        async move {
            app.stepped_up(Method::PUT, "/api/payments/wise", Some(body), &token)
                .await
        }
    };
    let stored = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM wise_connections")
            .fetch_one(&app.pool)
            .await
            .unwrap()
    };

    let rejected = connect(
        json!({"api_token": "not-a-wise-token", "profile_id": PROFILE}),
        &owner,
    )
    .await;
    assert_problem(
        &rejected,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    assert_eq!(rejected.body["errors"][0]["field"], "api_token");
    assert!(
        rejected.body.to_string().contains("Invalid token"),
        "{}",
        rejected.body
    );
    let foreign = connect(json!({"api_token": TOKEN, "profile_id": PROFILE_B}), &owner).await;
    assert_problem(
        &foreign,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    assert_eq!(foreign.body["errors"][0]["field"], "profile_id");
    assert_eq!(stored().await, 0);

    let listed = app
        .stepped_up(
            Method::POST,
            "/api/payments/wise/profiles",
            Some(json!({"api_token": TOKEN})),
            &owner.token,
        )
        .await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    assert_eq!(
        listed.body["profiles"],
        json!([{"id": PROFILE, "type": "BUSINESS", "name": "Acme Tools Ltd"},
               {"id": 43, "type": "PERSONAL", "name": "Ann Owner"}])
    );
    assert_eq!(stored().await, 0);

    // Without a step-up, or as an admin who is not an owner: refused.
    let plain = app
        .request(
            Method::PUT,
            "/api/payments/wise",
            Some(json!({"api_token": TOKEN, "profile_id": PROFILE})),
            Some(&owner.token),
        )
        .await;
    assert_problem(&plain, StatusCode::UNAUTHORIZED, "step_up_required");
    let admin = colleague(&app, &owner, "adam@example.com", shared::auth::Role::Admin).await;
    let by_admin = connect(json!({"api_token": TOKEN, "profile_id": PROFILE}), &admin).await;
    assert_problem(&by_admin, StatusCode::FORBIDDEN, "owner_required");
    assert_eq!(stored().await, 0);

    let connected = connect(json!({"api_token": TOKEN, "profile_id": PROFILE}), &owner).await;
    assert_eq!(connected.status, StatusCode::OK, "{}", connected.body);
    assert_eq!(connected.body["profile_name"], "Acme Tools Ltd");
    let shown = app.get_with("/api/payments/wise", &admin.token).await;
    assert_eq!(shown.body["connection"]["token_ending"], "oken");
    assert_eq!(shown.body["connection"]["profile_id"], PROFILE);
    let audit: Vec<String> = sqlx::query_scalar(
        "SELECT coalesce(after::text, '') FROM audit_log WHERE action = 'wise_connected'",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(audit.len(), 1);
    assert!(!audit[0].contains(TOKEN), "{}", audit[0]);

    let supplier = payable_supplier(&app, &owner, "EUR").await;
    let order = submitted_order(&app, &owner, &supplier).await;
    let disconnected = app
        .stepped_up(Method::DELETE, "/api/payments/wise", None, &owner.token)
        .await;
    assert_eq!(
        disconnected.status,
        StatusCode::NO_CONTENT,
        "{}",
        disconnected.body
    );
    let shown = app.get_with("/api/payments/wise", &owner.token).await;
    assert_eq!(shown.body["connection"], Value::Null);
    assert_problem(
        &pay(&app, &owner, &order).await,
        StatusCode::CONFLICT,
        "wise_not_connected",
    );
    assert!(
        wise.book().calls.iter().all(|c| c == "GET /v2/profiles"),
        "{:?}",
        wise.book().calls
    );
}

/// Paying needs a step-up of the payer's own session, recent: none, another user's, another
/// session's or an expired one is 401 `step_up_required`; a fresh one of the payer's session,
/// signed as `POST /api/auth/step-up` signs it, is honoured (the end-to-end tests take theirs
/// from the endpoint); an API key can never pay.
#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn paying_needs_a_recent_step_up_of_the_payers_own_session(pool: PgPool) {
    let (app, wise) = with_wise(pool).await;
    let org = org(&app, "ann@example.com").await;
    let supplier = payable_supplier(&app, &org, "EUR").await;
    let order = submitted_order(&app, &org, &supplier).await;
    let path = format!("/api/purchase-orders/{order}/pay");
    let pay_with = |step_up: Option<String>| {
        let (app, path, token) = (&app, path.clone(), org.token.clone());
        async move {
            let headers: Vec<(&str, &str)> = match &step_up {
                Some(s) => vec![("x-step-up-token", s.as_str())],
                None => vec![],
            };
            app.request_with(
                Method::POST,
                &path,
                Some(json!({})),
                Some(&token),
                None,
                &headers,
            )
            .await
        }
    };
    assert_problem(
        &pay_with(None).await,
        StatusCode::UNAUTHORIZED,
        "step_up_required",
    );
    let other = colleague(&app, &org, "bob@example.com", shared::auth::Role::Admin).await;
    let action = format!("POST {path}");
    let others = shared::testing::step_up_token(&other.token, &action);
    assert_problem(
        &pay_with(Some(others)).await,
        StatusCode::UNAUTHORIZED,
        "step_up_required",
    );
    let mine = shared::testing::claims_of(&org.token);
    let id = |name: &str| mine[name].as_str().unwrap().parse::<Uuid>().unwrap();
    let (user, org_id) = (UserId(id("sub")), OrgId(id("org")));
    let keys = shared::testing::settings(&[]).keys.snapshot();
    let ten_minutes_ago = chrono::Utc::now().timestamp() - 600;
    let expired = shared::testing::step_up_token_at(&org.token, &action, ten_minutes_ago);
    assert_problem(
        &pay_with(Some(expired)).await,
        StatusCode::UNAUTHORIZED,
        "step_up_required",
    );
    let another = shared::auth::step_up::Holder {
        user,
        org: org_id,
        sid: SessionId(Uuid::new_v4()),
    };
    let (other_session, _) =
        shared::auth::step_up::issue(&keys, another, "password", &action).unwrap();
    assert_problem(
        &pay_with(Some(other_session)).await,
        StatusCode::UNAUTHORIZED,
        "step_up_required",
    );
    // An access token is not a step-up token.
    assert_problem(
        &pay_with(Some(org.token.clone())).await,
        StatusCode::UNAUTHORIZED,
        "step_up_required",
    );
    assert!(wise.book().calls.is_empty());

    // One made for another order's payment is not this one's.
    let another_order = format!("POST /api/purchase-orders/{}/pay", Uuid::new_v4());
    let elsewhere = shared::testing::step_up_token(&org.token, &another_order);
    assert_problem(
        &pay_with(Some(elsewhere)).await,
        StatusCode::UNAUTHORIZED,
        "step_up_required",
    );
    let proved = shared::testing::step_up_token(&org.token, &action);
    let r = pay_with(Some(proved.clone())).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // Used once: it does not pay again (the order is paid anyway, but the proof goes first).
    assert_problem(
        &pay_with(Some(proved)).await,
        StatusCode::UNAUTHORIZED,
        "step_up_used",
    );

    // An API key with purchasing:write still cannot pay.
    let key = format!("sk_test_{}", Uuid::new_v4().simple());
    sqlx::query(
        "INSERT INTO api_keys (org_id, name, prefix, key_hash, scopes)
         VALUES ($1::uuid, 'till', left($2, 12), $3, '{\"purchasing\": \"write\"}')",
    )
    .bind(&org.org_id)
    .bind(&key)
    .bind(shared::auth::tokens::hash(&key).to_vec())
    .execute(&app.pool)
    .await
    .unwrap();
    let second = submitted_order(&app, &org, &supplier).await;
    let by_key = app
        .request_with(
            Method::POST,
            &format!("/api/purchase-orders/{second}/pay"),
            Some(json!({})),
            None,
            None,
            &[("x-api-key", key.as_str())],
        )
        .await;
    assert_problem(&by_key, StatusCode::FORBIDDEN, "step_up_unavailable");
}

/// At or above the threshold a payment waits for a second owner or admin: the one who asked
/// cannot approve it (403), another approves and it is paid then, with who and when recorded;
/// below the threshold it goes straight through.
#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn payments_at_or_above_the_threshold_need_a_second_owner_or_admin(pool: PgPool) {
    let (app, wise) = with_wise(pool).await;
    let ann = org(&app, "ann@example.com").await;
    let bob = colleague(&app, &ann, "bob@example.com", shared::auth::Role::Admin).await;
    let supplier = payable_supplier(&app, &ann, "EUR").await;
    set_threshold(&app, &ann, Some("25.00")).await;

    let order = submitted_order(&app, &ann, &supplier).await;
    let asked = pay(&app, &ann, &order).await;
    assert_eq!(asked.status, StatusCode::ACCEPTED, "{}", asked.body);
    assert_eq!(asked.body["approval"]["status"], "pending");
    assert_eq!(asked.body["approval"]["reasons"], json!(["threshold"]));
    assert_eq!(asked.body["approval"]["amount"], "25.00");
    assert_eq!(asked.body["payment"], Value::Null);
    assert!(wise.book().calls.is_empty());
    assert_problem(
        &pay(&app, &ann, &order).await,
        StatusCode::CONFLICT,
        "approval_pending",
    );

    assert_problem(
        &approve(&app, &ann, &order).await,
        StatusCode::FORBIDDEN,
        "own_payment",
    );
    let plain = app
        .post_with(
            &format!("/api/purchase-orders/{order}/pay/approve"),
            json!({}),
            &bob.token,
        )
        .await;
    assert_problem(&plain, StatusCode::UNAUTHORIZED, "step_up_required");
    let user = shared::testing::member(
        &app,
        &ann.org_id,
        "u@example.com",
        json!({"purchasing": "write"}),
    )
    .await;
    let by_user = app
        .stepped_up(
            Method::POST,
            &format!("/api/purchase-orders/{order}/pay/approve"),
            None,
            &user.token,
        )
        .await;
    assert_problem(&by_user, StatusCode::FORBIDDEN, "admin_required");
    assert!(wise.book().calls.is_empty());

    let approved = approve(&app, &bob, &order).await;
    assert_eq!(approved.status, StatusCode::OK, "{}", approved.body);
    assert_eq!(approved.body["approval"]["status"], "approved");
    assert_eq!(
        approved.body["approval"]["decided_by"],
        json!(bob_id(&app, "bob@example.com").await)
    );
    assert!(approved.body["approval"]["decided_at"].is_string());
    assert_eq!(approved.body["payment"]["status"], "processing");
    assert_eq!(wise.book().transfers.len(), 1);
    let actions: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT action, actor_user_id::text FROM audit_log
         WHERE action LIKE 'purchase_order_payment_approval_%' ORDER BY id",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(actions.len(), 2);
    assert_eq!(actions[0].0, "purchase_order_payment_approval_requested");
    assert_eq!(actions[1].0, "purchase_order_payment_approval_approved");
    assert_eq!(
        actions[1].1.as_deref(),
        Some(bob_id(&app, "bob@example.com").await.as_str())
    );

    // Below the threshold: straight through.
    set_threshold(&app, &ann, Some("25.01")).await;
    let small = submitted_order(&app, &ann, &supplier).await;
    let r = pay(&app, &ann, &small).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["approval"], Value::Null);
}

async fn bob_id(app: &TestApp, email: &str) -> String {
    sqlx::query_scalar("SELECT id::text FROM users WHERE email = $1")
        .bind(email)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

/// Cancelling the order cancels its pending approval; a rejected payment is not paid.
#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn cancelling_the_order_cancels_its_pending_approval(pool: PgPool) {
    let (app, wise) = with_wise(pool).await;
    let ann = org(&app, "ann@example.com").await;
    let bob = colleague(&app, &ann, "bob@example.com", shared::auth::Role::Admin).await;
    let supplier = payable_supplier(&app, &ann, "EUR").await;
    set_threshold(&app, &ann, Some("1.00")).await;
    let order = submitted_order(&app, &ann, &supplier).await;
    assert_eq!(pay(&app, &ann, &order).await.status, StatusCode::ACCEPTED);
    let cancelled = post(
        &app,
        &ann,
        &format!("/api/purchase-orders/{order}/cancel"),
        json!({}),
    )
    .await;
    assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.body);
    assert_eq!(cancelled.body["approval"]["status"], "cancelled");
    assert_problem(
        &approve(&app, &bob, &order).await,
        StatusCode::CONFLICT,
        "no_pending_approval",
    );

    let other = submitted_order(&app, &ann, &supplier).await;
    assert_eq!(pay(&app, &ann, &other).await.status, StatusCode::ACCEPTED);
    let rejected = app
        .post_with(
            &format!("/api/purchase-orders/{other}/pay/reject"),
            json!({}),
            &bob.token,
        )
        .await;
    assert_eq!(rejected.status, StatusCode::OK, "{}", rejected.body);
    assert_eq!(rejected.body["approval"]["status"], "rejected");
    assert_problem(
        &approve(&app, &bob, &other).await,
        StatusCode::CONFLICT,
        "no_pending_approval",
    );
    assert!(wise.book().calls.is_empty());
}

/// Bank details set or changed in the last 24 hours: the payment needs a second person, who is
/// neither the one who asked nor the one who changed them. After 24 hours it goes straight
/// through.
#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_payment_to_details_changed_in_the_last_day_needs_a_second_person(pool: PgPool) {
    let (app, wise) = with_wise(pool).await;
    let ann = org(&app, "ann@example.com").await;
    let bob = colleague(&app, &ann, "bob@example.com", shared::auth::Role::Admin).await;
    let cat = colleague(&app, &ann, "cat@example.com", shared::auth::Role::Owner).await;
    let supplier = payable_supplier(&app, &ann, "EUR").await;
    // Bob changed the supplier's bank details an hour ago.
    sqlx::query(
        "UPDATE suppliers SET payment_details_changed_at = now() - interval '1 hour',
                payment_details_changed_by = (SELECT id FROM users WHERE email = 'bob@example.com')
         WHERE id = $1::uuid",
    )
    .bind(&supplier)
    .execute(&app.pool)
    .await
    .unwrap();
    let order = submitted_order(&app, &ann, &supplier).await;
    let asked = pay(&app, &ann, &order).await;
    assert_eq!(asked.status, StatusCode::ACCEPTED, "{}", asked.body);
    assert_eq!(asked.body["approval"]["reasons"], json!(["payee_changed"]));
    assert_problem(
        &approve(&app, &bob, &order).await,
        StatusCode::FORBIDDEN,
        "own_payee_change",
    );
    assert!(wise.book().calls.is_empty());
    let approved = approve(&app, &cat, &order).await;
    assert_eq!(approved.status, StatusCode::OK, "{}", approved.body);
    assert_eq!(approved.body["payment"]["status"], "processing");

    sqlx::query("UPDATE suppliers SET payment_details_changed_at = now() - interval '25 hours'")
        .execute(&app.pool)
        .await
        .unwrap();
    let later = submitted_order(&app, &ann, &supplier).await;
    let r = pay(&app, &ann, &later).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}

/// Approvals by two admins and pays by the requester, all at once on one pending payment: the
/// money moves once.
#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn concurrent_approvals_and_pays_move_money_once(pool: PgPool) {
    let (app, wise) = with_wise(pool).await;
    let ann = org(&app, "ann@example.com").await;
    let bob = colleague(&app, &ann, "bob@example.com", shared::auth::Role::Admin).await;
    let cat = colleague(&app, &ann, "cat@example.com", shared::auth::Role::Admin).await;
    let supplier = payable_supplier(&app, &ann, "EUR").await;
    set_threshold(&app, &ann, Some("10.00")).await;
    let order = submitted_order(&app, &ann, &supplier).await;
    assert_eq!(pay(&app, &ann, &order).await.status, StatusCode::ACCEPTED);

    let (r1, r2, r3, r4) = tokio::join!(
        approve(&app, &bob, &order),
        approve(&app, &cat, &order),
        pay(&app, &ann, &order),
        pay(&app, &ann, &order),
    );
    let statuses = [r1.status, r2.status, r3.status, r4.status];
    assert_eq!(
        statuses.iter().filter(|s| **s == StatusCode::OK).count(),
        1,
        "{statuses:?}: {} {} {} {}",
        r1.body,
        r2.body,
        r3.body,
        r4.body
    );
    for r in [&r1, &r2, &r3, &r4] {
        assert!(
            [StatusCode::OK, StatusCode::CONFLICT].contains(&r.status),
            "{}",
            r.body
        );
    }
    let book = wise.book();
    assert_eq!(book.transfers.len(), 1);
    assert_eq!(book.fundings.len(), 1);
}
