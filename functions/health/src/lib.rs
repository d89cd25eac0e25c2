//! The `health` function: liveness (`GET /health`), database reachability (`GET /health/db`,
//! 503 problem+json when the database does not answer in time), the OpenAPI document of the
//! whole API (`GET /openapi.json`) and a page that renders it (`GET /docs`).

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use shared::{ApiError, AppState};

/// The committed document, generated from the code by `make openapi` (a test fails when it is
/// out of date), so this function does not link every other function to serve it.
pub const OPENAPI_JSON: &str = include_str!("../../../openapi.json");

pub fn app(state: AppState) -> Router {
    let http = state.settings.http.clone();
    let router = Router::new()
        .route("/health", get(health))
        .route("/health/db", get(health_db))
        .route("/openapi.json", get(openapi_json))
        .route("/docs", get(docs))
        .with_state(state);
    shared::http::layers(router, &http, openapi)
}

/// This function's operations, for the whole API's document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    #[derive(utoipa::OpenApi)]
    #[openapi(paths(health, health_db, openapi_json, docs))]
    struct Doc;
    shared::http::openapi::function(<Doc as utoipa::OpenApi>::openapi(), "health")
}

#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = HealthStatus)]
struct Status {
    #[schema(example = "ok")]
    status: &'static str,
}

/// Liveness: the function runs.
#[utoipa::path(get, path = "/health", security(()), responses((status = 200, body = Status)))]
async fn health() -> Json<Status> {
    Json(Status { status: "ok" })
}

#[derive(Serialize, utoipa::ToSchema)]
struct DbStatus {
    #[schema(example = "ok")]
    status: &'static str,
    #[schema(example = "ok")]
    database: &'static str,
}

/// The database answers (503 when it does not within the pool's acquire timeout).
#[utoipa::path(get, path = "/health/db", security(()), responses((status = 200, body = DbStatus)))]
async fn health_db(State(state): State<AppState>) -> Result<Json<DbStatus>, ApiError> {
    sqlx::query_scalar!(r#"SELECT 1 AS "one!""#)
        .fetch_one(&state.pool)
        .await?;
    Ok(Json(DbStatus {
        status: "ok",
        database: "ok",
    }))
}

/// The OpenAPI 3.1 document of the whole API.
#[utoipa::path(get, path = "/openapi.json", security(()),
    responses((status = 200, description = "The OpenAPI document", content_type = "application/json")))]
async fn openapi_json() -> impl IntoResponse {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=300"),
            ),
        ],
        OPENAPI_JSON,
    )
}

/// Redoc, pinned by version and subresource integrity, loaded from jsDelivr by the reader's
/// browser; it reads `openapi.json` beside this page.
const DOCS_HTML: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Stockroom API</title>
</head>
<body>
<redoc spec-url="openapi.json"></redoc>
<script src="https://cdn.jsdelivr.net/npm/redoc@3.0.1/bundles/redoc.standalone.js"
  integrity="sha384-j07qRKHNNmcwU1/Y1elJc7pDLHXP/QfbQXTtSkbOJ7uYGJikqAzsFVbY2zR9FqOT"
  crossorigin="anonymous"></script>
</body>
</html>
"#;

/// What the docs page may load: the pinned script, its inline styles and fonts, and the
/// document from this origin.
const DOCS_CSP: &str = "default-src 'none'; script-src https://cdn.jsdelivr.net; \
    style-src 'unsafe-inline' https://fonts.googleapis.com; font-src https://fonts.gstatic.com; \
    img-src data: https:; connect-src 'self'; worker-src blob:; frame-ancestors 'none'; \
    base-uri 'none'; form-action 'none'";

/// A page that renders the OpenAPI document.
#[utoipa::path(get, path = "/docs", security(()),
    responses((status = 200, description = "An HTML page", content_type = "text/html")))]
async fn docs() -> impl IntoResponse {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(DOCS_CSP),
            ),
        ],
        DOCS_HTML,
    )
}
