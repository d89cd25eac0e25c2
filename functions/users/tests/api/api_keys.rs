//! API keys: created with a step-up, shown once, scoped, listed and revoked.
//!
//! Routes: `GET /api/api-keys`, `POST /api/api-keys`, `DELETE /api/api-keys/{id}`.

use http::{Method, StatusCode};
use serde_json::json;
use shared::testing::{Registered, assert_problem};
use sqlx::PgPool;

use crate::support::*;

async fn create_key(
    apps: &Apps,
    admin: &Registered,
    scopes: serde_json::Value,
) -> serde_json::Value {
    let response = apps
        .users
        .by(&admin.token)
        .stepped_up()
        .post("/api/api-keys", json!({"name": "Till", "scopes": scopes}))
        .await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.body);
    response.body
}

async fn probe_with_key(
    apps: &Apps,
    path: &str,
    key: &str,
    header: &str,
) -> shared::testing::TestResponse {
    let request = http::Request::get(path)
        .header(
            header,
            if header == "authorization" {
                format!("Bearer {key}")
            } else {
                key.to_owned()
            },
        )
        .body(axum::body::Body::empty())
        .unwrap();
    shared::testing::send(&apps.probe.router, request).await
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_key_is_shown_once_and_acts_within_its_scopes(pool: PgPool) {
    let apps = apps(pool.clone());
    let ann = apps.users.register("ann@example.com").await;
    let created = create_key(&apps, &ann, json!(["products:read"])).await;
    let key = created["key"].as_str().unwrap();
    assert!(key.starts_with("sk_"));
    assert_eq!(created["prefix"], &key[..10]);
    assert_eq!(created["scopes"], json!(["products:read"]));

    for header in ["x-api-key", "authorization"] {
        assert_eq!(
            probe_with_key(&apps, "/probe/products/read", key, header)
                .await
                .status,
            StatusCode::OK
        );
        let write = probe_with_key(&apps, "/probe/products/write", key, header).await;
        assert_problem(&write, StatusCode::FORBIDDEN, "missing_permission");
    }

    let list = apps.users.by(&ann.token).get("/api/api-keys").await;
    let listed = &list.body["items"][0];
    assert_eq!(listed["prefix"], created["prefix"]);
    assert!(listed["last_used_at"].is_string(), "{listed}");
    assert!(
        !list.body.to_string().contains(key),
        "the secret is never listed"
    );
    let stored: Vec<u8> = sqlx::query_scalar("SELECT key_hash FROM api_keys")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(stored, shared::auth::tokens::hash(key));
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_revoked_key_is_refused_at_once(pool: PgPool) {
    let apps = apps(pool);
    let ann = apps.users.register("ann@example.com").await;
    let created = create_key(&apps, &ann, json!(["products:write"])).await;
    let key = created["key"].as_str().unwrap();
    assert_eq!(
        probe_with_key(&apps, "/probe/products/write", key, "x-api-key")
            .await
            .status,
        StatusCode::OK
    );
    let revoke = apps
        .users
        .by(&ann.token)
        .delete(&format!(
            "/api/api-keys/{}",
            created["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(revoke.status, StatusCode::NO_CONTENT);
    let after = probe_with_key(&apps, "/probe/products/write", key, "x-api-key").await;
    assert_problem(&after, StatusCode::UNAUTHORIZED, "invalid_api_key");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn an_expired_key_is_refused(pool: PgPool) {
    let apps = apps(pool.clone());
    let ann = apps.users.register("ann@example.com").await;
    let created = create_key(&apps, &ann, json!(["products:read"])).await;
    sqlx::query("UPDATE api_keys SET expires_at = now() - interval '1 second'")
        .execute(&pool)
        .await
        .unwrap();
    let response = probe_with_key(
        &apps,
        "/probe/products/read",
        created["key"].as_str().unwrap(),
        "x-api-key",
    )
    .await;
    assert_problem(&response, StatusCode::UNAUTHORIZED, "invalid_api_key");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_key_cannot_administer_the_organization(pool: PgPool) {
    let apps = apps(pool);
    let ann = apps.users.register("ann@example.com").await;
    let created = create_key(&apps, &ann, json!(["products:write", "reports:write"])).await;
    let request = http::Request::get("/api/users")
        .header("x-api-key", created["key"].as_str().unwrap())
        .body(axum::body::Body::empty())
        .unwrap();
    let response = shared::testing::send(&apps.users.router, request).await;
    assert_problem(&response, StatusCode::FORBIDDEN, "admin_required");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn invalid_scopes_and_expiry_are_422(pool: PgPool) {
    let apps = apps(pool.clone());
    let ann = apps.users.register("ann@example.com").await;
    let response = apps.users.by(&ann.token).stepped_up().post("/api/api-keys", json!({"name": "x", "scopes": ["weapons:read", "products:admin"], "expires_in_days": 0}))
    .await;
    assert_problem(
        &response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    let fields: Vec<&str> = response.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["scopes[0]", "scopes[1]", "expires_in_days"]);
    let keys: i64 = sqlx::query_scalar("SELECT count(*) FROM api_keys")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(keys, 0);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn keys_are_listable_by_prefix_and_creation_is_audited(pool: PgPool) {
    let apps = apps(pool);
    let ann = apps.users.register("ann@example.com").await;
    let a = create_key(&apps, &ann, json!(["tasks:read"])).await;
    create_key(&apps, &ann, json!(["tasks:read"])).await;
    let prefix = a["prefix"].as_str().unwrap();
    let list = apps
        .users
        .by(&ann.token)
        .get(&format!("/api/api-keys?prefix={prefix}"))
        .await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 1);
    let log = apps
        .users
        .by(&ann.token)
        .get("/api/audit-log?entity=api_key")
        .await;
    assert_eq!(log.body["items"].as_array().unwrap().len(), 2);
    assert!(!log.body.to_string().contains(a["key"].as_str().unwrap()));
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_key_can_expire_after_a_number_of_days(pool: PgPool) {
    let apps = apps(pool);
    let ann = apps.users.register("ann@example.com").await;
    let response = apps
        .users
        .by(&ann.token)
        .stepped_up()
        .post(
            "/api/api-keys",
            json!({"name": "Temp", "scopes": ["products:read"], "expires_in_days": 30}),
        )
        .await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.body);
    let expires_at: chrono::DateTime<chrono::Utc> = response.body["expires_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let days = (expires_at - chrono::Utc::now()).num_minutes() as f64 / 1440.0;
    assert!((29.99..=30.0).contains(&days), "{days}");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn creating_a_key_needs_a_step_up(pool: PgPool) {
    let apps = apps(pool.clone());
    let ann = apps.users.register("ann@example.com").await;
    let body = json!({"name": "Till", "scopes": ["products:read"]});
    let refused = apps
        .users
        .by(&ann.token)
        .post("/api/api-keys", body.clone())
        .await;
    assert_problem(&refused, StatusCode::UNAUTHORIZED, "step_up_required");
    let keys = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM api_keys")
            .fetch_one(&pool)
            .await
            .unwrap()
    };
    assert_eq!(keys().await, 0);
    let garbage = apps
        .users
        .by(&ann.token)
        .header("X-Step-Up-Token", "not-a-token")
        .post("/api/api-keys", body.clone())
        .await;
    assert_problem(&garbage, StatusCode::UNAUTHORIZED, "step_up_required");
    assert_eq!(keys().await, 0);

    // A step-up made for another request does not count here.
    let send = |step_up: String| {
        let (apps, body, token) = (&apps, body.clone(), ann.token.clone());
        async move {
            apps.users
                .by(&token)
                .header("X-Step-Up-Token", &step_up)
                .post("/api/api-keys", body)
                .await
        }
    };
    let elsewhere = shared::testing::step_up_token(&ann.token, "POST /api/users");
    assert_problem(
        &send(elsewhere).await,
        StatusCode::UNAUTHORIZED,
        "step_up_required",
    );
    assert_eq!(keys().await, 0);

    // With a valid step-up (what `POST /api/auth/step-up` returns; auth's tests cover that).
    let step_up = shared::testing::step_up_token(&ann.token, "POST /api/api-keys");
    let created = send(step_up.clone()).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert!(created.body["key"].as_str().unwrap().starts_with("sk_"));
    assert_eq!(keys().await, 1);
    // Once.
    assert_problem(
        &send(step_up).await,
        StatusCode::UNAUTHORIZED,
        "step_up_used",
    );
    assert_eq!(keys().await, 1);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn an_api_key_cannot_do_what_needs_a_step_up(pool: PgPool) {
    let apps = apps(pool.clone());
    let ann = apps.users.register("ann@example.com").await;
    let bob = apps
        .users
        .member(&ann.org_id, "bob@example.com", json!({}))
        .await;
    let created = create_key(&apps, &ann, json!(["products:write", "reports:write"])).await;
    let key = created["key"].as_str().unwrap();
    // Even carrying a valid step-up token of its creator's session.
    let step_up = shared::testing::step_up_token(&ann.token, "POST /api/api-keys");
    let as_key = |method: Method, path: String, body: serde_json::Value| {
        let request = http::Request::builder()
            .method(method)
            .uri(path)
            .header("x-api-key", key)
            .header("x-step-up-token", &step_up)
            .header("content-type", "application/json")
            .body(axum::body::Body::from(body.to_string()))
            .unwrap();
        shared::testing::send(&apps.users.router, request)
    };
    let snapshot = || async {
        sqlx::query_as::<_, (i64, String)>(
            "SELECT (SELECT count(*) FROM api_keys), \
                    (SELECT role::text FROM users WHERE email = 'bob@example.com')",
        )
        .fetch_one(&pool)
        .await
        .unwrap()
    };
    let before = snapshot().await;
    let new_key = as_key(
        Method::POST,
        "/api/api-keys".into(),
        json!({"name": "Mine", "scopes": ["products:read"]}),
    )
    .await;
    let promote = as_key(
        Method::PATCH,
        format!("/api/users/{}", bob.user_id),
        json!({"role": "admin"}),
    )
    .await;
    let add_admin = as_key(
        Method::POST,
        "/api/users".into(),
        json!({"email": "eve@example.com", "name": "Eve", "role": "admin"}),
    )
    .await;
    // Administration is for people: the key is refused before any step-up is looked at.
    for response in [&new_key, &promote, &add_admin] {
        assert_problem(response, StatusCode::FORBIDDEN, "admin_required");
    }
    assert_eq!(snapshot().await, before, "an API key changed nothing");
}
