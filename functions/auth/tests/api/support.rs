//! Shared set-up for the auth tests.

use serde_json::{Value, json};
pub use shared::testing::{PASSWORD, totp_code};
use shared::testing::{TestApp, TestResponse};
use sqlx::PgPool;

pub fn app(pool: PgPool) -> TestApp {
    app_with(pool, &[])
}

pub fn app_with(pool: PgPool, settings: &[(&str, &str)]) -> TestApp {
    let state = shared::testing::state_as(pool.clone(), shared::db::Login::Auth, settings);
    TestApp::new(auth::app(state), pool)
}

pub async fn register(app: &TestApp, email: &str) -> TestResponse {
    app.post(
        "/api/auth/register",
        json!({"organization_name": "Acme Tools", "name": "Ann Owner", "email": email, "password": PASSWORD}),
    )
    .await
}

pub async fn login(app: &TestApp, email: &str, password: &str) -> TestResponse {
    app.post(
        "/api/auth/login",
        json!({"email": email, "password": password}),
    )
    .await
}

/// Registers, confirms the address with the link the registration mailed, and returns the
/// session body (tokens, user, organization).
pub async fn signed_up(app: &TestApp, email: &str) -> Value {
    let response = register(app, email).await;
    assert_eq!(response.status, 202, "{}", response.body);
    let response = confirm(app, email).await;
    assert_eq!(response.status, 200, "{}", response.body);
    response.body
}

/// Confirms the last registration mailed to `email`.
pub async fn confirm(app: &TestApp, email: &str) -> TestResponse {
    let token = shared::testing::mailed_token(&app.pool, email, "/confirm-registration").await;
    app.post("/api/auth/register/confirm", json!({"token": token}))
        .await
}

pub fn token(body: &Value, name: &str) -> String {
    body[name]
        .as_str()
        .unwrap_or_else(|| panic!("{name} in {body}"))
        .to_owned()
}

/// Audit actions recorded for a user, oldest first.
pub async fn audit_actions(pool: &PgPool, user_id: &str) -> Vec<String> {
    let user_id: uuid::Uuid = user_id.parse().unwrap();
    sqlx::query_scalar::<_, String>("SELECT action FROM audit_log WHERE entity_id = $1 ORDER BY id")
        .bind(user_id)
        .fetch_all(pool)
        .await
        .unwrap()
}
