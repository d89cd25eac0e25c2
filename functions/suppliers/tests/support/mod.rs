#![allow(dead_code)]

use http::Method;
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
    let state = shared::testing::state(pool.clone());
    Apps {
        auth: TestApp::new(auth::app(state.clone()), pool.clone()),
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
    let hash = shared::auth::password::Password::new("Corr3ct-horse".into(), "p")
        .unwrap()
        .hash()
        .await
        .unwrap();
    sqlx::query("INSERT INTO users (org_id, email, name, password_hash, role, permissions) VALUES ($1::uuid, $2, 'R', $3, 'user', '{\"suppliers\": \"read\"}')")
        .bind(&org.id)
        .bind(email)
        .bind(hash)
        .execute(&apps.pool)
        .await
        .unwrap();
    let r = apps
        .auth
        .request_from(
            Method::POST,
            "/api/auth/login",
            Some(json!({"email": email, "password": "Corr3ct-horse"})),
            None,
            Some(&shared::testing::next_client_ip()),
        )
        .await;
    r.body["access_token"].as_str().unwrap().into()
}

pub fn iban_details() -> Value {
    json!({"account_holder_name": "Acme Tools GmbH", "currency": "EUR", "type": "iban",
           "details": {"iban": "DE89 3704 0044 0532 0130 00"}})
}

pub async fn create(apps: &Apps, org: &Org, body: Value) -> Value {
    let r = apps
        .suppliers
        .post_with("/api/suppliers", body, &org.token)
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body
}
