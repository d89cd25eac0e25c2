use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::put;
use lambda_runtime::{Context, LambdaEvent};
use secrecy::SecretString;
use serde_json::{Value, json};
use shared::db::Login;
use sqlx::PgPool;
use sqlx::postgres::PgConnectOptions;

fn url_of(pool: &PgPool) -> migrate::Database {
    let url = SecretString::from(shared::testing::database_url(pool).to_string());
    database(shared::db::connect_options(&url, None).unwrap())
}

fn database(options: PgConnectOptions) -> migrate::Database {
    migrate::Database {
        options,
        statement_timeout: std::time::Duration::from_millis(5_000),
    }
}

#[sqlx::test(migrations = false)]
async fn pending_migrations_are_applied_once(pool: PgPool) {
    let url = url_of(&pool);
    let first = migrate::apply(&url).await.unwrap();
    assert_eq!(first.len(), shared::MIGRATOR.iter().count());
    assert!(
        first
            .iter()
            .any(|m| m.description == "organizations and users")
    );

    let second = migrate::apply(&url).await.unwrap();
    assert!(second.is_empty(), "{second:?}");

    let tables: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM information_schema.tables WHERE table_name IN ('organizations', 'users')",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(tables, 2);
}

#[sqlx::test(migrations = false)]
async fn a_plain_invocation_returns_what_it_applied(pool: PgPool) {
    let event = LambdaEvent::new(json!({}), Context::default());
    let out = migrate::handle(event, &url_of(&pool), &reqwest::Client::new())
        .await
        .unwrap();
    assert_eq!(
        out["applied"].as_array().unwrap().len(),
        shared::MIGRATOR.iter().count()
    );
}

/// Stands in for CloudFormation's pre-signed S3 URL and keeps what it received.
#[derive(Clone, Default)]
struct Received(Arc<Mutex<Vec<(HeaderMap, Value)>>>);

async fn cloudformation() -> (String, Received) {
    let received = Received::default();
    let app = Router::new()
        .route(
            "/response",
            put(
                |State(r): State<Received>, headers: HeaderMap, body: Bytes| async move {
                    r.0.lock()
                        .unwrap()
                        .push((headers, serde_json::from_slice(&body).unwrap()));
                },
            ),
        )
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/response", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, received)
}

fn custom_resource(request_type: &str, response_url: &str) -> LambdaEvent<Value> {
    let payload = json!({
        "RequestType": request_type,
        "ResponseURL": response_url,
        "StackId": "arn:aws:cloudformation:eu-west-1:123456789012:stack/stockroom/abc",
        "RequestId": "req-1",
        "ResourceType": "Custom::Migrations",
        "LogicalResourceId": "Migrations",
        "ServiceToken": "arn:aws:lambda:eu-west-1:123456789012:function:migrate",
        "ResourceProperties": {}
    });
    LambdaEvent::new(payload, Context::default())
}

#[sqlx::test(migrations = false)]
async fn a_deploy_applies_migrations_and_reports_success(pool: PgPool) {
    let (url, received) = cloudformation().await;
    let out = migrate::handle(
        custom_resource("Create", &url),
        &url_of(&pool),
        &reqwest::Client::new(),
    )
    .await
    .unwrap();
    assert_eq!(out["status"], "SUCCESS");

    let received = received.0.lock().unwrap();
    let (headers, body) = &received[0];
    assert_eq!(body["Status"], "SUCCESS");
    assert_eq!(body["RequestId"], "req-1");
    assert_eq!(body["LogicalResourceId"], "Migrations");
    assert_eq!(body["PhysicalResourceId"], "stockroom-migrations");
    assert_eq!(body["Data"]["Applied"], shared::MIGRATOR.iter().count());
    // S3 pre-signed URLs are signed without a content type.
    assert!(!headers.contains_key("content-type"));
}

