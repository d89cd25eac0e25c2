//! An order's status moved by hand: submitted to the supplier, or cancelled (which withdraws a
//! payment's pending approval; an order whose money is on its way or sent stands).

use axum::Json;
use shared::audit::{Action, Change};
use shared::auth::Require;
use shared::auth::caller::{Purchasing, Write};
use shared::domain::PoStatus;
use shared::error::ApiError;
use shared::http::PathId;
use uuid::Uuid;

use super::order::{self, PurchaseOrder, load};
use crate::payments::approvals;

async fn transition(
    tenant: &mut Require<Purchasing, Write>,
    id: Uuid,
    from: &[PoStatus],
    to: PoStatus,
    verb: &str,
    action: Action,
) -> Result<PurchaseOrder, ApiError> {
    let (caller, tx) = tenant.parts();
    let org = caller.org_id;
    let before = load(&mut *tx, org, id, true).await?;
    if !from.contains(&before.status) {
        return Err(order::wrong_status(&before, verb));
    }
    // Money on its way or sent: the order stands.
    if to == PoStatus::Cancelled {
        if let Some(error) = order::blocking(before.payment.as_ref(), verb) {
            return Err(error);
        }
        approvals::cancel_pending(&mut *tx, caller, id).await?;
    }
    sqlx::query!(
        "UPDATE purchase_orders SET status = $3, updated_at = now(),
                submitted_at = CASE WHEN $4 THEN now() ELSE submitted_at END
         WHERE org_id = $1 AND id = $2",
        org,
        id,
        to as PoStatus,
        to == PoStatus::Submitted
    )
    .execute(&mut *tx)
    .await?;
    let after = load(&mut *tx, org, id, false).await?;
    caller
        .audit(&mut *tx, action, id, Change::updated(&before, &after))
        .await?;
    Ok(after)
}

/// `POST /api/purchase-orders/{id}/submit`: draft → submitted.
#[utoipa::path(post, path = "/api/purchase-orders/{id}/submit", operation_id = "submit_purchase_order", params(("id" = Uuid, Path)),
    responses((status = 200, body = PurchaseOrder), (status = 409, description = "Not a draft")))]
pub async fn submit(
    mut tenant: Require<Purchasing, Write>,
    PathId(id): PathId,
) -> Result<Json<PurchaseOrder>, ApiError> {
    transition(
        &mut tenant,
        id,
        &[PoStatus::Draft],
        PoStatus::Submitted,
        "submit",
        Action::PurchaseOrderSubmitted,
    )
    .await
    .map(Json)
}

/// `POST /api/purchase-orders/{id}/cancel`: before anything was received.
#[utoipa::path(post, path = "/api/purchase-orders/{id}/cancel", operation_id = "cancel_purchase_order", params(("id" = Uuid, Path)),
    responses((status = 200, body = PurchaseOrder), (status = 409, description = "Goods arrived, or a payment is under way")))]
pub async fn cancel(
    mut tenant: Require<Purchasing, Write>,
    PathId(id): PathId,
) -> Result<Json<PurchaseOrder>, ApiError> {
    transition(
        &mut tenant,
        id,
        &PoStatus::CANCELLABLE,
        PoStatus::Cancelled,
        "cancel",
        Action::PurchaseOrderCancelled,
    )
    .await
    .map(Json)
}
