//! A purchase order's payment, read by the paying function (inventory) and the webhooks
//! function alike, so responses and audit rows show it the same way.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

use super::states::{PaymentStatus, TransferState};
use crate::error::ApiError;

/// A purchase order's payment, as responses and audit rows show it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Payment {
    pub status: PaymentStatus,
    /// What the supplier receives: the order's total in its currency.
    #[serde(with = "rust_decimal::serde::str")]
    pub amount: Decimal,
    #[schema(value_type = crate::domain::CurrencyCode)]
    pub currency: String,
    /// The Wise balance it is paid from, and what it costs there (fees included).
    #[schema(value_type = crate::domain::CurrencyCode)]
    pub source_currency: String,
    #[serde(with = "rust_decimal::serde::str_option")]
    pub source_amount: Option<Decimal>,
    pub attempt: i32,
    /// Wise's idempotency key for this attempt (quote it to Wise support).
    pub customer_transaction_id: Uuid,
    pub wise_transfer_id: Option<i64>,
    /// The latest transfer state Wise reported, and when it happened.
    pub wise_state: Option<String>,
    pub wise_state_at: Option<DateTime<Utc>>,
    pub failure_code: Option<String>,
    pub failure_message: Option<String>,
    pub started_at: DateTime<Utc>,
    pub paid_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

impl Payment {
    /// The payment of purchase order `id` of `org`, if one was ever started.
    pub async fn load(
        conn: &mut PgConnection,
        org: Uuid,
        id: Uuid,
    ) -> Result<Option<Self>, ApiError> {
        Ok(sqlx::query_as!(
            Payment,
            r#"SELECT status AS "status: PaymentStatus", amount, currency, source_currency, source_amount,
                  attempt, customer_transaction_id, wise_transfer_id, wise_state, wise_state_at,
                  failure_code, failure_message, started_at, paid_at, updated_at
           FROM purchase_order_payments WHERE org_id = $1 AND purchase_order_id = $2"#,
            org,
            id
        )
        .fetch_optional(conn)
        .await?)
    }

    /// Moves the payment of order `id` (in the caller's transaction, its row locked): the one
    /// write of a payment's status, for the paying run and Wise's webhooks alike.
    pub async fn transition(
        conn: &mut PgConnection,
        org: Uuid,
        id: Uuid,
        change: Transition<'_>,
    ) -> Result<(), ApiError> {
        let (state, state_at) = match change.state {
            Some((state, at)) => (Some(state.as_str()), at),
            None => (None, None),
        };
        sqlx::query!(
            r#"UPDATE purchase_order_payments
               SET status = $3,
                   wise_state = CASE WHEN $4 THEN $5 ELSE wise_state END,
                   wise_state_at = CASE WHEN $4 THEN $6 ELSE wise_state_at END,
                   failure_code = CASE WHEN $7 THEN $8 ELSE failure_code END,
                   failure_message = CASE WHEN $7 THEN $9 ELSE failure_message END,
                   paid_at = CASE WHEN $3 = 'paid'::payment_status THEN coalesce(paid_at, $6, now())
                                  WHEN $3 IN ('failed'::payment_status, 'cancelled'::payment_status) THEN NULL
                                  ELSE paid_at END,
                   updated_at = now()
               WHERE org_id = $1 AND purchase_order_id = $2"#,
            org,
            id,
            change.status as PaymentStatus,
            state.is_some(),
            state,
            state_at,
            change.failure.is_some(),
            change.failure.map(|(code, _)| code),
            change.failure.map(|(_, message)| message),
        )
        .execute(conn)
        .await?;
        Ok(())
    }
}

/// A payment's move: its new status, the transfer state to record (with when it happened; `None`
/// for a state read from an API answer) or `None` to keep the recorded one, and the failure to
/// record (`code`, `message`) or `None` to keep the recorded one.
#[derive(Clone, Copy, Debug)]
pub struct Transition<'a> {
    pub status: PaymentStatus,
    pub state: Option<(TransferState, Option<DateTime<Utc>>)>,
    pub failure: Option<(&'a str, &'a str)>,
}
