//! Helpers for the functions' tests (feature `test-util`): settings, state and in-process
//! requests against a function's router.

use std::collections::HashMap;

use axum::Router;
use axum::body::Body;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use sqlx::PgPool;
use tower::ServiceExt;

use crate::{AppState, Settings};

/// Settings with defaults and `overrides`; the database URL is unused (tests hand in a pool).
pub fn settings(overrides: &[(&str, &str)]) -> Settings {
    let mut vars: HashMap<String, String> = HashMap::from([(
        "DATABASE_URL".into(),
        "postgres://unused@localhost/unused".into(),
    )]);
    vars.extend(
        overrides
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string())),
    );
    Settings::from_vars(&vars).expect("test settings are valid")
}

/// State around a test database pool (from `#[sqlx::test]`).
pub fn state(pool: PgPool) -> AppState {
    AppState {
        pool,
        settings: Arc::new(settings(&[])),
    }
}

/// A response read whole: status, headers and the body as JSON (`Null` when not JSON).
#[derive(Debug)]
pub struct TestResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: serde_json::Value,
    pub bytes: bytes::Bytes,
}

/// Sends one request through a router in-process.
pub async fn send(router: &Router, request: Request<Body>) -> TestResponse {
    let response = router
        .clone()
        .oneshot(request)
        .await
        .expect("router is infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body reads")
        .to_bytes();
    let body = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
    TestResponse {
        status,
        headers,
        body,
        bytes,
    }
}

/// `GET path`.
pub async fn get(router: &Router, path: &str) -> TestResponse {
    send(
        router,
        Request::get(path)
            .body(Body::empty())
            .expect("valid request"),
    )
    .await
}

/// Asserts an RFC 9457 problem with the given status and code.
pub fn assert_problem(response: &TestResponse, status: StatusCode, code: &str) {
    assert_eq!(response.status, status, "{:?}", response.body);
    assert_eq!(
        response.headers[http::header::CONTENT_TYPE],
        crate::error::PROBLEM_JSON
    );
    assert_eq!(response.body["code"], code, "{}", response.body);
    assert_eq!(response.body["status"], status.as_u16());
    assert!(response.body["request_id"].is_string(), "{}", response.body);
}

/// The URL of the database behind a `#[sqlx::test]` pool: `DATABASE_URL` with the test
/// database's name, for code under test that connects by itself.
pub fn database_url(pool: &PgPool) -> url::Url {
    let mut url = url::Url::parse(&std::env::var("DATABASE_URL").expect("DATABASE_URL is set"))
        .expect("DATABASE_URL is a URL");
    url.set_path(
        pool.connect_options()
            .get_database()
            .expect("test database has a name"),
    );
    url
}
