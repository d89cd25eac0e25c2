//! A supplier as the API shows it (its payment details only as a summary), and how one is
//! loaded.

use chrono::{DateTime, Utc};
use serde::Serialize;
use shared::error::ApiError;
use shared::payment_details::PaymentSummary;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::contacts::Contact;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Supplier {
    pub(crate) id: Uuid,
    pub(crate) name: String,
    pub(crate) email: Option<String>,
    pub(crate) phone: Option<String>,
    pub(crate) website: Option<String>,
    pub(crate) address: Option<String>,
    pub(crate) notes: Option<String>,
    /// A summary only; the full details never leave the server.
    pub(crate) payment_details: Option<PaymentSummary>,
    pub(crate) is_active: bool,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) updated_at: DateTime<Utc>,
}

/// Loads a supplier of the organization (404 otherwise), optionally locking it.
pub async fn load(
    conn: &mut PgConnection,
    org_id: Uuid,
    id: Uuid,
    lock: bool,
) -> Result<Supplier, ApiError> {
    let row = if lock {
        sqlx::query_as!(
            Supplier,
            r#"SELECT id, name, email, phone, website, address, notes,
                    payment_summary AS "payment_details: PaymentSummary", is_active, created_at, updated_at
             FROM suppliers WHERE id = $1 AND org_id = $2 FOR UPDATE"#,
            id,
            org_id
        )
        .fetch_optional(conn)
        .await?
    } else {
        sqlx::query_as!(
            Supplier,
            r#"SELECT id, name, email, phone, website, address, notes,
                    payment_summary AS "payment_details: PaymentSummary", is_active, created_at, updated_at
             FROM suppliers WHERE id = $1 AND org_id = $2"#,
            id,
            org_id
        )
        .fetch_optional(conn)
        .await?
    };
    row.ok_or_else(|| ApiError::not_found("supplier"))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SupplierDetail {
    #[serde(flatten)]
    pub(crate) supplier: Supplier,
    pub(crate) contacts: Vec<Contact>,
}
