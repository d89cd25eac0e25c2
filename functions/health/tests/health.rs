//! The health function: health checks, the API document and its page, unknown routes, and a
//! database outage.
//!
//! Routes: `GET /health`, `GET /health/db`, `GET /openapi.json`, `GET /docs`,
//! `GET /docs/redoc-3.0.1.standalone.js`.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
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
}

/// An app whose database is never reached (the docs need none).
fn app_without_database() -> axum::Router {
    let settings =
        shared::testing::settings(&[("DATABASE_URL", "postgres://postgres@127.0.0.1:1/none")]);
    let pool = shared::db::pool(&settings).unwrap();
    health::app(shared::AppState::new(settings, pool).unwrap())
}

/// The values of `attribute` in `html` (`attribute="..."`, as the page writes them).
fn attribute_values<'a>(html: &'a str, attribute: &str) -> Vec<&'a str> {
    let marker = format!(" {attribute}=\"");
    html.split(marker.as_str())
        .skip(1)
        .filter_map(|rest| rest.split_once('"').map(|(value, _)| value))
        .collect()
}

#[tokio::test]
async fn the_docs_page_loads_its_renderer_from_this_function_only() {
    let app = app_without_database();
    let page = get(&app, "/docs").await;
    assert_eq!(page.status, StatusCode::OK);
    let html = String::from_utf8(page.bytes.to_vec()).unwrap();

    // Nothing the page loads comes from elsewhere.
    for value in attribute_values(&html, "src")
        .into_iter()
        .chain(attribute_values(&html, "href"))
    {
        assert!(!value.contains("//"), "{value} is not on this origin");
    }
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "{html}"
    );
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    for directive in csp.split(';') {
        for source in directive.split_whitespace().skip(1) {
            assert!(
                ["'self'", "'none'", "'unsafe-inline'", "data:", "blob:"].contains(&source),
                "{source} in {csp}"
            );
        }
    }
    assert!(csp.contains("script-src 'self';"), "{csp}");
    assert!(csp.contains("connect-src 'self';"), "{csp}");

    // The one script, relative to the page: served here as JavaScript, cached for long, and
    // the file the page pins.
    let scripts = attribute_values(&html, "src");
    assert_eq!(scripts, ["docs/redoc-3.0.1.standalone.js"], "{html}");
    let path = format!("/{}", scripts[0]);
    assert_eq!(path, "/docs/redoc-3.0.1.standalone.js");
    assert!(
        html.contains(r#"<script type="module" src="#),
        "Redoc 3 is a module"
    );
    let script = get(&app, &path).await;
    assert_eq!(script.status, StatusCode::OK);
    assert_eq!(
        script.headers["content-type"],
        "text/javascript; charset=utf-8"
    );
    assert_eq!(
        script.headers["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert!(
        script.bytes.len() > 1_000_000,
        "{} bytes",
        script.bytes.len()
    );
    let file = include_bytes!("../assets/redoc.standalone.js");
    assert!(
        script.bytes == file.as_slice(),
        "the vendored file, unchanged"
    );
    assert!(String::from_utf8_lossy(&script.bytes[..200]).contains("Version: 3.0.1"));

    use base64::Engine;
    use sha2::Digest;
    let digest =
        base64::engine::general_purpose::STANDARD.encode(sha2::Sha384::digest(&script.bytes));
    assert_eq!(
        attribute_values(&html, "integrity"),
        [format!("sha384-{digest}")],
        "the page pins the script it is served"
    );

    // Nothing else under /docs.
    assert_problem(
        &get(&app, "/docs/redoc.standalone.js").await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
}

/// The page as a reader sees it with no network but this API's: headless Chromium renders the
/// document (its title and operations) from what this function serves, and nothing else.
#[tokio::test]
async fn the_docs_page_renders_offline_in_chromium() {
    let Some(chromium) = shared::testing::browser::chromium() else {
        return;
    };
    let requested = Arc::new(Mutex::new(Vec::<String>::new()));
    let log = requested.clone();
    let app = app_without_database().layer(axum::middleware::from_fn(
        move |request: axum::extract::Request, next: axum::middleware::Next| {
            log.lock().unwrap().push(request.uri().path().to_owned());
            next.run(request)
        },
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let profile = std::env::temp_dir().join(format!("stockroom-docs-{}", std::process::id()));
    let run = tokio::process::Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            // No name resolves and no other address is reached: only this server answers.
            "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
            "--proxy-server=127.0.0.1:9",
            "--virtual-time-budget=30000",
            "--dump-dom",
            &format!("--user-data-dir={}", profile.display()),
            &format!("http://{address}/docs"),
        ])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("Chromium renders the page within two minutes")
        .expect("Chromium runs");
    let _ = std::fs::remove_dir_all(&profile);
    server.abort();

    let dom = String::from_utf8_lossy(&output.stdout);
    let document: serde_json::Value = serde_json::from_str(health::OPENAPI_JSON).unwrap();
    let title = format!(
        "{} ({})",
        document["info"]["title"].as_str().unwrap(),
        document["info"]["version"].as_str().unwrap()
    );
    assert!(dom.contains(&title), "the document's title is shown: {dom}");
    assert!(
        dom.contains(">/api/api-keys<"),
        "operations are listed: {dom}"
    );
    let requested = requested.lock().unwrap().clone();
    for path in ["/docs", "/docs/redoc-3.0.1.standalone.js", "/openapi.json"] {
        assert!(requested.iter().any(|p| p == path), "{path}: {requested:?}");
    }
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
