//! The first transaction of a run: whether the order can be paid now, which attempt this is
//! (a retry, a takeover, a new transfer), the payee's details, and the payment marked pending.

use rust_decimal::Decimal;
use sha2::{Digest, Sha256};
use shared::error::ApiError;
use shared::payment_details::PaymentDetails;
use shared::wise::{self, PaymentStatus, TransferState};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::purchase_orders::order::{self, PurchaseOrder};
use crate::state::InventoryState;

/// Everything the Wise step needs, decided in the first transaction.
pub(super) struct Plan {
    pub(super) order: Uuid,
    pub(super) org: Uuid,
    pub(super) supplier: Uuid,
    pub(super) attempt: i32,
    pub(super) customer_transaction_id: Uuid,
    pub(super) amount: Decimal,
    pub(super) currency: String,
    pub(super) source_currency: String,
    /// The transfer this attempt already made, if Wise gave one.
    pub(super) transfer_id: Option<i64>,
    pub(super) payee: PaymentDetails,
    pub(super) details_digest: Vec<u8>,
    /// The supplier's recipient account for these details, if already created.
    pub(super) recipient_id: Option<i64>,
}

impl Plan {
    /// The reference the supplier sees on their statement. Wise's length limit depends on the
    /// currency route; ten characters stay within the usual ones.
    pub(super) fn reference(&self) -> String {
        format!("PO-{}", &self.order.simple().to_string()[..7]).to_uppercase()
    }
}

/// Checks that the order can be paid now and decides the attempt (first transaction).
pub(super) async fn prepare(
    tx: &mut PgConnection,
    state: &InventoryState,
    profile_id: i64,
    org: Uuid,
    order: &PurchaseOrder,
    source_currency: Option<String>,
) -> Result<Plan, ApiError> {
    let id = order.id;
    order::payable(order)?;
    let previous = sqlx::query!(
        r#"SELECT status AS "status: PaymentStatus", attempt, wise_profile_id, wise_transfer_id,
                  wise_state, source_currency,
                  -- A run takes at most WISE_DEADLINE; a pending payment older than this was
                  -- interrupted (the function was stopped) and may be taken over.
                  started_at > now() - interval '2 minutes' AS "running!"
           FROM purchase_order_payments WHERE org_id = $1 AND purchase_order_id = $2"#,
        org,
        id
    )
    .fetch_optional(&mut *tx)
    .await?;
    let (attempt, transfer_id, kept_source) = match previous {
        None => (1, None, None),
        Some(p) => {
            let interrupted = p.status == PaymentStatus::Pending && !p.running;
            if !interrupted && let Some(error) = order::blocking(order.payment.as_ref(), "pay") {
                return Err(error);
            }
            let state = p.wise_state.as_deref().and_then(TransferState::parse);
            if state == Some(TransferState::ChargedBack) {
                return Err(ApiError::conflict(
                    "payment_charged_back",
                    "the order's transfer was charged back at Wise; settle it with Wise \
                     before paying this order again",
                ));
            }
            if state.is_some_and(TransferState::allows_new_attempt) {
                // Closed for good at Wise: a new transfer cannot pay the supplier twice.
                (p.attempt + 1, None, None)
            } else if p.wise_profile_id != profile_id {
                // The old transfer lives under another profile (this client cannot even look
                // at it). Funding needs the transfer id, which is recorded before any funding,
                // so without one nothing was funded there; with one, it may still pay out.
                if let Some(transfer) = p.wise_transfer_id {
                    return Err(ApiError::conflict(
                        "wise_profile_changed",
                        format!(
                            "the order's Wise transfer {transfer} was made from Wise profile {} \
                             and is not known to be closed; cancel it at Wise (its webhook then \
                             records it) before paying from profile {profile_id}",
                            p.wise_profile_id
                        ),
                    ));
                }
                (p.attempt + 1, None, None)
            } else {
                // The same attempt: its transfer (if any) fixes the source currency.
                let kept = p.wise_transfer_id.map(|_| p.source_currency);
                (p.attempt, p.wise_transfer_id, kept)
            }
        }
    };

    let sealed = sqlx::query_scalar!(
        "SELECT payment_details FROM suppliers WHERE org_id = $1 AND id = $2",
        org,
        order.supplier_id
    )
    .fetch_one(&mut *tx)
    .await?
    .ok_or_else(|| {
        ApiError::conflict(
            "missing_payment_details",
            "the supplier has no payment details; add them to the supplier first",
        )
    })?;
    let payee = PaymentDetails::open(&state.app.settings.keys, order.supplier_id, &sealed).await?;
    if payee.currency != order.currency {
        return Err(ApiError::conflict(
            "currency_mismatch",
            format!(
                "the supplier's bank account is in {} but the purchase order is in {}",
                payee.currency, order.currency
            ),
        ));
    }
    let details_digest = Sha256::digest(&sealed).to_vec();
    let recipient_id = sqlx::query_scalar!(
        "SELECT wise_recipient_id FROM wise_recipients
         WHERE org_id = $1 AND supplier_id = $2 AND wise_profile_id = $3 AND details_digest = $4",
        org,
        order.supplier_id,
        profile_id,
        details_digest
    )
    .fetch_optional(&mut *tx)
    .await?;
    Ok(Plan {
        order: id,
        org,
        supplier: order.supplier_id,
        attempt,
        customer_transaction_id: wise::customer_transaction_id(id, attempt),
        amount: order.total,
        currency: order.currency.clone(),
        source_currency: kept_source
            .or(source_currency)
            .unwrap_or_else(|| order.currency.clone()),
        transfer_id,
        payee,
        details_digest,
        recipient_id,
    })
}

/// Marks the payment pending for `plan`'s attempt; a new attempt forgets the old transfer.
pub(super) async fn start(
    tx: &mut PgConnection,
    plan: &Plan,
    profile_id: i64,
) -> Result<(), ApiError> {
    sqlx::query!(
        r#"INSERT INTO purchase_order_payments
               (purchase_order_id, org_id, status, attempt, customer_transaction_id, amount, currency,
                source_currency, wise_profile_id)
           VALUES ($1, $2, 'pending', $3, $4, $5, $6, $7, $8)
           ON CONFLICT (purchase_order_id) DO UPDATE SET
               status = 'pending', started_at = now(), updated_at = now(),
               failure_code = NULL, failure_message = NULL,
               amount = EXCLUDED.amount, currency = EXCLUDED.currency,
               source_currency = EXCLUDED.source_currency, wise_profile_id = EXCLUDED.wise_profile_id,
               attempt = EXCLUDED.attempt, customer_transaction_id = EXCLUDED.customer_transaction_id,
               source_amount = CASE WHEN $9 THEN purchase_order_payments.source_amount END,
               wise_quote_id = CASE WHEN $9 THEN purchase_order_payments.wise_quote_id END,
               wise_recipient_id = CASE WHEN $9 THEN purchase_order_payments.wise_recipient_id END,
               wise_transfer_id = CASE WHEN $9 THEN purchase_order_payments.wise_transfer_id END,
               wise_state = CASE WHEN $9 THEN purchase_order_payments.wise_state END,
               wise_state_at = CASE WHEN $9 THEN purchase_order_payments.wise_state_at END,
               paid_at = NULL"#,
        plan.order,
        plan.org,
        plan.attempt,
        plan.customer_transaction_id,
        plan.amount,
        plan.currency,
        plan.source_currency,
        profile_id,
        plan.transfer_id.is_some()
    )
    .execute(tx)
    .await?;
    Ok(())
}
