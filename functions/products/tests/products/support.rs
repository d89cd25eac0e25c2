//! What the products tests share: the function under test and seed data.

use serde_json::{Value, json};
use shared::testing::{Registered, TestApp};
use sqlx::PgPool;

pub fn app(pool: PgPool) -> TestApp {
    let state = shared::testing::state_as(pool.clone(), shared::db::Login::Tenant, &[]);
    TestApp::new(products::app(state), pool)
}

/// A supplier with one primary contact, straight into the database.
pub async fn supplier(app: &TestApp, org: &Registered, name: &str) -> String {
    let id: uuid::Uuid = sqlx::query_scalar(
        "INSERT INTO suppliers (org_id, name) VALUES ($1::uuid, $2) RETURNING id",
    )
    .bind(&org.org_id)
    .bind(name)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    sqlx::query("INSERT INTO supplier_contacts (org_id, supplier_id, name, email, phone, is_primary) VALUES ($1::uuid, $2, 'Pat Primary', 'pat@supplier.example', '+44 1', true)")
        .bind(&org.org_id)
        .bind(id)
        .execute(&app.pool)
        .await
        .unwrap();
    id.to_string()
}

pub fn product(sku: &str, price: &str) -> Value {
    json!({"sku": sku, "name": format!("Product {sku}"), "price": price, "currency": "EUR"})
}
