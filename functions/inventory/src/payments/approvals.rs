//! Payments that need a second person.
//!
//! A payment needs the approval of a second owner or admin when
//! - its amount is at or above the organization's threshold (`PUT /api/payments/policy`); an
//!   order in another currency than the threshold's always does, since the two cannot be
//!   compared without a rate; or
//! - the supplier's payment details were set or changed in the last 24 hours (the classic
//!   payee-fraud path: swap the bank details, pay at once).
//!
//! Then `/pay` records a pending approval and answers 202; `POST .../pay/approve` by another
//! owner or admin (not the one who asked, nor the one who changed the details, and with a
//! step-up, and not within their cooling-off if someone made them an owner or admin recently)
//! approves it and runs the payment at once. An approval covers that amount to those very
//! payment details (the digest of their sealed value, checked again with the supplier's row
//! locked while the payment reads them): a retry after Wise refused goes through without a new
//! approval, a changed order or payee needs a new one. Cancelling the order cancels a pending
//! approval. Each step is audited in its transaction.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use shared::audit::{Action, Change};
use shared::auth::caller::Caller;
use shared::auth::membership::require_settled_admin;
use shared::auth::{RequireAdmin, StepUp};
use shared::error::ApiError;
use shared::http::PathId;
use sqlx::PgConnection;
use uuid::Uuid;

use super::run;
use crate::purchase_orders::order::{self, Approval, ApprovalStatus, PurchaseOrder};
use crate::state::InventoryState;

/// How long a payment to newly set or changed bank details needs a second person.
pub const PAYEE_COOLING_OFF_HOURS: i32 = 24;

/// The pending approval of an order (the caller holds the order's row locked).
async fn pending(
    conn: &mut PgConnection,
    org: Uuid,
    order: Uuid,
) -> Result<Option<Approval>, ApiError> {
    order::latest(conn, org, order, Some(ApprovalStatus::Pending)).await
}

/// Why paying `order` now needs a second person, and the payee version it is for.
struct Need {
    reasons: Vec<String>,
    payee_changed_at: Option<DateTime<Utc>>,
    payee_changed_by: Option<Uuid>,
    /// The SHA-256 of the supplier's sealed payment details now.
    payee_digest: Option<Vec<u8>>,
}

/// What paying `order` needs now. The supplier's row is locked (FOR SHARE) until the payment's
/// transaction ends, so its payment details cannot change between this decision and the payment
/// reading them: a concurrent change waits, or is seen here.
async fn need(conn: &mut PgConnection, org: Uuid, order: &PurchaseOrder) -> Result<Need, ApiError> {
    let row = sqlx::query!(
        r#"SELECT s.payment_details_changed_at, s.payment_details_changed_by,
                  coalesce(s.payment_details_changed_at > now() - make_interval(hours => $3), false) AS "recent!",
                  sha256(s.payment_details) AS payee_digest,
                  p.approval_threshold AS "approval_threshold?", p.approval_currency AS "approval_currency?"
           FROM suppliers s LEFT JOIN payment_policies p ON p.org_id = s.org_id
           WHERE s.org_id = $1 AND s.id = $2
           FOR SHARE OF s"#,
        org,
        order.supplier_id,
        PAYEE_COOLING_OFF_HOURS
    )
    .fetch_one(conn)
    .await?;
    let mut reasons = Vec::new();
    if let (Some(threshold), Some(currency)) = (row.approval_threshold, row.approval_currency)
        && (currency != order.currency || order.total >= threshold)
    {
        reasons.push("threshold".to_owned());
    }
    if row.recent {
        reasons.push("payee_changed".to_owned());
    }
    Ok(Need {
        reasons,
        payee_changed_at: row.payment_details_changed_at,
        payee_changed_by: row.payment_details_changed_by,
        payee_digest: row.payee_digest,
    })
}

/// Whether `approval` was given for paying `order` as it is now: the amount, the currency, and
/// the very payment details (their sealed value's digest).
fn covers(approval: &Approval, order: &PurchaseOrder, need: &Need) -> bool {
    approval.amount == order.total
        && approval.currency == order.currency
        && approval.payee_digest.is_some()
        && approval.payee_digest == need.payee_digest
}

