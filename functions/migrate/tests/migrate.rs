use std::sync::{Arc, Mutex};
use std::time::Duration;

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
        statement_timeout: Duration::from_millis(5_000),
        lock_timeout: Duration::from_millis(5_000),
        migration_statement_timeout: Duration::from_secs(60),
        login_passwords: Vec::new(),
    }
}

/// The database as the handler finds it from readable settings.
fn found(database: migrate::Database) -> std::future::Ready<Result<migrate::Database, String>> {
    std::future::ready(Ok(database))
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
    let out = migrate::handle(event, found(url_of(&pool)), &reqwest::Client::new())
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
    custom_resource_with(request_type, response_url, Context::default())
}

/// As CloudFormation sends it, with Lambda's `context` (its deadline).
fn custom_resource_with(
    request_type: &str,
    response_url: &str,
    context: Context,
) -> LambdaEvent<Value> {
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
    LambdaEvent::new(payload, context)
}

#[sqlx::test(migrations = false)]
async fn a_deploy_applies_migrations_and_reports_success(pool: PgPool) {
    let (url, received) = cloudformation().await;
    let out = migrate::handle(
        custom_resource("Create", &url),
        found(url_of(&pool)),
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
        found(unreachable),
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

/// A Delete (the stack deleted, or the resource replaced) answers SUCCESS without even looking
/// for the database: the settings here never arrive.
#[tokio::test]
async fn deleting_the_stack_leaves_the_database_alone() {
    let (url, received) = cloudformation().await;
    migrate::handle(
        custom_resource("Delete", &url),
        std::future::pending(),
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

/// Settings that cannot be read (a secret the function may not read, no route to Secrets
/// Manager) are answered FAILED with the reason; a Delete still succeeds without them.
#[tokio::test]
async fn unreadable_settings_are_answered_failed_with_the_reason() {
    let (url, received) = cloudformation().await;
    let unreadable = || {
        std::future::ready(Err::<migrate::Database, _>(
            "the settings secret could not be read: AccessDeniedException".to_owned(),
        ))
    };
    let out = migrate::handle(
        custom_resource("Create", &url),
        unreadable(),
        &reqwest::Client::new(),
    )
    .await
    .unwrap();
    assert_eq!(out["status"], "FAILED");
    migrate::handle(
        custom_resource("Delete", &url),
        unreadable(),
        &reqwest::Client::new(),
    )
    .await
    .unwrap();
    let received = received.0.lock().unwrap();
    assert_eq!(received[0].1["Status"], "FAILED");
    let reason = received[0].1["Reason"].as_str().unwrap();
    assert!(reason.contains("AccessDeniedException"), "{reason}");
    assert_eq!(received[1].1["Status"], "SUCCESS");
}

/// A rollback puts the older migrate code back and CloudFormation sends it an Update: it meets
/// a database with migrations it does not know, applies nothing, changes nothing, and answers
/// SUCCESS so the rollback completes.
#[sqlx::test(migrations = false)]
async fn older_code_than_the_database_answers_success_and_changes_nothing(pool: PgPool) {
    migrate::apply(&url_of(&pool)).await.unwrap();
    let newer = 29991231000001_i64;
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
         VALUES ($1, 'from newer code', true, '\\x00', 1)",
    )
    .bind(newer)
    .execute(&pool)
    .await
    .unwrap();
    let rows = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM _sqlx_migrations")
            .fetch_one(&pool)
            .await
            .unwrap()
    };
    let before = rows().await;
    let (url, received) = cloudformation().await;
    let out = migrate::handle(
        custom_resource("Update", &url),
        found(url_of(&pool)),
        &reqwest::Client::new(),
    )
    .await
    .unwrap();
    assert_eq!(out["status"], "SUCCESS");
    let body = received.0.lock().unwrap()[0].1.clone();
    assert_eq!(body["Status"], "SUCCESS");
    assert_eq!(body["Data"]["Applied"], 0);
    assert!(
        body["Reason"]
            .as_str()
            .unwrap()
            .contains(&newer.to_string()),
        "{body}"
    );
    assert_eq!(rows().await, before);
}

/// Holds `_sqlx_migrations` locked, as a long transaction on a busy table would.
async fn lock_the_migrations_table(pool: &PgPool) -> sqlx::Transaction<'static, sqlx::Postgres> {
    let mut blocker = pool.begin().await.unwrap();
    sqlx::query("LOCK TABLE _sqlx_migrations IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *blocker)
        .await
        .unwrap();
    blocker
}

/// A migration that waits on a lock gives up after `MIGRATE_LOCK_TIMEOUT_MS` and answers
/// FAILED with the reason, instead of queueing every request behind it.
#[sqlx::test(migrations = false)]
async fn a_migration_waiting_on_a_lock_fails_with_the_reason(pool: PgPool) {
    migrate::apply(&url_of(&pool)).await.unwrap();
    let blocker = lock_the_migrations_table(&pool).await;
    let mut database = url_of(&pool);
    database.lock_timeout = Duration::from_millis(300);
    let (url, received) = cloudformation().await;
    let started = std::time::Instant::now();
    let out = migrate::handle(
        custom_resource("Update", &url),
        found(database),
        &reqwest::Client::new(),
    )
    .await
    .unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(out["status"], "FAILED");
    let body = received.0.lock().unwrap()[0].1.clone();
    let reason = body["Reason"].as_str().unwrap();
    assert!(reason.contains("lock timeout"), "{reason}");
    blocker.rollback().await.unwrap();
}

/// Whatever still runs when the function's time is nearly out is abandoned and answered FAILED
/// before Lambda would kill the function (which CloudFormation would only see as a timeout).
#[sqlx::test(migrations = false)]
async fn the_deadline_guard_answers_before_the_function_times_out(pool: PgPool) {
    migrate::apply(&url_of(&pool)).await.unwrap();
    let blocker = lock_the_migrations_table(&pool).await;
    let mut database = url_of(&pool);
    database.lock_timeout = Duration::from_secs(60);
    let (url, received) = cloudformation().await;
    let mut context = Context::default();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    // One second of work left once the answer's margin is kept.
    context.deadline = (now + migrate::ANSWER_MARGIN + Duration::from_secs(1)).as_millis() as u64;
    let started = std::time::Instant::now();
    let out = migrate::handle(
        custom_resource_with("Update", &url, context),
        found(database),
        &reqwest::Client::new(),
    )
    .await
    .unwrap();
    let took = started.elapsed();
    assert!(took < Duration::from_secs(4), "{took:?}");
    assert_eq!(out["status"], "FAILED");
    let body = received.0.lock().unwrap()[0].1.clone();
    let reason = body["Reason"].as_str().unwrap();
    assert!(reason.contains("did not finish"), "{reason}");
    blocker.rollback().await.unwrap();
}

#[sqlx::test(migrations = false)]
async fn login_roles_get_the_passwords_of_their_secrets(pool: PgPool) {
    let mut database = url_of(&pool);
    database.login_passwords = vec![(
        "stockroom_worker".into(),
        SecretString::from("it's-a-generated-password".to_owned()),
    )];
    // Roles are cluster-wide, and parallel tests let them log in: retry a concurrent update.
    for attempt in 0.. {
        match migrate::apply(&database).await {
            Ok(_) => break,
            Err(e) if attempt < 5 && e.to_string().contains("concurrently") => continue,
            Err(e) => panic!("{e:#}"),
        }
    }
    // (pg_roles: the password itself is readable by superusers only, which RDS has none of.)
    let can_login: bool =
        sqlx::query_scalar("SELECT rolcanlogin FROM pg_roles WHERE rolname = 'stockroom_worker'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(can_login);
    // Sent as a SCRAM verifier, never as the password itself (which a failed statement or
    // `log_statement` would put in the server's log): where the stored value is readable (a
    // superuser's server, not RDS), it is a verifier.
    let stored: Result<Option<String>, _> =
        sqlx::query_scalar("SELECT rolpassword FROM pg_authid WHERE rolname = 'stockroom_worker'")
            .fetch_one(&pool)
            .await;
    if let Ok(stored) = stored {
        let stored = stored.unwrap();
        assert!(stored.starts_with("SCRAM-SHA-256$4096:"), "{stored}");
        assert!(!stored.contains("generated-password"));
    }

    database.login_passwords = vec![("postgres".into(), SecretString::from("x".to_owned()))];
    let error = migrate::apply(&database).await.unwrap_err().to_string();
    assert!(error.contains("not one of the login roles"), "{error}");
}
