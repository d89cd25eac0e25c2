//! Paying a purchase order's supplier through Wise, against a local server playing Wise's API.

mod support;

use std::collections::BTreeMap;

use http::{Method, StatusCode};
use serde_json::{Value, json};
use shared::payment_details::PaymentDetails;
use shared::testing::{TestResponse, assert_problem};
use sqlx::PgPool;
use support::fake_wise::{FakeWise, PROFILE};
use support::*;
use uuid::Uuid;

const IBAN: &str = "DE89370400440532013000";

async fn with_wise(pool: PgPool) -> (Apps, FakeWise) {
    let wise = FakeWise::start().await;
    let settings = wise.settings();
    let overrides: Vec<(&str, &str)> = settings.iter().map(|(k, v)| (*k, v.as_str())).collect();
    (apps_with(pool, &overrides), wise)
}

/// A supplier whose bank details (an IBAN in `currency`) are sealed as the suppliers function
/// seals them.
async fn payable_supplier(apps: &Apps, org: &Org, currency: &str) -> String {
    let id = Uuid::new_v4();
    let details = PaymentDetails {
        account_holder_name: "Acme Tools GmbH".into(),
        currency: currency.into(),
        kind: "iban".into(),
        details: BTreeMap::from([("iban".to_owned(), IBAN.to_owned())]),
    };
    let sealed = details
        .seal(&shared::testing::settings(&[]).keys, id)
        .unwrap();
    sqlx::query(
        "INSERT INTO suppliers (id, org_id, name, payment_details, payment_summary)
         VALUES ($1, $2::uuid, 'Acme Tools', $3, '{}')",
    )
    .bind(id)
    .bind(&org.id)
    .bind(sealed)
    .execute(&apps.pool)
    .await
    .unwrap();
    id.to_string()
}

