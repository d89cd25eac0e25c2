//! The health function: health checks, the API document and its page, unknown routes, and a
//! database outage.
//!
//! Routes: `GET /health`, `GET /health/db`, `GET /openapi.json`, `GET /docs`.

use std::time::{Duration, Instant};

use http::StatusCode;
use shared::testing::{DbProxy, assert_problem, get};
use sqlx::PgPool;

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn health_is_ok(pool: PgPool) {
    let app = health::app(shared::testing::state(pool));
    let response = get(&app, "/health").await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.body, serde_json::json!({"status": "ok"}));
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn health_db_reaches_the_database(pool: PgPool) {
    let app = health::app(shared::testing::state(pool));
    let response = get(&app, "/health/db").await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.body["database"], "ok");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn the_openapi_document_and_its_page_are_served(pool: PgPool) {
    let app = health::app(shared::testing::state(pool));
    let document = get(&app, "/openapi.json").await;
    assert_eq!(document.status, StatusCode::OK);
    assert_eq!(document.headers["content-type"], "application/json");
    assert_eq!(document.body["openapi"], "3.1.0");
    assert!(document.body["paths"]["/api/products"].is_object());

    let page = get(&app, "/docs").await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.headers["content-type"], "text/html; charset=utf-8");
    let html = String::from_utf8(page.bytes.to_vec()).unwrap();
    assert!(html.contains(r#"spec-url="openapi.json""#), "{html}");
    assert!(
        html.contains(r#"integrity="sha384-"#),
        "the script is pinned: {html}"
    );
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src https://cdn.jsdelivr.net"), "{csp}");
    assert!(csp.contains("connect-src 'self'"), "{csp}");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn unknown_routes_are_404_problems(pool: PgPool) {
    let app = health::app(shared::testing::state(pool));
    assert_problem(
        &get(&app, "/api/nothing/here").await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
}

/// Settings whose DATABASE_URL goes through the proxy to this test's database.
fn settings_through(proxy: &DbProxy, pool: &PgPool) -> shared::Settings {
    let mut url = shared::testing::database_url(pool);
    url.set_host(Some("127.0.0.1")).unwrap();
    url.set_port(Some(proxy.port)).unwrap();
    shared::testing::settings(&[
        ("DATABASE_URL", url.as_str()),
        ("DB_ACQUIRE_TIMEOUT_MS", "1000"),
    ])
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn database_outage_is_a_prompt_503_and_recovers_by_itself(pool: PgPool) {
    let proxy = DbProxy::to(&pool).await;
    let settings = settings_through(&proxy, &pool);
    let pool = shared::db::pool(&settings).unwrap();
    let state = shared::AppState::new(settings, pool).unwrap();
    let app = health::app(state);

    assert_eq!(get(&app, "/health/db").await.status, StatusCode::OK);

    proxy.cut();
    let started = Instant::now();
    let response = get(&app, "/health/db").await;
    assert_problem(
        &response,
        StatusCode::SERVICE_UNAVAILABLE,
        "service_unavailable",
    );
    // Bounded by the acquire timeout (1 s here), not hung; generous slack for a busy machine.
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    // Liveness does not depend on the database.
    assert_eq!(get(&app, "/health").await.status, StatusCode::OK);

    proxy.restore();
    let mut status = StatusCode::SERVICE_UNAVAILABLE;
    for _ in 0..20 {
        status = get(&app, "/health/db").await.status;
        if status == StatusCode::OK {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(
        status,
        StatusCode::OK,
        "the pool reconnects once the database is back"
    );
}

#[tokio::test]
async fn an_unreachable_database_is_a_503_problem() {
    // Nothing listens on this port once the listener is dropped.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("postgres://postgres@127.0.0.1:{port}/none");
    let settings =
        shared::testing::settings(&[("DATABASE_URL", &url), ("DB_ACQUIRE_TIMEOUT_MS", "500")]);
    let pool = shared::db::pool(&settings).unwrap();
    let state = shared::AppState::new(settings, pool).unwrap();
    let response = get(&health::app(state), "/health/db").await;
    assert_problem(
        &response,
        StatusCode::SERVICE_UNAVAILABLE,
        "service_unavailable",
    );
}
