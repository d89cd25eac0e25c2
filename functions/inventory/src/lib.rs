//! The `inventory` function: stock per product and location, the movement ledger,
//! reservations, low stock, and purchase orders, which it pays through Wise.
//!
//! Stock never goes negative and is never oversold: every change is a single conditional
//! `UPDATE` (`... WHERE on_hand - reserved >= $n`) and the table's CHECK constraints back it up,
//! so concurrent requests cannot race past each other.

mod approvals;
mod locations;
mod movements;
mod payment_policy;
mod payments;
mod purchase_orders;
mod reservations;
mod stock;
mod wise_account;

use axum::Router;
use axum::extract::FromRef;
use axum::routing::{get, post};
use shared::AppState;

/// The router's state: the shared state and Wise's API (its HTTP client built once per cold
/// start; each organization's own connection supplies the token and profile).
#[derive(Clone, Debug)]
struct InventoryState {
    app: AppState,
    wise: Option<shared::wise::Api>,
}

impl InventoryState {
    /// The deployment's Wise client, or 503 `payments_not_configured` when it could not be
    /// built at cold start.
    fn wise_api(&self) -> Result<&shared::wise::Api, shared::ApiError> {
        self.wise
            .as_ref()
            .ok_or_else(|| shared::ApiError::NotConfigured {
                code: "payments_not_configured",
                detail:
                    "paying suppliers through Wise is not available: the Wise client could not \
                     be built (see the function's log)"
                        .into(),
            })
    }
}

impl FromRef<InventoryState> for AppState {
    fn from_ref(state: &InventoryState) -> Self {
        state.app.clone()
    }
}

pub fn app(state: AppState) -> Router {
    let http = state.settings.http.clone();
    let wise = shared::wise::Api::new(&state.settings.wise)
        .map_err(|error| {
            tracing::error!(%error, "could not build the Wise client; paying suppliers is off");
        })
        .ok();
    let state = InventoryState { app: state, wise };
    let router = Router::new()
        .route(
            "/api/inventory/locations",
            get(locations::list).post(locations::create),
        )
        .route("/api/inventory/stock", get(stock::list))
        .route("/api/inventory/low-stock", get(stock::low_stock))
        .route(
            "/api/inventory/movements",
            get(movements::list).post(movements::create),
        )
        .route(
            "/api/inventory/reservations",
            get(reservations::list).post(reservations::create),
        )
        .route("/api/inventory/reservations/{id}", get(reservations::get))
        .route(
            "/api/inventory/reservations/{id}/confirm",
            post(reservations::confirm),
        )
        .route(
            "/api/inventory/reservations/{id}/cancel",
            post(reservations::cancel),
        )
        .route(
            "/api/purchase-orders",
            get(purchase_orders::list).post(purchase_orders::create),
        )
        .route(
            "/api/purchase-orders/{id}",
            get(purchase_orders::get).patch(purchase_orders::update),
        )
        .route(
            "/api/purchase-orders/{id}/submit",
            post(purchase_orders::submit),
        )
        .route(
            "/api/purchase-orders/{id}/cancel",
            post(purchase_orders::cancel),
        )
        .route(
            "/api/purchase-orders/{id}/receive",
            post(purchase_orders::receive),
        )
        .route("/api/purchase-orders/{id}/pay", post(payments::pay))
        .route(
            "/api/purchase-orders/{id}/pay/approve",
            post(approvals::approve),
        )
        .route(
            "/api/purchase-orders/{id}/pay/reject",
            post(approvals::reject),
        )
        .route(
            "/api/payments/wise",
            get(wise_account::get)
                .put(wise_account::connect)
                .delete(wise_account::disconnect),
        )
        .route("/api/payments/wise/profiles", post(wise_account::profiles))
        .route(
            "/api/payments/policy",
            get(payment_policy::get).put(payment_policy::set),
        )
        .route(
            "/api/payments/policy/approve",
            post(payment_policy::approve),
        )
        .route("/api/payments/policy/reject", post(payment_policy::reject))
        .with_state(state);
    shared::http::layers(router, &http, openapi)
}

/// This function's operations, for the whole API's document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    #[derive(utoipa::OpenApi)]
    #[openapi(paths(
        locations::list,
        locations::create,
        stock::list,
        stock::low_stock,
        movements::list,
        movements::create,
        reservations::list,
        reservations::create,
        reservations::get,
        reservations::confirm,
        reservations::cancel,
        purchase_orders::list,
        purchase_orders::create,
        purchase_orders::get,
        purchase_orders::update,
        purchase_orders::submit,
        purchase_orders::cancel,
        purchase_orders::receive,
        payments::pay,
        approvals::approve,
        approvals::reject,
        wise_account::get,
        wise_account::connect,
        wise_account::disconnect,
        wise_account::profiles,
        payment_policy::get,
        payment_policy::set,
        payment_policy::approve,
        payment_policy::reject
    ))]
    struct Doc;
    let mut doc = shared::openapi::function(<Doc as utoipa::OpenApi>::openapi(), "inventory");
    movements::document_kinds(&mut doc);
    doc
}