#[tokio::test]
async fn a_failed_migration_reports_failure_to_cloudformation() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let unreachable = database(
        shared::db::connect_options(
            &SecretString::from(format!("postgres://postgres@127.0.0.1:{port}/none")),
            None,
        )
        .unwrap(),
    );
    let (url, received) = cloudformation().await;
    let out = migrate::handle(
        custom_resource("Update", &url),
        &unreachable,
        &reqwest::Client::new(),
    )
    .await
    .unwrap();
    assert_eq!(out["status"], "FAILED");
    let body = &received.0.lock().unwrap()[0].1;
    assert_eq!(body["Status"], "FAILED");
    assert!(
        body["Reason"]
            .as_str()
            .unwrap()
            .starts_with("migrations failed"),
        "{body}"
    );
}

#[tokio::test]
async fn deleting_the_stack_leaves_the_database_alone() {
    let unreachable = database(
        shared::db::connect_options(
            &SecretString::from("postgres://postgres@127.0.0.1:1/none".to_owned()),
            None,
        )
        .unwrap(),
    );
    let (url, received) = cloudformation().await;
    migrate::handle(
        custom_resource("Delete", &url),
        &unreachable,
        &reqwest::Client::new(),
    )
    .await
    .unwrap();
    assert_eq!(received.0.lock().unwrap()[0].1["Status"], "SUCCESS");
}

/// The functions' statement limit is the login role's default in the database, applied at
/// login: their connections carry no startup options (RDS Proxy refuses those).
#[sqlx::test(migrations = false)]
async fn the_statement_limit_is_left_as_the_roles_default(pool: PgPool) {
    let mut target = url_of(&pool);
    target.statement_timeout = std::time::Duration::from_millis(250);
    migrate::apply(&target).await.unwrap();

    let settings = shared::testing::settings(&[(
        "DATABASE_URL",
        shared::testing::database_url(&pool).as_str(),
    )]);
    let functions = shared::db::pool(&settings).unwrap();
    let limit: String = sqlx::query_scalar("SHOW statement_timeout")
        .fetch_one(&functions)
        .await
        .unwrap();
    assert_eq!(limit, "250ms");
    let options: String =
        sqlx::query_scalar("SELECT coalesce(current_setting('options', true), '')")
            .fetch_one(&functions)
            .await
            .unwrap();
    assert_eq!(options, "");
    let slow = sqlx::query("SELECT pg_sleep(1)")
        .execute(&functions)
        .await
        .unwrap_err();
    let answer = shared::ApiError::from(slow);
    assert_eq!(answer.status(), axum::http::StatusCode::SERVICE_UNAVAILABLE);

    // So do the functions' login roles (TENANT_, AUTH_ and WORKER_DATABASE_URL).
    for login in [Login::Tenant, Login::Auth, Login::Worker] {
        let url = shared::testing::login_url(&pool, login).await;
        let settings = shared::testing::settings(&[
            ("DATABASE_URL", "postgres://unused@localhost/unused"),
            ("TENANT_DATABASE_URL", url.as_str()),
            ("AUTH_DATABASE_URL", url.as_str()),
            ("WORKER_DATABASE_URL", url.as_str()),
        ]);
        let functions = shared::db::pool_for(&settings, login).unwrap();
        let (user, limit): (String, String) =
            sqlx::query_as("SELECT current_user::text, current_setting('statement_timeout')")
                .fetch_one(&functions)
                .await
                .unwrap();
        assert_eq!((user.as_str(), limit.as_str()), (login.role(), "250ms"));
    }
}

/// `MIGRATE_DATABASE_URL` is how migrate reaches the database when set (the owner, directly,
/// while the functions' `DATABASE_URL` may go through a pooler): here `DATABASE_URL` points
/// nowhere and the migrations still apply.
#[sqlx::test(migrations = false)]
async fn migrate_uses_its_own_url_when_one_is_set(pool: PgPool) {
    let settings = shared::testing::settings(&[
        ("DATABASE_URL", "postgres://nobody@127.0.0.1:1/nowhere"),
        (
            "MIGRATE_DATABASE_URL",
            shared::testing::database_url(&pool).as_str(),
        ),
    ]);
    let database = migrate::Database::from_settings(&settings).unwrap();
    let applied = migrate::apply(&database).await.unwrap();
    assert_eq!(applied.len(), shared::MIGRATOR.iter().count());
}
