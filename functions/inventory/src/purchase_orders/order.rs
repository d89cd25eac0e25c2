//! A purchase order as the API shows it, and what it embeds: its lines, its payment and its
//! latest approval request. [`load`] reads one; the rules about its state (what can be edited,
//! paid or cancelled) are here, so every route that changes an order asks the same questions.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use shared::domain::PoStatus;
use shared::error::ApiError;
use shared::wise::{Payment, PaymentStatus, TransferState};
use sqlx::PgConnection;
use uuid::Uuid;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Line {
    pub id: Uuid,
    pub product_id: Uuid,
    pub product_sku: String,
    pub product_name: String,
    pub quantity: i32,
    #[serde(with = "rust_decimal::serde::str")]
    pub unit_cost: Decimal,
    pub received_quantity: i32,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PurchaseOrder {
    pub id: Uuid,
    pub supplier_id: Uuid,
    pub supplier_name: String,
    pub status: PoStatus,
    #[schema(value_type = shared::domain::CurrencyCode)]
    pub currency: String,
    pub notes: Option<String>,
    #[serde(with = "rust_decimal::serde::str")]
    pub total: Decimal,
    pub submitted_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub lines: Vec<Line>,
    /// The payment to the supplier through Wise, once one was started.
    pub payment: Option<Payment>,
    /// The latest request for a second person's approval of the payment, if it needed one.
    pub approval: Option<Approval>,
}

/// The order `id` of `org` with its lines, payment and latest approval; `lock` locks its row
/// (FOR UPDATE) for the rest of the transaction. 404 when there is no such order.
pub async fn load(
    conn: &mut PgConnection,
    org: Uuid,
    id: Uuid,
    lock: bool,
) -> Result<PurchaseOrder, ApiError> {
    if lock {
        sqlx::query!(
            "SELECT id FROM purchase_orders WHERE org_id = $1 AND id = $2 FOR UPDATE",
            org,
            id
        )
        .fetch_optional(&mut *conn)
        .await?;
    }
    let head = sqlx::query!(
        r#"SELECT po.id, po.supplier_id, s.name AS supplier_name, po.status AS "status: PoStatus",
                  po.currency, po.notes, po.submitted_at, po.created_at, po.updated_at
           FROM purchase_orders po
           JOIN suppliers s ON s.org_id = po.org_id AND s.id = po.supplier_id
           WHERE po.org_id = $1 AND po.id = $2"#,
        org,
        id
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| ApiError::not_found("purchase order"))?;
    let lines = sqlx::query_as!(
        Line,
        "SELECT l.id, l.product_id, p.sku AS product_sku, p.name AS product_name, l.quantity,
                l.unit_cost, l.received_quantity
         FROM purchase_order_lines l
         JOIN products p ON p.org_id = l.org_id AND p.id = l.product_id
         WHERE l.org_id = $1 AND l.purchase_order_id = $2 ORDER BY l.position",
        org,
        id
    )
    .fetch_all(&mut *conn)
    .await?;
    let total = lines
        .iter()
        .map(|l| l.unit_cost * Decimal::from(l.quantity))
        .sum();
    let payment = Payment::load(&mut *conn, org, id).await?;
    let approval = latest(&mut *conn, org, id, None).await?;
    Ok(PurchaseOrder {
        id: head.id,
        supplier_id: head.supplier_id,
        supplier_name: head.supplier_name,
        status: head.status,
        currency: head.currency,
        notes: head.notes,
        total,
        submitted_at: head.submitted_at,
        created_at: head.created_at,
        updated_at: head.updated_at,
        lines,
        payment,
        approval,
    })
}

/// 409 `invalid_status`: the order's status does not allow `action`.
pub fn wrong_status(po: &PurchaseOrder, action: &str) -> ApiError {
    ApiError::conflict(
        "invalid_status",
        format!(
            "cannot {action} a purchase order that is {}",
            po.status.as_str()
        ),
    )
}

/// The status of an approval (the `payment_approval_status` enum).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, sqlx::Type, utoipa::ToSchema)]
#[sqlx(type_name = "payment_approval_status", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum ApprovalStatus {
    Pending,
    Approved,
    Rejected,
    Cancelled,
}

