//! The `products` function: the catalogue at `/api/products`.
//!
//! List (filters, sorting, cursor pagination), detail with the supplier, create, partial
//! update, soft delete, and the price history written in the same transaction as every price
//! set. Reads take two SQL statements: the credential check (which also confines the
//! connection to the organization) and the query.

mod attachments;
mod image;
mod list;
mod model;
mod set_image;
mod write;

use axum::Router;
use axum::routing::get;
use shared::AppState;

pub fn app(state: AppState) -> Router {
    let http = state.settings.http.clone();
    let router = Router::new()
        .route("/api/products", get(list::list).post(write::create))
        .route(
            "/api/products/{id}",
            get(model::detail)
                .patch(write::update)
                .put(write::update)
                .delete(write::delete),
        )
        .route(
            "/api/products/{id}/attachments",
            get(attachments::list).post(attachments::attach),
        )
        .route(
            "/api/products/{id}/attachments/{attachment_id}",
            get(attachments::get).delete(attachments::remove),
        )
        .route(
            "/api/products/{id}/image",
            axum::routing::put(set_image::set).delete(set_image::remove),
        )
        .route(
            "/api/products/{id}/price-history",
            get(model::price_history),
        )
        .with_state(state);
    shared::http::layers(router, &http, openapi)
}

/// This function's operations, for the whole API's document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    #[derive(utoipa::OpenApi)]
    #[openapi(paths(
        list::list,
        model::detail,
        model::price_history,
        write::create,
        write::update,
        write::delete,
        set_image::set,
        set_image::remove,
        attachments::list,
        attachments::attach,
        attachments::get,
        attachments::remove
    ))]
    struct Doc;
    let mut doc = shared::http::openapi::function(<Doc as utoipa::OpenApi>::openapi(), "products");
    shared::http::openapi::put_like_patch(&mut doc, "/api/products/{id}");
    doc
}
