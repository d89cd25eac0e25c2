#![allow(dead_code)]

pub mod fake_wise;

use serde_json::{Value, json};
use shared::testing::{TestApp, TestResponse};
use sqlx::PgPool;

pub struct Apps {
    pub auth: TestApp,
    pub inventory: TestApp,
    pub pool: PgPool,
}

pub fn apps(pool: PgPool) -> Apps {
    apps_with(pool, &[])
}

/// As [`apps`], with setting overrides (the Wise settings of a fake Wise...).
pub fn apps_with(pool: PgPool, overrides: &[(&str, &str)]) -> Apps {
    let state = shared::testing::state_as(pool.clone(), shared::db::Login::Tenant, overrides);
    Apps {
        auth: TestApp::new(
            auth::app(shared::testing::state_as(
                pool.clone(),
                shared::db::Login::Auth,
                overrides,
            )),
            pool.clone(),
        ),
        inventory: TestApp::new(inventory::app(state), pool.clone()),
        pool,
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

/// Connects `org` to the Wise account of `token` with `profile`, as `PUT /api/payments/wise`
/// stores it (the token sealed with the test keys).
pub async fn connect(apps: &Apps, org: &Org, token: &str, profile: i64) {
    let org_id: uuid::Uuid = org.id.parse().unwrap();
    let sealed = shared::wise::connection::seal_token(
        &shared::testing::settings(&[]).keys.snapshot(),
        org_id,
        token,
    );
    sqlx::query(
        "INSERT INTO wise_connections
             (org_id, api_token, token_hint, profile_id, profile_type, profile_name, connected_by)
         SELECT $1, $2, right($3, 4), $4, 'BUSINESS', 'Test', id FROM users
         WHERE org_id = $1 AND role = 'owner' LIMIT 1",
    )
    .bind(org_id)
    .bind(sealed)
    .bind(token)
    .bind(profile)
    .execute(&apps.pool)
    .await
    .unwrap();
}

pub async fn product(apps: &Apps, org: &Org, sku: &str, reorder_point: i32) -> String {
    let id: uuid::Uuid = sqlx::query_scalar(
        "INSERT INTO products (org_id, sku, name, price, currency, reorder_point) VALUES ($1::uuid, $2, $2, 1, 'EUR', $3) RETURNING id",
    )
    .bind(&org.id)
    .bind(sku)
    .bind(reorder_point)
    .fetch_one(&apps.pool)
    .await
    .unwrap();
    id.to_string()
}

pub async fn supplier(apps: &Apps, org: &Org) -> String {
    let id: uuid::Uuid = sqlx::query_scalar(
        "INSERT INTO suppliers (org_id, name) VALUES ($1::uuid, 'Acme') RETURNING id",
    )
    .bind(&org.id)
    .fetch_one(&apps.pool)
    .await
    .unwrap();
    id.to_string()
}

pub async fn post(apps: &Apps, org: &Org, path: &str, body: Value) -> TestResponse {
    apps.inventory.post_with(path, body, &org.token).await
}

pub async fn receive(apps: &Apps, org: &Org, product: &str, quantity: i32) {
    let r = post(apps, org, "/api/inventory/movements", json!({"kind": "receive", "product_id": product, "quantity": quantity, "reason": "opening stock"})).await;
    assert_eq!(r.status, 201, "{}", r.body);
}

pub async fn on_hand_and_reserved(apps: &Apps, product: &str) -> (i32, i32) {
    sqlx::query_as("SELECT coalesce(sum(on_hand), 0)::int, coalesce(sum(reserved), 0)::int FROM stock_levels WHERE product_id = $1::uuid")
        .bind(product)
        .fetch_one(&apps.pool)
        .await
        .unwrap()
}
