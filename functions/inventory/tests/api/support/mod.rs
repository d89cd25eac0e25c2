//! What the inventory tests share: the function on the test's database, and rows they seed.

pub mod fake_wise;
pub mod lots;

use serde_json::json;
use shared::testing::{Registered, TestApp};
use sqlx::PgPool;

/// The inventory function, logged in to the test's database as it is deployed.
pub fn app(pool: PgPool) -> TestApp {
    app_with(pool, &[])
}

/// As [`app`], with setting overrides (the Wise settings of a fake Wise...).
pub fn app_with(pool: PgPool, overrides: &[(&str, &str)]) -> TestApp {
    let state = shared::testing::state_as(pool.clone(), shared::db::Login::Tenant, overrides);
    TestApp::new(inventory::app(state), pool)
}

/// Connects `org` to the Wise account of `token` with `profile`, as `PUT /api/payments/wise`
/// stores it (the token sealed with the test keys).
pub async fn connect(app: &TestApp, org: &Registered, token: &str, profile: i64) {
    let org_id: uuid::Uuid = org.org_id.parse().unwrap();
    let sealed = shared::wise::connection::seal_token(
        &shared::testing::settings(&[]).keys.snapshot(),
        org_id,
        token,
    );
    sqlx::query(
        "INSERT INTO wise_connections
             (org_id, api_token, token_hint, profile_id, profile_type, profile_name, connected_by)
         SELECT $1, $2, right($3, 4), $4, 'BUSINESS', 'Test', user_id FROM memberships
         WHERE org_id = $1 AND role = 'owner' LIMIT 1",
    )
    .bind(org_id)
    .bind(sealed)
    .bind(token)
    .bind(profile)
    .execute(&app.pool)
    .await
    .unwrap();
}

pub async fn product(app: &TestApp, org: &Registered, sku: &str, reorder_point: i32) -> String {
    let id: uuid::Uuid = sqlx::query_scalar(
        "INSERT INTO products (org_id, sku, name, price, currency, reorder_point) VALUES ($1::uuid, $2, $2, 1, 'EUR', $3) RETURNING id",
    )
    .bind(&org.org_id)
    .bind(sku)
    .bind(reorder_point)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    id.to_string()
}

pub async fn supplier(app: &TestApp, org: &Registered) -> String {
    let id: uuid::Uuid = sqlx::query_scalar(
        "INSERT INTO suppliers (org_id, name) VALUES ($1::uuid, 'Acme') RETURNING id",
    )
    .bind(&org.org_id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    id.to_string()
}

pub async fn receive(app: &TestApp, org: &Registered, product: &str, quantity: i32) {
    let r = app.by(org).post("/api/inventory/movements", json!({"kind": "receive", "product_id": product, "quantity": quantity, "reason": "opening stock"})).await;
    assert_eq!(r.status, 201, "{}", r.body);
}

pub async fn on_hand_and_reserved(app: &TestApp, product: &str) -> (i32, i32) {
    sqlx::query_as("SELECT coalesce(sum(on_hand), 0)::int, coalesce(sum(reserved), 0)::int FROM stock_levels WHERE product_id = $1::uuid")
        .bind(product)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}
