//! With `CORS_ALLOWED_ORIGINS` unset, CORS lets in a frontend's local dev server (Next.js or
//! Create React App on 3000, Vite on 5173, by name or by address), and no one else.

use std::collections::HashMap;

use axum::Router;
use axum::body::Body;
use axum::routing::{get, post};
use http::{HeaderMap, Method, Request, header};
use shared::config::Settings;
use tower::ServiceExt;

/// A router behind the shared layers, configured as a deployment that sets no origins.
fn app() -> Router {
    let settings = Settings::from_vars(&HashMap::from([
        (
            "DATABASE_URL".to_owned(),
            "postgres://unused@localhost/unused".to_owned(),
        ),
        (
            "SECRET_KEY".to_owned(),
            "test-secret-key-0123456789abcdef0123".to_owned(),
        ),
    ]))
    .unwrap();
    let router = Router::new()
        .route("/ok", get(|| async { "ok" }))
        .route("/echo", post(|| async { "ok" }));
    shared::http::layers(router, &settings.http, || {
        utoipa::openapi::OpenApiBuilder::new().build()
    })
}

async fn headers(request: Request<Body>) -> HeaderMap {
    let response = app().oneshot(request).await.unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    response.headers().clone()
}

fn preflight(origin: &str) -> Request<Body> {
    Request::builder()
        .method(Method::OPTIONS)
        .uri("/echo")
        .header(header::ORIGIN, origin)
        .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
        .header(
            header::ACCESS_CONTROL_REQUEST_HEADERS,
            "authorization,content-type",
        )
        .body(Body::empty())
        .unwrap()
}

fn get_from(origin: &str) -> Request<Body> {
    Request::get("/ok")
        .header(header::ORIGIN, origin)
        .body(Body::empty())
        .unwrap()
}

#[tokio::test]
async fn the_usual_dev_servers_are_allowed_by_default() {
    for origin in [
        "http://localhost:5173",
        "http://127.0.0.1:5173",
        "http://localhost:3000",
        "http://127.0.0.1:3000",
    ] {
        for request in [preflight(origin), get_from(origin)] {
            let method = request.method().clone();
            let headers = headers(request).await;
            assert_eq!(
                headers
                    .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
                    .unwrap_or_else(|| panic!("{method} from {origin}: {headers:?}")),
                origin,
                "{method}"
            );
        }
    }
}

#[tokio::test]
async fn other_origins_are_not_allowed_by_default() {
    // Another host, another port, another scheme: none is a dev server of the list.
    for origin in [
        "http://evil.example",
        "http://localhost:8080",
        "https://localhost:5173",
    ] {
        for request in [preflight(origin), get_from(origin)] {
            let method = request.method().clone();
            let response = app().oneshot(request).await.unwrap();
            assert!(
                !response
                    .headers()
                    .contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN),
                "{method} from {origin}: {:?}",
                response.headers()
            );
        }
    }
}