/// Decides whether paying `order` (from `source_currency`) may go ahead now: `None` when it may
/// (no approval needed, or an approval covers it), else the pending approval it now waits on,
/// newly requested (audited) unless the same request was already pending (409
/// `approval_pending`). Runs in the payment's first transaction, with the order locked.
pub async fn gate(
    conn: &mut PgConnection,
    caller: &Caller,
    order: &PurchaseOrder,
    source_currency: &str,
) -> Result<Option<Approval>, ApiError> {
    let org = caller.org_id;
    let need = need(&mut *conn, org, order).await?;
    let open = pending(&mut *conn, org, order.id).await?;
    if need.reasons.is_empty() {
        // Nothing to approve any more (the threshold was lifted, the 24 hours passed).
        if let Some(open) = open {
            withdraw(&mut *conn, caller, order.id, &open).await?;
        }
        return Ok(None);
    }
    let approved = order::latest(&mut *conn, org, order.id, Some(ApprovalStatus::Approved)).await?;
    if approved.is_some_and(|a| covers(&a, order, &need) && a.reasons_cover(&need)) {
        return Ok(None);
    }
    if let Some(open) = open {
        if covers(&open, order, &need) && open.reasons_cover(&need) {
            return Err(ApiError::conflict(
                "approval_pending",
                "this payment already waits for approval by a second owner or admin",
            ));
        }
        // Asked for another amount or payee: replaced by a request for this one.
        withdraw(&mut *conn, caller, order.id, &open).await?;
    }
    let requester = caller.user_id().ok_or_else(|| {
        ApiError::forbidden("step_up_unavailable", "an API key cannot pay suppliers")
    })?;
    let approval = sqlx::query_as!(
        Approval,
        r#"INSERT INTO payment_approvals
               (org_id, purchase_order_id, amount, currency, source_currency, reasons,
                payee_changed_at, payee_changed_by, requested_by, payee_digest)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
           RETURNING id, status AS "status: ApprovalStatus", amount, currency, source_currency, reasons,
                     requested_by, requested_at, decided_by, decided_at, payee_changed_by,
                     payee_digest"#,
        org,
        order.id,
        order.total,
        order.currency,
        source_currency,
        &need.reasons,
        need.payee_changed_at,
        need.payee_changed_by,
        requester,
        need.payee_digest
    )
    .fetch_one(&mut *conn)
    .await?;
    caller
        .audit(
            &mut *conn,
            Action::ApprovalRequested,
            order.id,
            Change::created(&approval),
        )
        .await?;
    Ok(Some(approval))
}

impl Approval {
    /// Every reason the payment needs approval now was one this approval was given for.
    fn reasons_cover(&self, need: &Need) -> bool {
        need.reasons.iter().all(|r| self.reasons.contains(r))
    }
}

/// Records a decision on `approval` (audited).
async fn decide(
    conn: &mut PgConnection,
    caller: &Caller,
    order: Uuid,
    approval: &Approval,
    status: ApprovalStatus,
) -> Result<Approval, ApiError> {
    let after = sqlx::query_as!(
        Approval,
        r#"UPDATE payment_approvals SET status = $3, decided_by = $4, decided_at = now()
           WHERE org_id = $1 AND id = $2 AND status = 'pending'
           RETURNING id, status AS "status: ApprovalStatus", amount, currency, source_currency, reasons,
                     requested_by, requested_at, decided_by, decided_at, payee_changed_by,
                     payee_digest"#,
        caller.org_id,
        approval.id,
        status as ApprovalStatus,
        caller.user_id()
    )
    .fetch_one(&mut *conn)
    .await?;
    let action = match status {
        ApprovalStatus::Approved => Action::ApprovalApproved,
        ApprovalStatus::Rejected => Action::ApprovalRejected,
        ApprovalStatus::Cancelled | ApprovalStatus::Pending => Action::ApprovalCancelled,
    };
    caller
        .audit(conn, action, order, Change::updated(approval, &after))
        .await?;
    Ok(after)
}

/// Cancels `open`, a request that no longer stands (audited).
async fn withdraw(
    conn: &mut PgConnection,
    caller: &Caller,
    order: Uuid,
    open: &Approval,
) -> Result<(), ApiError> {
    decide(conn, caller, order, open, ApprovalStatus::Cancelled).await?;
    Ok(())
}

