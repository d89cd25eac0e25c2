//! The `health` function: liveness (`GET /health`), database reachability (`GET /health/db`,
//! 503 problem+json when the database does not answer in time), the OpenAPI document of the
//! whole API (`GET /openapi.json`) and a page that renders it (`GET /docs`), with the renderer's
//! script served from here too (`GET /docs/redoc-3.0.1.standalone.js`): the page works offline.

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
        .route("/docs/redoc-3.0.1.standalone.js", get(redoc_script))
        .with_state(state);
    shared::http::layers(router, &http, openapi)
}

/// This function's operations, for the whole API's document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    #[derive(utoipa::OpenApi)]
    #[openapi(paths(health, health_db, openapi_json, docs, redoc_script))]
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

/// The page: Redoc 3 (an ES module) from this function, pinned by subresource integrity to the
/// file npm publishes; it reads `openapi.json` beside this page. Both URLs are relative, so the
/// page works under the REST API's stage prefix too (`/v1/docs`).
const DOCS_HTML: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Stockroom API</title>
</head>
<body>
<redoc spec-url="openapi.json" disable-telemetry="true"></redoc>
<script type="module" src="docs/redoc-3.0.1.standalone.js"
  integrity="sha384-j07qRKHNNmcwU1/Y1elJc7pDLHXP/QfbQXTtSkbOJ7uYGJikqAzsFVbY2zR9FqOT"></script>
</body>
</html>
"#;

/// What the docs page may load: its script and the document from this origin, nothing from
/// anywhere else (Redoc's footer logo, from its CDN, is refused and then not shown). Redoc
/// also injects its styles inline, embeds an icon font as a `data:` URL and starts its search
/// worker from a `blob:` URL.
const DOCS_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; \
    font-src data:; img-src 'self' data:; connect-src 'self'; worker-src blob:; \
    frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

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

/// Redoc 3.0.1's standalone bundle, as npm publishes it (MIT; see `assets/README.md`).
const REDOC_JS: &str = include_str!("../assets/redoc.standalone.js");

/// The docs page's renderer, Redoc 3.0.1; cached for a year (its path names its version).
#[utoipa::path(get, path = "/docs/redoc-3.0.1.standalone.js", security(()),
    responses((status = 200, description = "A JavaScript module", content_type = "text/javascript")))]
async fn redoc_script() -> impl IntoResponse {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/javascript; charset=utf-8"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=31536000, immutable"),
            ),
        ],
        REDOC_JS,
    )
}
