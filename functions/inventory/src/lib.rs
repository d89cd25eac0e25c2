//! The `inventory` function: stock per product and location, the movement ledger,
//! reservations, low stock, and purchase orders, which it pays through Wise.
//!
//! Stock never goes negative and is never oversold: every change is a single conditional
//! `UPDATE` (`... WHERE on_hand - reserved >= $n`) and the table's CHECK constraints back it up,
//! so concurrent requests cannot race past each other.

mod locations;
mod lots;
mod movement_shapes;
mod movements;
mod payments;
mod purchase_orders;
mod reservations;
mod state;
mod stock;
mod stocktakes;

use payments::{approvals, pay, policy, wise_account};
use purchase_orders::{attachments, crud, receipts, receive, status};
use stocktakes::{apply, counts, create, due};

use axum::Router;
use axum::routing::{get, post};
use shared::AppState;

pub fn app(state: AppState) -> Router {
    let http = state.settings.http.clone();
    let wise = shared::wise::Api::new(&state.settings.wise)
        .map_err(|error| {
            tracing::error!(%error, "could not build the Wise client; paying suppliers is off");
        })
        .ok();
    let state = state::InventoryState { app: state, wise };
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
        .route("/api/lots", get(lots::trace::list))
        .route("/api/lots/{id}", get(lots::trace::get))
        .route("/api/lots/{id}/trace", get(lots::trace::trace))
        .route("/api/stock/expiring", get(lots::expiring::expiring))
        .route("/api/stocktakes", get(create::list).post(create::create))
        .route("/api/stocktakes/due", get(due::due))
        .route("/api/stocktakes/{id}", get(create::get))
        .route(
            "/api/stocktakes/{id}/lines",
            get(counts::list).post(counts::count_many),
        )
        .route(
            "/api/stocktakes/{id}/lines/{product_id}",
            axum::routing::put(counts::count_one),
        )
        .route("/api/stocktakes/{id}/apply", post(apply::apply))
        .route("/api/stocktakes/{id}/cancel", post(apply::cancel))
        .route("/api/purchase-orders", get(crud::list).post(crud::create))
        .route(
            "/api/purchase-orders/{id}",
            get(crud::get).patch(crud::update),
        )
        .route("/api/purchase-orders/{id}/submit", post(status::submit))
        .route("/api/purchase-orders/{id}/cancel", post(status::cancel))
        .route("/api/purchase-orders/{id}/receive", post(receive::receive))
        .route(
            "/api/purchase-orders/{id}/attachments",
            get(attachments::list).post(attachments::attach),
        )
        .route(
            "/api/purchase-orders/{id}/attachments/{attachment_id}",
            get(attachments::get).delete(attachments::remove),
        )
        .route("/api/purchase-orders/{id}/receipts", get(receipts::list))
        .route(
            "/api/purchase-orders/{id}/receipts/{receipt_id}/attachments",
            get(receipts::list_attachments).post(receipts::attach),
        )
        .route(
            "/api/purchase-orders/{id}/receipts/{receipt_id}/attachments/{attachment_id}",
            get(receipts::get_attachment).delete(receipts::remove_attachment),
        )
        .route("/api/purchase-orders/{id}/pay", post(pay::pay))
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
        .route("/api/payments/policy", get(policy::get).put(policy::set))
        .route("/api/payments/policy/approve", post(policy::approve))
        .route("/api/payments/policy/reject", post(policy::reject))
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
        lots::trace::list,
        lots::trace::get,
        lots::trace::trace,
        lots::expiring::expiring,
        create::list,
        create::create,
        due::due,
        create::get,
        counts::list,
        counts::count_many,
        counts::count_one,
        apply::apply,
        apply::cancel,
        crud::list,
        crud::create,
        crud::get,
        crud::update,
        status::submit,
        status::cancel,
        receive::receive,
        attachments::list,
        attachments::attach,
        attachments::get,
        attachments::remove,
        receipts::list,
        receipts::list_attachments,
        receipts::attach,
        receipts::get_attachment,
        receipts::remove_attachment,
        pay::pay,
        approvals::approve,
        approvals::reject,
        wise_account::get,
        wise_account::connect,
        wise_account::disconnect,
        wise_account::profiles,
        policy::get,
        policy::set,
        policy::approve,
        policy::reject
    ))]
    struct Doc;
    let mut doc = shared::http::openapi::function(<Doc as utoipa::OpenApi>::openapi(), "inventory");
    movement_shapes::document_kinds(&mut doc);
    doc
}