/// A submitted order of 10 × 2.50 EUR.
async fn submitted_order(apps: &Apps, org: &Org, supplier: &str) -> String {
    let product = product(apps, org, &format!("P-{}", Uuid::new_v4()), 0).await;
    let r = post(
        apps,
        org,
        "/api/purchase-orders",
        json!({"supplier_id": supplier, "currency": "EUR",
        "lines": [{"product_id": product, "quantity": 10, "unit_cost": "2.50"}]}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let id = r.body["id"].as_str().unwrap().to_owned();
    let submitted = post(
        apps,
        org,
        &format!("/api/purchase-orders/{id}/submit"),
        json!({}),
    )
    .await;
    assert_eq!(submitted.body["status"], "submitted");
    id
}

async fn pay(apps: &Apps, org: &Org, order: &str) -> TestResponse {
    post(
        apps,
        org,
        &format!("/api/purchase-orders/{order}/pay"),
        json!({}),
    )
    .await
}

async fn audit_actions(apps: &Apps, order: &str) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT action FROM audit_log WHERE entity_id = $1::uuid AND action LIKE 'purchase_order_payment_%' ORDER BY id",
    )
    .bind(order)
    .fetch_all(&apps.pool)
    .await
    .unwrap()
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn paying_runs_quote_recipient_transfer_and_funding_and_records_the_payment(pool: PgPool) {
    let (apps, wise) = with_wise(pool).await;
    let org = org(&apps, "ann@example.com").await;
    let supplier = payable_supplier(&apps, &org, "EUR").await;
    let order = submitted_order(&apps, &org, &supplier).await;

    let r = pay(&apps, &org, &order).await;
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
    let shown = apps
        .inventory
        .get_with(&format!("/api/purchase-orders/{order}"), &org.token)
        .await;
    assert_eq!(shown.body["payment"], r.body["payment"]);
    let list = apps
        .inventory
        .get_with("/api/purchase-orders", &org.token)
        .await;
    assert_eq!(list.body["items"][0]["payment_status"], "processing");
    assert_eq!(
        audit_actions(&apps, &order).await,
        [
            "purchase_order_payment_started",
            "purchase_order_payment_processing"
        ]
    );

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
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn an_order_being_paid_or_paid_is_not_paid_again_nor_cancelled(pool: PgPool) {
    let (apps, wise) = with_wise(pool).await;
    let org = org(&apps, "ann@example.com").await;
    let supplier = payable_supplier(&apps, &org, "EUR").await;
    let order = submitted_order(&apps, &org, &supplier).await;
    assert_eq!(pay(&apps, &org, &order).await.status, StatusCode::OK);

    assert_problem(
        &pay(&apps, &org, &order).await,
        StatusCode::CONFLICT,
        "payment_in_progress",
    );
    let cancel = post(
        &apps,
        &org,
        &format!("/api/purchase-orders/{order}/cancel"),
        json!({}),
    )
    .await;
    assert_problem(&cancel, StatusCode::CONFLICT, "payment_in_progress");

    sqlx::query("UPDATE purchase_order_payments SET status = 'paid'")
        .execute(&apps.pool)
        .await
        .unwrap();
    assert_problem(
        &pay(&apps, &org, &order).await,
        StatusCode::CONFLICT,
        "already_paid",
    );
    assert_eq!(wise.book().transfer_requests.len(), 1);
    assert_eq!(wise.book().fundings.len(), 1);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn two_pays_at_once_make_one_transfer(pool: PgPool) {
    let (apps, wise) = with_wise(pool).await;
    let org = org(&apps, "ann@example.com").await;
    let supplier = payable_supplier(&apps, &org, "EUR").await;
    let order = submitted_order(&apps, &org, &supplier).await;
    let (a, b) = tokio::join!(pay(&apps, &org, &order), pay(&apps, &org, &order));
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
    let (apps, wise) = with_wise(pool).await;
    let org = org(&apps, "ann@example.com").await;
    let supplier = payable_supplier(&apps, &org, "EUR").await;
    let order = submitted_order(&apps, &org, &supplier).await;
    // A run that made the transfer at Wise, then stopped before recording anything more.
    wise.book().lose_next_transfer_answer = true;
    pay(&apps, &org, &order).await;
    let set_pending = |age: &'static str| {
        sqlx::query(
            "UPDATE purchase_order_payments SET status = 'pending', started_at = now() - $1::interval",
        )
        .bind(age)
        .execute(&apps.pool)
    };
    set_pending("10 seconds").await.unwrap();
    assert_problem(
        &pay(&apps, &org, &order).await,
        StatusCode::CONFLICT,
        "payment_in_progress",
    );
    set_pending("3 minutes").await.unwrap();
    let taken_over = pay(&apps, &org, &order).await;
    assert_eq!(taken_over.status, StatusCode::OK, "{}", taken_over.body);
    assert_eq!(taken_over.body["payment"]["status"], "processing");
    assert_eq!(wise.book().transfers.len(), 1);
    assert_eq!(wise.book().fundings.len(), 1);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_retry_after_a_lost_answer_reuses_the_customer_transaction_id_and_pays_once(
    pool: PgPool,
) {
    let (apps, wise) = with_wise(pool).await;
    let org = org(&apps, "ann@example.com").await;
    let supplier = payable_supplier(&apps, &org, "EUR").await;
    let order = submitted_order(&apps, &org, &supplier).await;
    // Wise makes the transfer but the answer never arrives intact.
    wise.book().lose_next_transfer_answer = true;

    let failed = pay(&apps, &org, &order).await;
    assert_problem(&failed, StatusCode::BAD_GATEWAY, "wise_error");
    assert!(
        failed.body["detail"]
            .as_str()
            .unwrap()
            .contains("Something went wrong"),
        "{}",
        failed.body
    );
    let shown = apps
        .inventory
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

    let retried = pay(&apps, &org, &order).await;
    assert_eq!(retried.status, StatusCode::OK, "{}", retried.body);
    assert_eq!(retried.body["payment"]["status"], "processing");
    assert_eq!(retried.body["payment"]["attempt"], 1);
    assert_eq!(retried.body["payment"]["customer_transaction_id"], first_id);
    assert_eq!(retried.body["payment"]["failure_message"], Value::Null);

    assert_eq!(
        audit_actions(&apps, &order).await,
        [
            "purchase_order_payment_started",
            "purchase_order_payment_failed",
            "purchase_order_payment_started",
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
    let (apps, wise) = with_wise(pool).await;
    let org = org(&apps, "ann@example.com").await;
    let supplier = payable_supplier(&apps, &org, "EUR").await;
    let order = submitted_order(&apps, &org, &supplier).await;
    wise.book().reject_next_funding = Some("transfer.insufficient_funds".into());

    let failed = pay(&apps, &org, &order).await;
    assert_problem(&failed, StatusCode::BAD_GATEWAY, "wise_error");
    let shown = apps
        .inventory
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

    let retried = pay(&apps, &org, &order).await;
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
    let (apps, wise) = with_wise(pool).await;
    let org = org(&apps, "ann@example.com").await;
    let supplier = payable_supplier(&apps, &org, "EUR").await;
    let order = submitted_order(&apps, &org, &supplier).await;
    wise.book().fail_next_quote = Some((
        StatusCode::UNPROCESSABLE_ENTITY,
        json!({"errors": [{"code": "error.route.not.supported", "message": "We don't support this currency route", "path": "targetCurrency"}]}),
    ));

    let r = pay(&apps, &org, &order).await;
    assert_problem(&r, StatusCode::BAD_GATEWAY, "wise_error");
    assert_eq!(
        r.body["detail"],
        "Wise refused the payment: We don't support this currency route"
    );
    let shown = apps
        .inventory
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
    let (apps, wise) = with_wise(pool).await;
    let org = org(&apps, "ann@example.com").await;
    let supplier = payable_supplier(&apps, &org, "EUR").await;
    let order = submitted_order(&apps, &org, &supplier).await;
    let first = pay(&apps, &org, &order).await;
    // What a transfers#state-change webhook records when Wise cancels the transfer.
    sqlx::query("UPDATE purchase_order_payments SET status = 'cancelled', wise_state = 'cancelled', wise_state_at = now()")
        .execute(&apps.pool)
        .await
        .unwrap();

    let second = pay(&apps, &org, &order).await;
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
async fn webhook_recorded(apps: &Apps, status: &str, state: &str) {
    sqlx::query(
        "UPDATE purchase_order_payments SET status = $1::payment_status, wise_state = $2, wise_state_at = now()",
    )
    .bind(status)
    .bind(state)
    .execute(&apps.pool)
    .await
    .unwrap();
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_bounced_transfer_blocks_paying_and_cancelling_until_wise_refunds_it(pool: PgPool) {
    let (apps, wise) = with_wise(pool).await;
    let org = org(&apps, "ann@example.com").await;
    let supplier = payable_supplier(&apps, &org, "EUR").await;
    let order = submitted_order(&apps, &org, &supplier).await;
    assert_eq!(pay(&apps, &org, &order).await.status, StatusCode::OK);

    // The supplier's bank returned the money: Wise may still resend this same transfer.
    webhook_recorded(&apps, "failed", "bounced_back").await;
    let r = pay(&apps, &org, &order).await;
    assert_problem(&r, StatusCode::CONFLICT, "payment_bounced");
    let cancel = post(
        &apps,
        &org,
        &format!("/api/purchase-orders/{order}/cancel"),
        json!({}),
    )
    .await;
    assert_problem(&cancel, StatusCode::CONFLICT, "payment_bounced");
    assert_eq!(wise.book().transfer_requests.len(), 1, "no second transfer");

    // Charged back: settled with Wise, never by a second transfer from here.
    webhook_recorded(&apps, "failed", "charged_back").await;
    assert_problem(
        &pay(&apps, &org, &order).await,
        StatusCode::CONFLICT,
        "payment_charged_back",
    );

    // Once Wise refunds it, the transfer is closed for good and a new attempt may start.
    webhook_recorded(&apps, "failed", "funds_refunded").await;
    let again = pay(&apps, &org, &order).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    assert_eq!(again.body["payment"]["attempt"], 2);
    assert_eq!(again.body["payment"]["wise_transfer_id"], 50_001);
    assert_eq!(wise.book().transfers.len(), 2);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_new_wise_profile_starts_a_new_attempt_only_once_the_old_transfer_is_closed(
    pool: PgPool,
) {
    let (apps, wise) = with_wise(pool).await;
    let org = org(&apps, "ann@example.com").await;
    let supplier = payable_supplier(&apps, &org, "EUR").await;
    let order = submitted_order(&apps, &org, &supplier).await;
    // A payment made from another profile, whose funding that profile's Wise refused.
    wise.book().reject_next_funding = Some("transfer.insufficient_funds".into());
    assert_problem(
        &pay(&apps, &org, &order).await,
        StatusCode::BAD_GATEWAY,
        "wise_error",
    );
    sqlx::query("UPDATE purchase_order_payments SET wise_profile_id = $1")
        .bind(PROFILE + 1)
        .execute(&apps.pool)
        .await
        .unwrap();

    // Its transfer is still open at the other profile and could yet be funded there.
    let r = pay(&apps, &org, &order).await;
    assert_problem(&r, StatusCode::CONFLICT, "wise_profile_changed");
    assert_eq!(wise.book().transfer_requests.len(), 1);

    // Cancelled at Wise (the webhook records it): now a new attempt from this profile.
    webhook_recorded(&apps, "cancelled", "cancelled").await;
    let again = pay(&apps, &org, &order).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    assert_eq!(again.body["payment"]["attempt"], 2);
    assert_eq!(again.body["payment"]["wise_transfer_id"], 50_001);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_new_wise_profile_starts_a_new_attempt_when_the_old_one_made_no_transfer(pool: PgPool) {
    let (apps, wise) = with_wise(pool).await;
    let org = org(&apps, "ann@example.com").await;
    let supplier = payable_supplier(&apps, &org, "EUR").await;
    let order = submitted_order(&apps, &org, &supplier).await;
    wise.book().fail_next_quote = Some((
        StatusCode::UNPROCESSABLE_ENTITY,
        json!({"errors": [{"code": "error.route.not.supported", "message": "Not supported"}]}),
    ));
    assert_problem(
        &pay(&apps, &org, &order).await,
        StatusCode::BAD_GATEWAY,
        "wise_error",
    );
    sqlx::query("UPDATE purchase_order_payments SET wise_profile_id = $1")
        .bind(PROFILE + 1)
        .execute(&apps.pool)
        .await
        .unwrap();
    let again = pay(&apps, &org, &order).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    assert_eq!(again.body["payment"]["attempt"], 2);
    assert_eq!(wise.book().transfers.len(), 1);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn the_supplier_recipient_is_created_once_and_an_idempotent_retry_replays(pool: PgPool) {
    let (apps, wise) = with_wise(pool).await;
    let org = org(&apps, "ann@example.com").await;
    let supplier = payable_supplier(&apps, &org, "EUR").await;
    let a = submitted_order(&apps, &org, &supplier).await;
    let b = submitted_order(&apps, &org, &supplier).await;
    assert_eq!(pay(&apps, &org, &a).await.status, StatusCode::OK);

    let send = || {
        let request = http::Request::post(format!("/api/purchase-orders/{b}/pay"))
            .header("authorization", format!("Bearer {}", org.token))
            .header("idempotency-key", "pay-b-once")
            .body(axum::body::Body::empty())
            .unwrap();
        shared::testing::send(&apps.inventory.router, request)
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
    let (apps, wise) = with_wise(pool).await;
    let org = org(&apps, "ann@example.com").await;
    let payable = payable_supplier(&apps, &org, "EUR").await;
    let product = product(&apps, &org, "BOLT", 0).await;

    let draft = post(
        &apps,
        &org,
        "/api/purchase-orders",
        json!({"supplier_id": payable, "currency": "EUR",
        "lines": [{"product_id": product, "quantity": 1, "unit_cost": "1.00"}]}),
    )
    .await;
    let draft = draft.body["id"].as_str().unwrap();
    assert_problem(
        &pay(&apps, &org, draft).await,
        StatusCode::CONFLICT,
        "invalid_status",
    );

    let without_details = supplier(&apps, &org).await;
    let order = submitted_order(&apps, &org, &without_details).await;
    assert_problem(
        &pay(&apps, &org, &order).await,
        StatusCode::CONFLICT,
        "missing_payment_details",
    );

    let in_pounds = payable_supplier(&apps, &org, "GBP").await;
    let order = submitted_order(&apps, &org, &in_pounds).await;
    let r = pay(&apps, &org, &order).await;
    assert_problem(&r, StatusCode::CONFLICT, "currency_mismatch");

    let bad = post(
        &apps,
        &org,
        &format!("/api/purchase-orders/{order}/pay"),
        json!({"source_currency": "euro"}),
    )
    .await;
    assert_problem(&bad, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");

    assert!(wise.book().calls.is_empty());
    let payments: i64 = sqlx::query_scalar("SELECT count(*) FROM purchase_order_payments")
        .fetch_one(&apps.pool)
        .await
        .unwrap();
    assert_eq!(payments, 0);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn another_organizations_order_is_404(pool: PgPool) {
    let (apps, wise) = with_wise(pool).await;
    let a = org(&apps, "a@example.com").await;
    let b = org(&apps, "b@example.com").await;
    let supplier = payable_supplier(&apps, &b, "EUR").await;
    let theirs = submitted_order(&apps, &b, &supplier).await;
    assert_problem(
        &pay(&apps, &a, &theirs).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert!(wise.book().calls.is_empty());
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn without_wise_settings_paying_is_503(pool: PgPool) {
    let apps = apps(pool);
    let org = org(&apps, "ann@example.com").await;
    let supplier = payable_supplier(&apps, &org, "EUR").await;
    let order = submitted_order(&apps, &org, &supplier).await;
    let r = pay(&apps, &org, &order).await;
    assert_problem(
        &r,
        StatusCode::SERVICE_UNAVAILABLE,
        "payments_not_configured",
    );
    assert!(
        r.body["detail"]
            .as_str()
            .unwrap()
            .contains("WISE_API_TOKEN")
    );
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn paying_needs_write_access_to_purchasing(pool: PgPool) {
    let (apps, wise) = with_wise(pool).await;
    let org = org(&apps, "ann@example.com").await;
    let supplier = payable_supplier(&apps, &org, "EUR").await;
    let order = submitted_order(&apps, &org, &supplier).await;
    let path = format!("/api/purchase-orders/{order}/pay");
    let anonymous = apps
        .inventory
        .request(Method::POST, &path, None, None)
        .await;
    assert_problem(&anonymous, StatusCode::UNAUTHORIZED, "missing_token");

    let reader = shared::testing::member(
        &apps.auth,
        &org.id,
        "r@example.com",
        json!({"purchasing": "read"}),
    )
    .await
    .token;
    let reader = reader.as_str();
    let r = apps.inventory.post_with(&path, json!({}), reader).await;
    assert_problem(&r, StatusCode::FORBIDDEN, "missing_permission");
    assert!(wise.book().calls.is_empty());
}
