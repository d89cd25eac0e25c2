#![allow(dead_code)]

use serde_json::{Value, json};
use shared::testing::{TestApp, TestResponse};
use sqlx::PgPool;

pub struct Apps {
    pub auth: TestApp,
    pub products: TestApp,
    pub pool: PgPool,
}

pub fn apps(pool: PgPool) -> Apps {
    let state = shared::testing::state_as(pool.clone(), shared::db::Login::Tenant, &[]);
    Apps {
        auth: TestApp::new(
            auth::app(shared::testing::state_as(
                pool.clone(),
                shared::db::Login::Auth,
                &[],
            )),
            pool.clone(),
        ),
        products: TestApp::new(products::app(state), pool.clone()),
        pool,
    }
}

pub struct Org {
    pub id: String,
    pub token: String,
}

/// A new organization; returns its owner's token.
pub async fn org(apps: &Apps, email: &str) -> Org {
    let registered = shared::testing::register(&apps.auth, email).await;
    Org {
        id: registered.org_id,
        token: registered.token,
    }
}

/// A member of `org` with the given module permissions; returns their token.
pub async fn member(apps: &Apps, org: &Org, email: &str, permissions: Value) -> String {
    shared::testing::member(&apps.auth, &org.id, email, permissions)
        .await
        .token
}

/// A supplier with one primary contact, straight into the database.
pub async fn supplier(apps: &Apps, org: &Org, name: &str) -> String {
    let id: uuid::Uuid = sqlx::query_scalar(
        "INSERT INTO suppliers (org_id, name) VALUES ($1::uuid, $2) RETURNING id",
    )
    .bind(&org.id)
    .bind(name)
    .fetch_one(&apps.pool)
    .await
    .unwrap();
    sqlx::query("INSERT INTO supplier_contacts (org_id, supplier_id, name, email, phone, is_primary) VALUES ($1::uuid, $2, 'Pat Primary', 'pat@supplier.example', '+44 1', true)")
        .bind(&org.id)
        .bind(id)
        .execute(&apps.pool)
        .await
        .unwrap();
    id.to_string()
}

pub fn product(sku: &str, price: &str) -> Value {
    json!({"sku": sku, "name": format!("Product {sku}"), "price": price, "currency": "EUR"})
}

pub async fn create(apps: &Apps, org: &Org, body: Value) -> TestResponse {
    apps.products
        .post_with("/api/products", body, &org.token)
        .await
}

pub async fn created(apps: &Apps, org: &Org, body: Value) -> Value {
    let r = create(apps, org, body).await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body
}
