//! The `events` function: what changed in an organization (`/api/events`, kept 30 days) and
//! where it is sent (`/api/webhook-endpoints`, owners and admins only).
//!
//! The events themselves are written by the database with each change (see
//! `shared::events`); the scheduler's `deliver_webhooks` job sends them.

mod deliveries;
mod endpoint;
mod endpoints;
mod list;

use axum::Router;
use axum::routing::{get, post};
use shared::AppState;

pub fn app(state: AppState) -> Router {
    let http = state.settings.http.clone();
    let router = Router::new()
        .route("/api/events", get(list::list))
        .route("/api/events/{id}", get(list::get))
        .route(
            "/api/webhook-endpoints",
            get(endpoints::list).post(endpoints::create),
        )
        .route(
            "/api/webhook-endpoints/{id}",
            get(endpoints::get)
                .patch(endpoints::update)
                .delete(endpoints::delete),
        )
        .route(
            "/api/webhook-endpoints/{id}/rotate-secret",
            post(endpoints::rotate_secret),
        )
        .route(
            "/api/webhook-endpoints/{id}/deliveries",
            get(deliveries::list),
        )
        .route(
            "/api/webhook-endpoints/{id}/deliveries/{delivery_id}/retry",
            post(deliveries::retry),
        )
        .with_state(state);
    shared::http::layers(router, &http, openapi)
}

/// This function's operations, for the whole API's document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    #[derive(utoipa::OpenApi)]
    #[openapi(
        paths(
            list::list,
            list::get,
            endpoints::create,
            endpoints::list,
            endpoints::get,
            endpoints::update,
            endpoints::delete,
            endpoints::rotate_secret,
            deliveries::list,
            deliveries::retry
        ),
        components(schemas(
            shared::events::document::StockChange,
            shared::events::document::StockChangeLot,
            shared::events::document::StockLow,
            shared::events::document::LotExpiring
        ))
    )]
    struct Doc;
    shared::http::openapi::function(<Doc as utoipa::OpenApi>::openapi(), "events")
}
