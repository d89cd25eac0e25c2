#![allow(dead_code)]

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
    shared::testing::member(&apps.auth, &org.id, email, json!({"suppliers": "read"}))
        .await
        .token
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
