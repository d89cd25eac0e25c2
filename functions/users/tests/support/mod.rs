//! Two functions over one test database: auth (to register and sign in) and users.
#![allow(dead_code)]

use std::sync::atomic::{AtomicU32, Ordering};

use axum::Router;
use axum::routing::get;
use http::Method;
use serde_json::{Value, json};
use shared::auth::Require;
use shared::auth::caller::{Products, Read, Write};
use shared::testing::{TestApp, TestResponse};
use sqlx::PgPool;

pub const PASSWORD: &str = "Corr3ct-horse";

pub struct Apps {
    pub auth: TestApp,
    pub users: TestApp,
    /// Routes guarded by module permissions, to see what a caller can reach.
    pub probe: TestApp,
    pub pool: PgPool,
}

pub fn apps(pool: PgPool) -> Apps {
    apps_with(pool, &[])
}

pub fn apps_with(pool: PgPool, settings: &[(&str, &str)]) -> Apps {
    let state = shared::testing::state_as(pool.clone(), shared::db::Login::Tenant, settings);
    let probe = Router::new()
        .route(
            "/probe/products/read",
            get(|_: Require<Products, Read>| async { "ok" }),
        )
        .route(
            "/probe/products/write",
            get(|_: Require<Products, Write>| async { "ok" }),
        )
        .with_state(state.clone());
    Apps {
        auth: TestApp::new(
            auth::app(shared::testing::state_as(
                pool.clone(),
                shared::db::Login::Auth,
                settings,
            )),
            pool.clone(),
        ),
        users: TestApp::new(users::app(state), pool.clone()),
        probe: TestApp::new(
            shared::http::layers(
                probe,
                &shared::testing::settings(&[]).http,
                utoipa::openapi::OpenApi::default,
            ),
            pool.clone(),
        ),
        pool,
    }
}

/// A fresh client IP per sign-in, so the per-IP login limit never interferes.
fn next_ip() -> String {
    static N: AtomicU32 = AtomicU32::new(1);
    let n = N.fetch_add(1, Ordering::Relaxed);
    format!("10.{}.{}.{}", (n >> 16) & 255, (n >> 8) & 255, n & 255)
}

pub struct Member {
    pub id: String,
    pub org_id: String,
    pub token: String,
}

/// Registers an organization; returns its owner.
pub async fn owner(apps: &Apps, email: &str) -> Member {
    let body = json!({"organization_name": format!("Org of {email}"), "name": "Owner", "email": email, "password": PASSWORD});
    let response = apps
        .auth
        .request_from(
            Method::POST,
            "/api/auth/register",
            Some(body),
            None,
            Some(&next_ip()),
        )
        .await;
    assert_eq!(response.status, 201, "{}", response.body);
    Member {
        id: response.body["user"]["id"].as_str().unwrap().to_owned(),
        org_id: response.body["organization"]["id"]
            .as_str()
            .unwrap()
            .to_owned(),
        token: response.body["access_token"].as_str().unwrap().to_owned(),
    }
}

pub async fn login(apps: &Apps, email: &str, password: &str) -> TestResponse {
    let body = json!({"email": email, "password": password});
    apps.auth
        .request_from(
            Method::POST,
            "/api/auth/login",
            Some(body),
            None,
            Some(&next_ip()),
        )
        .await
}

/// Adds a member with a password through the API and signs them in; an owner or admin is added
/// with a step-up, as the API requires.
pub async fn member(
    apps: &Apps,
    admin: &Member,
    email: &str,
    role: &str,
    permissions: Value,
) -> Member {
    let body = json!({"email": email, "name": "Member", "role": role, "permissions": permissions, "password": PASSWORD});
    let created = if matches!(role, "owner" | "admin") {
        apps.users
            .stepped_up(Method::POST, "/api/users", Some(body), &admin.token)
            .await
    } else {
        apps.users.post_with("/api/users", body, &admin.token).await
    };
    assert_eq!(created.status, 201, "{}", created.body);
    let session = login(apps, email, PASSWORD).await;
    assert_eq!(session.status, 200, "{}", session.body);
    Member {
        id: created.body["id"].as_str().unwrap().to_owned(),
        org_id: admin.org_id.clone(),
        token: session.body["access_token"].as_str().unwrap().to_owned(),
    }
}

pub async fn patch(apps: &Apps, token: &str, path: &str, body: Value) -> TestResponse {
    apps.users
        .request(Method::PATCH, path, Some(body), Some(token))
        .await
}

/// [`patch`] with a step-up of the holder of `token`: for role and permission changes.
pub async fn patch_stepped_up(apps: &Apps, token: &str, path: &str, body: Value) -> TestResponse {
    apps.users
        .stepped_up(Method::PATCH, path, Some(body), token)
        .await
}

/// `POST /api/api-keys` with a step-up of the holder of `token`.
pub async fn create_api_key(apps: &Apps, token: &str, body: Value) -> TestResponse {
    apps.users
        .stepped_up(Method::POST, "/api/api-keys", Some(body), token)
        .await
}