/// Cancels the order's pending approval, if any (the order is being cancelled).
pub async fn cancel_pending(
    conn: &mut PgConnection,
    caller: &Caller,
    order: Uuid,
) -> Result<(), ApiError> {
    if let Some(open) = pending(&mut *conn, caller.org_id, order).await? {
        withdraw(conn, caller, order, &open).await?;
    }
    Ok(())
}

fn no_pending() -> ApiError {
    ApiError::conflict(
        "no_pending_approval",
        "this purchase order's payment does not wait for an approval",
    )
}

/// `POST /api/purchase-orders/{id}/pay/approve`: a second owner or admin approves the pending
/// payment, which then runs at once (as `/pay` does). Needs a step-up.
#[utoipa::path(post, path = "/api/purchase-orders/{id}/pay/approve", operation_id = "approve_purchase_order_payment", params(("id" = Uuid, Path), shared::http::openapi::StepUpHeader),
    responses((status = 200, description = "Approved and paid through Wise (or under way); the order with its `payment` and `approval`", body = PurchaseOrder),
        (status = 401, description = "`step_up_required`"),
        (status = 403, description = "`own_payment`: the one who asked cannot approve; `own_payee_change`: nor the one who changed the supplier's details; `admin_cooling_off`: nor an owner or admin made so recently by someone else; `admin_required`"),
        (status = 409, description = "`no_pending_approval`; `approval_stale`: the order's amount or the supplier's payment details changed since it was asked (pay again to ask anew); or the order cannot be paid now"),
        (status = 502, description = "As for `/pay`: Wise refused (`wise_error`) or did not confirm (`wise_unreachable`); the approval stands for a retry")))]
pub async fn approve(
    State(state): State<InventoryState>,
    StepUp(mut admin): StepUp<RequireAdmin>,
    PathId(id): PathId,
) -> Result<Response, ApiError> {
    let (caller, tx) = admin.parts();
    let org = caller.org_id;
    let order = order::load(&mut *tx, org, id, true).await?;
    let open = pending(&mut *tx, org, id).await?.ok_or_else(no_pending)?;
    let approver = caller.user_id();
    if let Some(approver) = approver {
        let cooling_off = state.app.settings.admin_cooling_off;
        require_settled_admin(&mut *tx, org, approver, cooling_off, "approve payments").await?;
    }
    if approver == Some(open.requested_by) {
        return Err(ApiError::forbidden(
            "own_payment",
            "a payment is approved by a second owner or admin, not by the one who asked for it",
        ));
    }
    if open.reasons.iter().any(|r| r == "payee_changed") && approver == open.payee_changed_by {
        return Err(ApiError::forbidden(
            "own_payee_change",
            "the supplier's payment details were changed by you: another owner or admin approves \
             a payment to them",
        ));
    }
    let need = need(&mut *tx, org, &order).await?;
    if !covers(&open, &order, &need) {
        return Err(ApiError::conflict(
            "approval_stale",
            "the order's amount or the supplier's payment details changed since this payment was \
             asked for: pay again to ask for approval of the payment as it is now",
        ));
    }
    let source_currency = open.source_currency.clone();
    decide(&mut *tx, caller, id, &open, ApprovalStatus::Approved).await?;
    run::run(&state, admin.0, order, Some(source_currency), None).await
}

/// `POST /api/purchase-orders/{id}/pay/reject`: an owner or admin turns the pending payment
/// down (the one who asked may withdraw it the same way).
#[utoipa::path(post, path = "/api/purchase-orders/{id}/pay/reject", operation_id = "reject_purchase_order_payment", params(("id" = Uuid, Path)),
    responses((status = 200, description = "Rejected; the order with its `approval`", body = PurchaseOrder),
        (status = 403, description = "`admin_required`"),
        (status = 409, description = "`no_pending_approval`")))]
pub async fn reject(mut admin: RequireAdmin, PathId(id): PathId) -> Result<Response, ApiError> {
    let (caller, tx) = admin.parts();
    order::load(&mut *tx, caller.org_id, id, true).await?;
    let open = pending(&mut *tx, caller.org_id, id)
        .await?
        .ok_or_else(no_pending)?;
    decide(&mut *tx, caller, id, &open, ApprovalStatus::Rejected).await?;
    let order = order::load(&mut *tx, caller.org_id, id, false).await?;
    Ok((StatusCode::OK, axum::Json(order)).into_response())
}
