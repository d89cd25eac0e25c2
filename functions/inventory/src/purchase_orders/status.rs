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

/// A move of an order's status by hand: from one of `from` to `to`, refused with `verb`
/// otherwise, audited as `action`.
struct Transition {
    from: &'static [PoStatus],
    to: PoStatus,
    verb: &'static str,
    action: Action,
}

const SUBMIT: Transition = Transition {
    from: &[PoStatus::Draft],
    to: PoStatus::Submitted,
    verb: "submit",
    action: Action::PurchaseOrderSubmitted,
};

const CANCEL: Transition = Transition {
    from: &PoStatus::CANCELLABLE,
    to: PoStatus::Cancelled,
    verb: "cancel",
    action: Action::PurchaseOrderCancelled,
};

/// What the routes here answer: the order as it is now.
type Moved = Result<Json<PurchaseOrder>, ApiError>;

impl Transition {
    async fn make(&self, tenant: &mut Require<Purchasing, Write>, id: Uuid) -> Moved {
        let (caller, tx) = tenant.parts();
        let org = caller.org_id;
        let before = load(&mut *tx, org, id, true).await?;
        if !self.from.contains(&before.status) {
            return Err(order::wrong_status(&before, self.verb));
        }
        // Money on its way or sent: the order stands.
        if self.to == PoStatus::Cancelled {
            if let Some(error) = order::blocking(before.payment.as_ref(), self.verb) {
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
            self.to as PoStatus,
            self.to == PoStatus::Submitted
        )
        .execute(&mut *tx)
        .await?;
        let after = load(&mut *tx, org, id, false).await?;
        caller
            .audit(&mut *tx, self.action, id, Change::updated(&before, &after))
            .await?;
        Ok(Json(after))
    }
}

/// `POST /api/purchase-orders/{id}/submit`: draft → submitted.
#[utoipa::path(post, path = "/api/purchase-orders/{id}/submit", operation_id = "submit_purchase_order", params(("id" = Uuid, Path)),
    responses((status = 200, body = PurchaseOrder), (status = 409, description = "Not a draft")))]
pub async fn submit(mut tenant: Require<Purchasing, Write>, PathId(id): PathId) -> Moved {
    SUBMIT.make(&mut tenant, id).await
}

/// `POST /api/purchase-orders/{id}/cancel`: before anything was received.
#[utoipa::path(post, path = "/api/purchase-orders/{id}/cancel", operation_id = "cancel_purchase_order", params(("id" = Uuid, Path)),
    responses((status = 200, body = PurchaseOrder), (status = 409, description = "Goods arrived, or a payment is under way")))]
pub async fn cancel(mut tenant: Require<Purchasing, Write>, PathId(id): PathId) -> Moved {
    CANCEL.make(&mut tenant, id).await
}
