//! A purchase order's payment, read by the paying function (inventory) and the webhooks
//! function alike, so responses and audit rows show it the same way.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

use super::PaymentStatus;
use crate::error::ApiError;

/// A purchase order's payment, as responses and audit rows show it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Payment {
    pub status: PaymentStatus,
    /// What the supplier receives: the order's total in its currency.
    #[serde(with = "rust_decimal::serde::str")]
    pub amount: Decimal,
    pub currency: String,
    /// The Wise balance it is paid from, and what it costs there (fees included).
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
}
