//! The `users` function: organization administration.
//!
//! `/api/users` (owners and admins invite people and manage their memberships: roles, module
//! permissions, standing),
//! `/api/api-keys` (keys for integrations, scoped to modules), `/api/audit-log` and
//! `/api/organization` (name and default currency; every member reads it). Every handler runs
//! on a connection confined to the caller's organization by row-level security, on top of the
//! `org_id` filter in every query; every change needs a `RequireAdmin`.

mod api_keys;
mod audit_log;
mod invitations;
mod member;
mod organization;
mod people;

use axum::Router;
use axum::routing::{delete, get, post};
use shared::AppState;

pub fn app(state: AppState) -> Router {
    let http = state.settings.http.clone();
    let router = Router::new()
        .route("/api/users", get(people::list).post(invitations::create))
        .route("/api/users/{id}", get(people::get).patch(people::update))
        .route("/api/users/{id}/invitation", post(invitations::resend))
        .route("/api/users/{id}/deactivate", post(people::deactivate))
        .route("/api/users/{id}/reactivate", post(people::reactivate))
        .route("/api/api-keys", get(api_keys::list).post(api_keys::create))
        .route("/api/api-keys/{id}", delete(api_keys::revoke))
        .route("/api/audit-log", get(audit_log::list))
        .route(
            "/api/organization",
            get(organization::get).patch(organization::update),
        )
        .with_state(state);
    shared::http::layers(router, &http, openapi)
}

/// This function's operations, for the whole API's document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    #[derive(utoipa::OpenApi)]
    #[openapi(paths(
        people::list,
        people::get,
        invitations::create,
        invitations::resend,
        people::update,
        people::deactivate,
        people::reactivate,
        api_keys::create,
        api_keys::list,
        api_keys::revoke,
        audit_log::list,
        organization::get,
        organization::update
    ))]
    struct Doc;
    shared::http::openapi::function(<Doc as utoipa::OpenApi>::openapi(), "users")
}
