//! Tenant isolation as a tested property: every route that takes an id, called by another
//! organization's admin, answers 404 and changes nothing; lists never show foreign rows; and
//! row-level security confines even a query that forgets its organization filter.

mod support;

use axum::extract::FromRequestParts;
use http::{Method, StatusCode};
use serde_json::{Value, json};
use shared::auth::Tenant;
use shared::testing::assert_problem;
use sqlx::PgPool;
use support::*;

async fn snapshot(pool: &PgPool) -> Value {
    let users: Vec<(String, String, bool, String)> =
        sqlx::query_as("SELECT email, role::text, is_active, name FROM users ORDER BY email")
            .fetch_all(pool)
            .await
            .unwrap();
    let keys: Vec<(String, bool)> =
        sqlx::query_as("SELECT name, revoked_at IS NOT NULL FROM api_keys ORDER BY name")
            .fetch_all(pool)
            .await
            .unwrap();
    json!({"users": users, "keys": keys})
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn another_organizations_ids_are_404_on_every_route_and_nothing_changes(pool: PgPool) {
    let apps = apps(pool.clone());
    let alice = owner(&apps, "alice@a.example").await;
    let bruno = owner(&apps, "bruno@b.example").await;
    let b_user = member(&apps, &bruno, "staff@b.example", "user", json!({})).await;
    let b_key = apps
        .users
        .post_with(
            "/api/api-keys",
            json!({"name": "B till", "scopes": ["products:read"]}),
            &bruno.token,
        )
        .await;
    let b_key = b_key.body["id"].as_str().unwrap().to_owned();

    let before = snapshot(&pool).await;
    let matrix: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, format!("/api/users/{}", b_user.id), None),
        (
            Method::PATCH,
            format!("/api/users/{}", b_user.id),
            Some(json!({"name": "Hijacked", "role": "admin"})),
        ),
        (
            Method::POST,
            format!("/api/users/{}/deactivate", b_user.id),
            None,
        ),
        (
            Method::POST,
            format!("/api/users/{}/reactivate", b_user.id),
            None,
        ),
        (Method::GET, format!("/api/users/{}", bruno.id), None),
        (
            Method::PATCH,
            format!("/api/users/{}", bruno.id),
            Some(json!({"is_active": false})),
        ),
        (Method::DELETE, format!("/api/api-keys/{b_key}"), None),
    ];
    for (method, path, body) in matrix {
        let response = apps
            .users
            .request(method.clone(), &path, body, Some(&alice.token))
            .await;
        assert_problem(&response, StatusCode::NOT_FOUND, "not_found");
        assert_eq!(
            snapshot(&pool).await,
            before,
            "{method} {path} changed something"
        );
    }

    let users = apps
        .users
        .get_with("/api/users?include_total=true", &alice.token)
        .await;
    assert_eq!(users.body["total"], 1);
    let keys = apps.users.get_with("/api/api-keys", &alice.token).await;
    assert_eq!(keys.body["items"].as_array().unwrap().len(), 0);
    let log = apps
        .users
        .get_with(
            &format!("/api/audit-log?entity_id={}", b_user.id),
            &alice.token,
        )
        .await;
    assert_eq!(log.body["items"].as_array().unwrap().len(), 0);
}

