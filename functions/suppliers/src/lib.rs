//! The `suppliers` function: `/api/suppliers`, their contacts, and their payment details for
//! Wise (sealed with AES-256-GCM, only ever shown as a summary).

mod attachments;
mod contacts;
mod input;
mod payee_change;
mod reach;
mod supplier;
mod suppliers;

use axum::Router;
use axum::routing::{get, patch, post};
use shared::AppState;

pub use shared::payment_details::PaymentDetails;

pub fn app(state: AppState) -> Router {
    let http = state.settings.http.clone();
    let router = Router::new()
        .route(
            "/api/suppliers",
            get(suppliers::list).post(suppliers::create),
        )
        .route(
            "/api/suppliers/{id}",
            get(suppliers::detail)
                .patch(suppliers::update)
                .put(suppliers::update),
        )
        .route(
            "/api/suppliers/{id}/deactivate",
            post(suppliers::deactivate),
        )
        .route(
            "/api/suppliers/{id}/reactivate",
            post(suppliers::reactivate),
        )
        .route(
            "/api/suppliers/{id}/contacts",
            get(contacts::list).post(contacts::create),
        )
        .route(
            "/api/suppliers/{id}/contacts/{contact_id}",
            patch(contacts::update).delete(contacts::delete),
        )
        .route(
            "/api/suppliers/{id}/attachments",
            get(attachments::list).post(attachments::attach),
        )
        .route(
            "/api/suppliers/{id}/attachments/{attachment_id}",
            get(attachments::get).delete(attachments::remove),
        )
        .with_state(state);
    shared::http::layers(router, &http, openapi)
}

/// This function's operations, for the whole API's document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    #[derive(utoipa::OpenApi)]
    #[openapi(paths(
        suppliers::list,
        suppliers::detail,
        suppliers::create,
        suppliers::update,
        suppliers::deactivate,
        suppliers::reactivate,
        contacts::list,
        contacts::create,
        contacts::update,
        contacts::delete,
        attachments::list,
        attachments::attach,
        attachments::get,
        attachments::remove
    ))]
    struct Doc;
    let mut doc = shared::http::openapi::function(<Doc as utoipa::OpenApi>::openapi(), "suppliers");
    shared::http::openapi::put_like_patch(&mut doc, "/api/suppliers/{id}");
    doc
}
