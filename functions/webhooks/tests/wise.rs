//! Wise's webhook deliveries, signed with a key pair made for the test whose public half is
//! configured as Wise's public key.

use axum::Router;
use axum::body::Body;
use base64::Engine;
use http::{Request, StatusCode};
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::{EncodePublicKey, LineEnding};
use rsa::signature::{SignatureEncoding, Signer};
use serde_json::{Value, json};
use sha2::Sha256;
use shared::testing::{TestApp, TestResponse, assert_problem};
use sqlx::PgPool;
use uuid::Uuid;

const TRANSFER: i64 = 777;
const PROFILE: i64 = 42;

struct Setup {
    webhooks: TestApp,
    pool: PgPool,
    wise: SigningKey<Sha256>,
    org: Uuid,
    order: Uuid,
}

fn key_pair() -> (SigningKey<Sha256>, String) {
    let private = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).unwrap();
    let pem = private
        .to_public_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap();
    (SigningKey::new(private), pem)
}

/// An organization with a submitted order whose payment is processing as transfer 777.
async fn setup(pool: PgPool) -> Setup {
    let (wise, public_pem) = key_pair();
    let overrides = [("WISE_WEBHOOK_PUBLIC_KEY", public_pem.as_str())];
    let state = shared::testing::state_as(pool.clone(), shared::db::Login::Worker, &overrides);
    let webhooks = TestApp::new(webhooks::app(state), pool.clone());
    let org: Uuid = shared::testing::register(&webhooks, "ann@example.com")
        .await
        .org_id
        .parse()
        .unwrap();
    let supplier: Uuid =
        sqlx::query_scalar("INSERT INTO suppliers (org_id, name) VALUES ($1, 'Acme') RETURNING id")
            .bind(org)
            .fetch_one(&pool)
            .await
            .unwrap();
    let order: Uuid = sqlx::query_scalar(
        "INSERT INTO purchase_orders (org_id, supplier_id, currency, status, submitted_at)
         VALUES ($1, $2, 'EUR', 'submitted', now()) RETURNING id",
    )
    .bind(org)
    .bind(supplier)
    .fetch_one(&pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO purchase_order_payments
             (purchase_order_id, org_id, status, customer_transaction_id, amount, currency,
              source_currency, wise_profile_id, wise_transfer_id, wise_state)
         VALUES ($1, $2, 'processing', $3, 25, 'EUR', 'EUR', $4, $5, 'incoming_payment_waiting')",
    )
    .bind(order)
    .bind(org)
    .bind(Uuid::new_v4())
    .bind(PROFILE)
    .bind(TRANSFER)
    .execute(&pool)
    .await
    .unwrap();
    Setup {
        webhooks,
        pool,
        wise,
        org,
        order,
    }
}

fn state_change(transfer: i64, state: &str, previous: &str, at: &str) -> Value {
    json!({
        "data": {
            "resource": {"id": transfer, "profile_id": PROFILE, "account_id": 10000, "type": "transfer"},
            "current_state": state,
            "previous_state": previous,
            "occurred_at": at
        },
        "subscription_id": "f2264fe5-a0f5-4dab-a1c5-6a2f1e2f5b5c",
        "event_type": "transfers#state-change",
        "schema_version": "2.0.0",
        "sent_at": at
    })
}

fn sign(key: &SigningKey<Sha256>, body: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(key.sign(body).to_bytes())
}

async fn deliver_raw(
    router: &Router,
    body: &str,
    delivery: &str,
    signature: Option<String>,
) -> TestResponse {
    let mut request = Request::post("/webhooks/wise")
        .header("content-type", "application/json")
        .header("x-delivery-id", delivery);
    if let Some(signature) = signature {
        request = request.header("x-signature-sha256", signature);
    }
    shared::testing::send(router, request.body(Body::from(body.to_owned())).unwrap()).await
}

/// Delivers `event` as Wise does: signed with Wise's key.
async fn deliver(s: &Setup, event: &Value, delivery: &str) -> TestResponse {
    let body = event.to_string();
    let signature = sign(&s.wise, body.as_bytes());
    deliver_raw(&s.webhooks.router, &body, delivery, Some(signature)).await
}

