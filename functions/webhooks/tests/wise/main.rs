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

mod deliveries;
mod profiles;
mod transfer_states;

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
    setup_with(pool, &[]).await
}

/// [`setup`], with more settings.
async fn setup_with(pool: PgPool, settings: &[(&str, &str)]) -> Setup {
    let (wise, public_pem) = key_pair();
    let mut overrides = vec![("WISE_WEBHOOK_PUBLIC_KEY", public_pem.as_str())];
    overrides.extend_from_slice(settings);
    let state = shared::testing::state_as(pool.clone(), shared::db::Login::Worker, &overrides);
    let webhooks = TestApp::new(webhooks::app(state), pool.clone());
    let org: Uuid = webhooks
        .register("ann@example.com")
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