/// A tenant connection exactly as a handler gets it, for org `member`.
async fn tenant_for(apps: &Apps, member: &Member) -> Tenant {
    let request = http::Request::get("/")
        .header("authorization", format!("Bearer {}", member.token))
        .body(())
        .unwrap();
    let (mut parts, ()) = request.into_parts();
    let state = shared::testing::state(apps.pool.clone());
    Tenant::from_request_parts(&mut parts, &state)
        .await
        .expect("a tenant")
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn row_level_security_confines_a_query_without_an_org_filter(pool: PgPool) {
    let apps = apps(pool.clone());
    let alice = owner(&apps, "alice@a.example").await;
    let bruno = owner(&apps, "bruno@b.example").await;
    member(&apps, &bruno, "staff@b.example", "user", json!({})).await;

    let mut tenant = tenant_for(&apps, &alice).await;
    // Deliberately no WHERE org_id = ...: RLS still shows only Alice's organization.
    let emails: Vec<String> = sqlx::query_scalar("SELECT email FROM users ORDER BY email")
        .fetch_all(&mut *tenant.db)
        .await
        .unwrap();
    assert_eq!(emails, ["alice@a.example"]);
    let orgs: i64 = sqlx::query_scalar("SELECT count(*) FROM organizations")
        .fetch_one(&mut *tenant.db)
        .await
        .unwrap();
    assert_eq!(orgs, 1);
    let audit: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE org_id <> $1::uuid")
        .bind(&alice.org_id)
        .fetch_one(&mut *tenant.db)
        .await
        .unwrap();
    assert_eq!(audit, 0);

    // Writes are confined too: an unfiltered UPDATE touches only Alice's rows...
    let touched = sqlx::query("UPDATE users SET name = 'Renamed'")
        .execute(&mut *tenant.db)
        .await
        .unwrap();
    assert_eq!(touched.rows_affected(), 1);
    // ...and a row for another organization cannot be written.
    let foreign = sqlx::query(
        "INSERT INTO users (org_id, email, name) VALUES ($1::uuid, 'x@b.example', 'X')",
    )
    .bind(&bruno.org_id)
    .execute(&mut *tenant.db)
    .await;
    assert!(
        foreign.is_err(),
        "RLS WITH CHECK refuses another organization's row"
    );
    drop(tenant);

    let bruno_names: Vec<String> =
        sqlx::query_scalar("SELECT name FROM users WHERE org_id = $1::uuid")
            .bind(&bruno.org_id)
            .fetch_all(&pool)
            .await
            .unwrap();
    assert!(bruno_names.iter().all(|n| n != "Renamed"));
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_released_connection_is_reset_for_the_next_request(pool: PgPool) {
    let apps = apps(pool.clone());
    let alice = owner(&apps, "alice@a.example").await;
    let state = shared::testing::state(pool.clone());
    let request = http::Request::get("/")
        .header("authorization", format!("Bearer {}", alice.token))
        .body(())
        .unwrap();
    let (mut parts, ()) = request.into_parts();
    let tenant = Tenant::from_request_parts(&mut parts, &state)
        .await
        .unwrap();
    drop(tenant);
    // The pool is the one the handlers use; every connection it hands out next is clean.
    for _ in 0..4 {
        let mut conn = state.pool.acquire().await.unwrap();
        let (user, org): (String, Option<String>) = sqlx::query_as(
            "SELECT current_user::text, nullif(current_setting('app.org_id', true), '')",
        )
        .fetch_one(&mut *conn)
        .await
        .unwrap();
        assert_ne!(user, "stockroom_app");
        assert_eq!(org, None);
    }
}

/// Every table the tenant role can touch has row-level security and a policy, and every view it
/// can read runs as its caller (`security_invoker`), so the policies apply through it. A table
/// added without them (default privileges grant it to the tenant role) fails here.
#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn every_relation_the_tenant_role_can_touch_is_confined(pool: PgPool) {
    let unconfined: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm')
           AND has_table_privilege('stockroom_app', c.oid, 'SELECT, INSERT, UPDATE, DELETE')
           AND NOT (c.relkind IN ('r', 'p') AND c.relrowsecurity
                    AND EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid))
           AND NOT (c.relkind = 'v'
                    AND coalesce(c.reloptions @> ARRAY['security_invoker=true'], false))
         ORDER BY 1",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert!(unconfined.is_empty(), "not confined by RLS: {unconfined:?}");

    // And as a handler gets it: the sign-in tables are out of reach of a tenant session.
    let apps = apps(pool.clone());
    let alice = owner(&apps, "alice@a.example").await;
    let mut tenant = tenant_for(&apps, &alice).await;
    for table in [
        "password_reset_tokens",
        "mfa_recovery_codes",
        "_sqlx_migrations",
    ] {
        let read = sqlx::query(&format!("SELECT 1 FROM {table} LIMIT 1"))
            .fetch_optional(&mut *tenant.db)
            .await;
        assert!(read.is_err(), "a tenant session read {table}");
    }
}
