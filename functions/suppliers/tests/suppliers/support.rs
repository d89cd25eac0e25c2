//! What the suppliers tests share: the function on the test's database, and bodies they send.

use serde_json::{Value, json};
use shared::testing::{Registered, TestApp};
use sqlx::PgPool;

/// The suppliers function, logged in to the test's database as it is deployed.
pub fn app(pool: PgPool) -> TestApp {
    app_with(pool, &[])
}

/// [`app`] with setting overrides (`SMTP_URL`, ...).
pub fn app_with(pool: PgPool, settings: &[(&str, &str)]) -> TestApp {
    let state = shared::testing::state_as(pool.clone(), shared::db::Login::Tenant, settings);
    TestApp::new(suppliers::app(state), pool)
}

pub fn iban_details() -> Value {
    json!({"account_holder_name": "Acme Tools GmbH", "currency": "EUR", "type": "iban",
           "details": {"iban": "DE89 3704 0044 0532 0130 00"}})
}

/// A second valid IBAN (ending 5432).
pub fn other_iban_details() -> Value {
    json!({"account_holder_name": "Acme Tools Ltd", "currency": "GBP", "type": "iban",
           "details": {"iban": "GB82 WEST 1234 5698 7654 32"}})
}

/// `POST /api/suppliers` as `org`'s owner; with a step-up when it sets payment details, as the
/// API requires.
pub async fn create(app: &TestApp, org: &Registered, body: Value) -> Value {
    let r = if body.get("payment_details").is_some() {
        app.by(&org.token)
            .stepped_up()
            .post("/api/suppliers", body)
            .await
    } else {
        app.by(&org.token).post("/api/suppliers", body).await
    };
    assert_eq!(r.status, 201, "{}", r.body);
    r.body
}