/// A request for a second person's approval of an order's payment.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Approval {
    pub id: Uuid,
    pub status: ApprovalStatus,
    #[serde(with = "rust_decimal::serde::str")]
    pub amount: Decimal,
    #[schema(value_type = shared::domain::CurrencyCode)]
    pub currency: String,
    #[schema(value_type = shared::domain::CurrencyCode)]
    pub source_currency: String,
    /// Why: `threshold` (at or above the organization's threshold), `payee_changed` (the
    /// supplier's payment details changed in the last 24 hours).
    pub reasons: Vec<String>,
    pub requested_by: Uuid,
    pub requested_at: DateTime<Utc>,
    /// Who approved, rejected or cancelled it, and when.
    pub decided_by: Option<Uuid>,
    pub decided_at: Option<DateTime<Utc>>,
    #[serde(skip)]
    pub(crate) payee_changed_by: Option<Uuid>,
    /// The SHA-256 of the supplier's sealed payment details it was asked for: what it approves.
    #[serde(skip)]
    pub(crate) payee_digest: Option<Vec<u8>>,
}

/// The order's latest approval request (of `status`, when given), if it ever needed one. There is
/// at most one pending at a time, and callers that change one hold the order's row locked.
pub async fn latest(
    conn: &mut PgConnection,
    org: Uuid,
    order: Uuid,
    status: Option<ApprovalStatus>,
) -> Result<Option<Approval>, ApiError> {
    Ok(sqlx::query_as!(
        Approval,
        r#"SELECT id, status AS "status: ApprovalStatus", amount, currency, source_currency, reasons,
                  requested_by, requested_at, decided_by, decided_at, payee_changed_by,
                  payee_digest
           FROM payment_approvals
           WHERE org_id = $1 AND purchase_order_id = $2
             AND ($3::payment_approval_status IS NULL OR status = $3)
           ORDER BY requested_at DESC, id LIMIT 1"#,
        org,
        order,
        status as Option<ApprovalStatus>
    )
    .fetch_optional(conn)
    .await?)
}

/// A 409 while a payment is under way or done, or while its money may still move: the order
/// must not be changed (cancelled) or paid again. `None` when there is no payment, or it failed
/// or was cancelled — except a transfer that bounced back: Wise may still resend it until it
/// refunds or cancels it.
pub fn blocking(payment: Option<&Payment>, action: &str) -> Option<ApiError> {
    let payment = payment?;
    match payment.status {
        PaymentStatus::Paid => Some(ApiError::conflict(
            "already_paid",
            format!("cannot {action} a purchase order that is paid"),
        )),
        PaymentStatus::Pending | PaymentStatus::Processing => Some(ApiError::conflict(
            "payment_in_progress",
            format!("cannot {action} a purchase order while its payment is in progress"),
        )),
        PaymentStatus::Failed | PaymentStatus::Cancelled => {
            let state = payment.wise_state.as_deref().and_then(TransferState::parse);
            (state == Some(TransferState::BouncedBack)).then(|| {
                ApiError::conflict(
                    "payment_bounced",
                    format!(
                        "cannot {action} a purchase order while its transfer is bounced back: \
                         Wise may still resend it; once Wise refunds or cancels it, try again"
                    ),
                )
            })
        }
    }
}

/// 409 unless the order's status and total allow paying it: a draft is still being edited, a
/// cancelled order is off (`invalid_status`), an order of nothing has nothing to pay.
pub fn payable(order: &PurchaseOrder) -> Result<(), ApiError> {
    if !PoStatus::PAYABLE.contains(&order.status) {
        return Err(ApiError::conflict(
            "invalid_status",
            format!(
                "cannot pay a purchase order that is {}",
                order.status.as_str()
            ),
        ));
    }
    if order.total <= Decimal::ZERO {
        return Err(ApiError::conflict(
            "nothing_to_pay",
            "the purchase order's total is zero",
        ));
    }
    Ok(())
}