async fn payment(s: &Setup) -> Value {
    sqlx::query_scalar(
        "SELECT jsonb_build_object('status', status, 'wise_state', wise_state,
                'wise_state_at', wise_state_at, 'paid_at', paid_at,
                'failure_code', failure_code, 'failure_message', failure_message)
         FROM purchase_order_payments WHERE purchase_order_id = $1",
    )
    .bind(s.order)
    .fetch_one(&s.pool)
    .await
    .unwrap()
}

async fn count(s: &Setup, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(&s.pool).await.unwrap()
}

async fn audit_rows(s: &Setup) -> Vec<(String, Option<Uuid>, Option<Uuid>, Value, Value)> {
    sqlx::query_as(
        "SELECT action, org_id, actor_user_id, before, after FROM audit_log
         WHERE entity = 'purchase_order' AND entity_id = $1 ORDER BY id",
    )
    .bind(s.order)
    .fetch_all(&s.pool)
    .await
    .unwrap()
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_signed_state_change_moves_the_payment_and_is_audited(pool: PgPool) {
    let s = setup(pool).await;
    let sent = state_change(
        TRANSFER,
        "outgoing_payment_sent",
        "processing",
        "2026-11-20T12:34:56Z",
    );
    let r = deliver(&s, &sent, "delivery-1").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body, json!({"status": "processed"}));

    let payment = payment(&s).await;
    assert_eq!(payment["status"], "paid");
    assert_eq!(payment["wise_state"], "outgoing_payment_sent");
    assert_eq!(payment["wise_state_at"], "2026-11-20T12:34:56+00:00");
    assert_eq!(payment["paid_at"], "2026-11-20T12:34:56+00:00");

    let audit = audit_rows(&s).await;
    assert_eq!(audit.len(), 1);
    let (action, org, actor, before, after) = &audit[0];
    assert_eq!(action, "purchase_order_payment_paid");
    assert_eq!(*org, Some(s.org));
    assert_eq!(*actor, None, "the system acted, not a user");
    assert_eq!(before["status"], "processing");
    assert_eq!(after["status"], "paid");
    assert_eq!(after["wise_transfer_id"], TRANSFER);
    assert_eq!(
        count(
            &s,
            "SELECT count(*) FROM wise_webhook_deliveries WHERE delivery_id = 'delivery-1'"
        )
        .await,
        1
    );
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_missing_or_wrong_signature_is_401_and_nothing_is_stored(pool: PgPool) {
    let s = setup(pool).await;
    let body = state_change(
        TRANSFER,
        "outgoing_payment_sent",
        "processing",
        "2026-11-20T12:34:56Z",
    )
    .to_string();
    let (impostor, _) = key_pair();
    let tampered = body.replace("777", "778");
    for (body, signature) in [
        (&body, None),
        (&body, Some(String::new())),
        (&body, Some("bm90IGEgc2lnbmF0dXJl".to_owned())),
        (&body, Some(sign(&impostor, body.as_bytes()))),
        (&tampered, Some(sign(&s.wise, body.as_bytes()))),
    ] {
        let r = deliver_raw(&s.webhooks.router, body, "delivery-1", signature).await;
        assert_problem(&r, StatusCode::UNAUTHORIZED, "invalid_signature");
    }
    assert_eq!(
        count(&s, "SELECT count(*) FROM wise_webhook_deliveries").await,
        0
    );
    assert_eq!(payment(&s).await["status"], "processing");
    assert!(audit_rows(&s).await.is_empty());
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_repeated_delivery_is_processed_once(pool: PgPool) {
    let s = setup(pool).await;
    let sent = state_change(
        TRANSFER,
        "outgoing_payment_sent",
        "processing",
        "2026-11-20T12:34:56Z",
    );
    assert_eq!(
        deliver(&s, &sent, "delivery-1").await.body["status"],
        "processed"
    );
    assert_eq!(
        deliver(&s, &sent, "delivery-1").await.body["status"],
        "duplicate"
    );
    // A retry under a new delivery id is recognised by its state and time.
    assert_eq!(
        deliver(&s, &sent, "delivery-2").await.body["status"],
        "stale"
    );
    assert_eq!(audit_rows(&s).await.len(), 1);
    assert_eq!(payment(&s).await["status"], "paid");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn an_older_state_arriving_late_is_ignored(pool: PgPool) {
    let s = setup(pool).await;
    let paid = state_change(
        TRANSFER,
        "outgoing_payment_sent",
        "funds_converted",
        "2026-11-20 12:00:00",
    );
    let converting = state_change(
        TRANSFER,
        "funds_converted",
        "processing",
        "2026-11-20 11:00:00",
    );
    assert_eq!(
        deliver(&s, &paid, "delivery-2").await.body["status"],
        "processed"
    );
    assert_eq!(
        deliver(&s, &converting, "delivery-1").await.body["status"],
        "stale"
    );
    let payment = payment(&s).await;
    assert_eq!(payment["status"], "paid");
    assert_eq!(payment["wise_state"], "outgoing_payment_sent");
    assert_eq!(audit_rows(&s).await.len(), 1);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_state_read_from_the_api_without_a_time_is_ordered_by_state(pool: PgPool) {
    let s = setup(pool).await;
    // What /pay records from an API answer: the state, and no event time.
    sqlx::query(
        "UPDATE purchase_order_payments
         SET status = 'paid', wise_state = 'outgoing_payment_sent', wise_state_at = NULL",
    )
    .execute(&s.pool)
    .await
    .unwrap();
    let late = state_change(
        TRANSFER,
        "funds_converted",
        "processing",
        "2026-11-20T11:00:00Z",
    );
    assert_eq!(
        deliver(&s, &late, "delivery-1").await.body["status"],
        "stale"
    );
    assert_eq!(payment(&s).await["status"], "paid");

    // A state further along still applies, and from then on times order the events: Wise's
    // resend of a bounced transfer (bounced_back => processing => outgoing_payment_sent).
    let bounced = state_change(
        TRANSFER,
        "bounced_back",
        "outgoing_payment_sent",
        "2026-11-22T09:00:00Z",
    );
    assert_eq!(
        deliver(&s, &bounced, "delivery-2").await.body["status"],
        "processed"
    );
    assert_eq!(payment(&s).await["status"], "failed");
    let resent = state_change(
        TRANSFER,
        "processing",
        "bounced_back",
        "2026-11-23T09:00:00Z",
    );
    assert_eq!(
        deliver(&s, &resent, "delivery-3").await.body["status"],
        "processed"
    );
    let sent = state_change(
        TRANSFER,
        "outgoing_payment_sent",
        "processing",
        "2026-11-23T10:00:00Z",
    );
    deliver(&s, &sent, "delivery-4").await;
    let payment = payment(&s).await;
    assert_eq!(payment["status"], "paid");
    assert_eq!(payment["wise_state_at"], "2026-11-23T10:00:00+00:00");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_bounce_after_the_payout_fails_the_payment(pool: PgPool) {
    let s = setup(pool).await;
    let paid = state_change(
        TRANSFER,
        "outgoing_payment_sent",
        "processing",
        "2026-11-20T12:00:00Z",
    );
    let bounced = state_change(
        TRANSFER,
        "bounced_back",
        "outgoing_payment_sent",
        "2026-11-22T09:00:00Z",
    );
    deliver(&s, &paid, "delivery-1").await;
    assert_eq!(
        deliver(&s, &bounced, "delivery-2").await.body["status"],
        "processed"
    );
    let payment = payment(&s).await;
    assert_eq!(payment["status"], "failed");
    assert_eq!(payment["failure_code"], "bounced_back");
    assert_eq!(
        payment["failure_message"],
        "the supplier's bank returned the transfer"
    );
    assert_eq!(payment["paid_at"], Value::Null);
    let actions: Vec<String> = audit_rows(&s).await.into_iter().map(|a| a.0).collect();
    assert_eq!(
        actions,
        [
            "purchase_order_payment_paid",
            "purchase_order_payment_failed"
        ]
    );
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_cancelled_transfer_cancels_the_payment(pool: PgPool) {
    let s = setup(pool).await;
    let cancelled = state_change(
        TRANSFER,
        "cancelled",
        "incoming_payment_waiting",
        "2026-11-20T12:00:00Z",
    );
    assert_eq!(
        deliver(&s, &cancelled, "delivery-1").await.body["status"],
        "processed"
    );
    let payment = payment(&s).await;
    assert_eq!(payment["status"], "cancelled");
    assert_eq!(payment["wise_state"], "cancelled");
    assert_eq!(
        payment["failure_message"],
        "the transfer was cancelled at Wise"
    );
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn unknown_event_types_are_acknowledged_and_ignored(pool: PgPool) {
    let s = setup(pool).await;
    let credit = json!({
        "data": {"resource": {"id": 1, "profile_id": PROFILE, "type": "balance-account"}, "amount": 10, "currency": "EUR"},
        "subscription_id": "f2264fe5-a0f5-4dab-a1c5-6a2f1e2f5b5c",
        "event_type": "balances#credit",
        "schema_version": "2.0.0",
        "sent_at": "2026-11-20T12:00:00Z"
    });
    let r = deliver(&s, &credit, "delivery-1").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, json!({"status": "ignored"}));
    assert_eq!(payment(&s).await["status"], "processing");
    assert!(audit_rows(&s).await.is_empty());
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_transfer_no_order_made_is_acknowledged_and_changes_nothing(pool: PgPool) {
    let s = setup(pool).await;
    let theirs = state_change(
        999,
        "outgoing_payment_sent",
        "processing",
        "2026-11-20T12:00:00Z",
    );
    let r = deliver(&s, &theirs, "delivery-1").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, json!({"status": "unknown_transfer"}));
    let payment = payment(&s).await;
    assert_eq!(payment["status"], "processing");
    assert_eq!(payment["wise_state"], "incoming_payment_waiting");
    assert_eq!(
        count(
            &s,
            "SELECT count(*) FROM audit_log WHERE action LIKE 'purchase_order_payment%'"
        )
        .await,
        0
    );
    assert_eq!(
        delivery(&s, "delivery-1").await,
        (
            Some(999),
            Some(PROFILE),
            Some("unknown_transfer".to_owned())
        )
    );
}

/// What was recorded of a delivery: transfer, profile and outcome.
async fn delivery(s: &Setup, id: &str) -> (Option<i64>, Option<i64>, Option<String>) {
    sqlx::query_as(
        "SELECT transfer_id, profile_id, outcome FROM wise_webhook_deliveries
         WHERE delivery_id = $1",
    )
    .bind(id)
    .fetch_one(&s.pool)
    .await
    .unwrap()
}

/// Asserts that the order's payment and its audit are as `setup` left them.
async fn nothing_moved(s: &Setup) {
    let payment = payment(s).await;
    assert_eq!(payment["status"], "processing");
    assert_eq!(payment["wise_state"], "incoming_payment_waiting");
    assert_eq!(payment["wise_state_at"], Value::Null);
    assert_eq!(payment["paid_at"], Value::Null);
    assert_eq!(
        count(
            s,
            "SELECT count(*) FROM audit_log WHERE action LIKE 'purchase_order_payment%'"
        )
        .await,
        0
    );
}

/// `state_change` of `transfer` for Wise profile `profile`, or with no profile at all.
fn state_change_of(transfer: i64, profile: Option<i64>, state: &str) -> Value {
    let mut event = state_change(transfer, state, "processing", "2026-11-20T12:00:00Z");
    match profile {
        Some(profile) => event["data"]["resource"]["profile_id"] = json!(profile),
        None => {
            event["data"]["resource"]
                .as_object_mut()
                .unwrap()
                .remove("profile_id");
        }
    }
    event
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_delivery_for_a_profile_nobody_holds_is_recorded_and_changes_nothing(pool: PgPool) {
    let s = setup(pool).await;
    // The order's very transfer id, but from a profile no organization connected or paid from.
    let stranger = state_change_of(TRANSFER, Some(PROFILE + 1), "outgoing_payment_sent");
    let r = deliver(&s, &stranger, "delivery-1").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body, json!({"status": "unknown_profile"}));
    assert_eq!(
        delivery(&s, "delivery-1").await,
        (
            Some(TRANSFER),
            Some(PROFILE + 1),
            Some("unknown_profile".to_owned())
        )
    );
    nothing_moved(&s).await;
    // It was recorded: the same delivery again is a duplicate.
    assert_eq!(
        deliver(&s, &stranger, "delivery-1").await.body["status"],
        "duplicate"
    );
    nothing_moved(&s).await;
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_delivery_without_a_profile_is_recorded_and_changes_nothing(pool: PgPool) {
    let s = setup(pool).await;
    let anonymous = state_change_of(TRANSFER, None, "outgoing_payment_sent");
    assert!(anonymous["data"]["resource"].get("profile_id").is_none());
    let r = deliver(&s, &anonymous, "delivery-1").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body, json!({"status": "unknown_profile"}));
    assert_eq!(
        delivery(&s, "delivery-1").await,
        (Some(TRANSFER), None, Some("unknown_profile".to_owned()))
    );
    nothing_moved(&s).await;
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn another_organizations_profile_cannot_move_this_organizations_transfer(pool: PgPool) {
    let s = setup(pool).await;
    // A second organization connected its own Wise profile, and never paid from it.
    let other = shared::testing::register(&s.webhooks, "bruno@example.com").await;
    sqlx::query(
        "INSERT INTO wise_connections
             (org_id, api_token, token_hint, profile_id, profile_type, profile_name, connected_by)
         VALUES ($1, $2, 'abcd', $3, 'business', 'Bruno Ltd', $4)",
    )
    .bind(other.org_id.parse::<Uuid>().unwrap())
    .bind(vec![0u8; 16])
    .bind(PROFILE + 1)
    .bind(other.user_id.parse::<Uuid>().unwrap())
    .execute(&s.pool)
    .await
    .unwrap();

    // The known profile with the first organization's transfer id: no payment of that profile
    // made it.
    let crossed = state_change_of(TRANSFER, Some(PROFILE + 1), "cancelled");
    let r = deliver(&s, &crossed, "delivery-1").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body, json!({"status": "unknown_transfer"}));
    assert_eq!(
        delivery(&s, "delivery-1").await,
        (
            Some(TRANSFER),
            Some(PROFILE + 1),
            Some("unknown_transfer".to_owned())
        )
    );
    nothing_moved(&s).await;

    // The right pair still moves it.
    let sent = state_change_of(TRANSFER, Some(PROFILE), "outgoing_payment_sent");
    assert_eq!(
        deliver(&s, &sent, "delivery-2").await.body["status"],
        "processed"
    );
    assert_eq!(payment(&s).await["status"], "paid");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn test_notifications_and_unknown_states_are_acknowledged(pool: PgPool) {
    let s = setup(pool).await;
    let body = state_change(
        TRANSFER,
        "outgoing_payment_sent",
        "processing",
        "2026-11-20T12:00:00Z",
    )
    .to_string();
    let request = Request::post("/webhooks/wise")
        .header("content-type", "application/json")
        .header("x-test-notification", "true")
        .header("x-signature-sha256", sign(&s.wise, body.as_bytes()))
        .body(Body::from(body))
        .unwrap();
    let r = shared::testing::send(&s.webhooks.router, request).await;
    assert_eq!(r.body, json!({"status": "test"}));

    let odd = state_change(
        TRANSFER,
        "waiting_recipient_input_to_proceed",
        "processing",
        "2026-11-20T12:00:00Z",
    );
    assert_eq!(
        deliver(&s, &odd, "delivery-2").await.body["status"],
        "ignored"
    );
    assert_eq!(payment(&s).await["status"], "processing");
    assert!(audit_rows(&s).await.is_empty());
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_signed_body_that_is_not_an_event_is_400(pool: PgPool) {
    let s = setup(pool).await;
    let body = "[1, 2, 3]";
    let r = deliver_raw(
        &s.webhooks.router,
        body,
        "delivery-1",
        Some(sign(&s.wise, body.as_bytes())),
    )
    .await;
    assert_problem(&r, StatusCode::BAD_REQUEST, "malformed_event");
    assert_eq!(
        count(&s, "SELECT count(*) FROM wise_webhook_deliveries").await,
        0
    );
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn without_wise_public_key_deliveries_are_503(pool: PgPool) {
    let router = webhooks::app(shared::testing::state_as(
        pool,
        shared::db::Login::Worker,
        &[],
    ));
    let r = deliver_raw(&router, "{}", "delivery-1", Some("c2ln".into())).await;
    assert_problem(
        &r,
        StatusCode::SERVICE_UNAVAILABLE,
        "webhooks_not_configured",
    );
}
