//! The `health` function: liveness (`GET /health`) and database reachability
//! (`GET /health/db`, 503 problem+json when the database does not answer in time).

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use shared::{ApiError, AppState};

pub fn app(state: AppState) -> Router {
    let http = state.settings.http.clone();
    let router = Router::new()
        .route("/health", get(health))
        .route("/health/db", get(health_db))
        .with_state(state);
    shared::http::layers(router, &http)
}

#[derive(Serialize)]
struct Status {
    status: &'static str,
}

async fn health() -> Json<Status> {
    Json(Status { status: "ok" })
}

#[derive(Serialize)]
struct DbStatus {
    status: &'static str,
    database: &'static str,
}

async fn health_db(State(state): State<AppState>) -> Result<Json<DbStatus>, ApiError> {
    sqlx::query_scalar!(r#"SELECT 1 AS "one!""#)
        .fetch_one(&state.pool)
        .await?;
    Ok(Json(DbStatus {
        status: "ok",
        database: "ok",
    }))
}
