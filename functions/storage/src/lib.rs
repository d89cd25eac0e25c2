//! The `storage` function: files go straight to S3, never through a function.
//!
//! `POST /api/uploads` records a pending upload (counted against the organization's quota) and
//! answers a pre-signed POST whose policy fixes the key, the type and the exact size; the client
//! sends the file to S3 itself; `POST /api/uploads/{id}/complete` checks what arrived (there,
//! that size, its first bytes the declared type, an image within the pixel limit) and keeps it,
//! or refuses it and deletes it. A completed upload then becomes a product's image or an
//! attachment, in the functions that own those.

mod upload;
mod uploads;

use axum::Router;
use axum::routing::{get, post};
use shared::AppState;

pub fn app(state: AppState) -> Router {
    let http = state.settings.http.clone();
    let router = Router::new()
        .route("/api/uploads", post(uploads::create))
        .route(
            "/api/uploads/{id}",
            get(uploads::get).delete(uploads::delete),
        )
        .route("/api/uploads/{id}/complete", post(uploads::complete))
        .with_state(state);
    shared::http::layers(router, &http, openapi)
}

/// This function's operations, for the whole API's document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    #[derive(utoipa::OpenApi)]
    #[openapi(paths(uploads::create, uploads::get, uploads::complete, uploads::delete))]
    struct Doc;
    shared::http::openapi::function(<Doc as utoipa::OpenApi>::openapi(), "storage")
}
