//! A stocktake and its lines as the API shows them, and how they are read.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use shared::error::ApiError;
use sqlx::PgConnection;
use uuid::Uuid;

/// Where a stocktake is.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, sqlx::Type, utoipa::ToSchema,
)]
#[sqlx(type_name = "stocktake_status", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum StocktakeStatus {
    /// Counts are being recorded.
    Open,
    /// Its differences are in the ledger; nothing changes it any more.
    Applied,
    /// Called off: nothing was adjusted.
    Cancelled,
}

/// Which products a stocktake counts.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, sqlx::Type, utoipa::ToSchema,
)]
#[sqlx(type_name = "stocktake_scope", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum StocktakeScope {
    /// Every active product.
    All,
    /// One supplier's active products.
    Supplier,
    /// The products listed.
    Products,
}

/// How far the counting is, and what the counts found so far (compared with the stock when
/// each was recorded). The figures other than `lines` and `counted` are `null` on a blind
/// stocktake for a caller without inventory write.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Progress {
    pub lines: i64,
    pub counted: i64,
    /// Counted lines whose count differs from the stock.
    pub with_variance: Option<i64>,
    /// Units found more (positive) or missing (negative), summed.
    pub variance_units: Option<i64>,
    /// The variance at each product's average cost (its standard cost before any costed
    /// receipt), per currency (products without a cost count as zero).
    pub variance_value: Option<Vec<Amount>>,
}

/// A sum of money in one currency.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Amount {
    #[schema(value_type = shared::domain::CurrencyCode)]
    pub currency: String,
    #[schema(value_type = String, example = "-12.50")]
    pub amount: Decimal,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Stocktake {
    pub id: Uuid,
    pub location_id: Uuid,
    pub scope: StocktakeScope,
    pub supplier_id: Option<Uuid>,
    pub blind: bool,
    pub status: StocktakeStatus,
    pub note: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub applied_at: Option<DateTime<Utc>>,
    pub progress: Progress,
}

/// The stocktake's row.
pub struct Head {
    pub id: Uuid,
    pub location_id: Uuid,
    pub scope: StocktakeScope,
    pub supplier_id: Option<Uuid>,
    pub blind: bool,
    pub status: StocktakeStatus,
    pub note: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub applied_at: Option<DateTime<Utc>>,
    pub result: Option<serde_json::Value>,
}

/// The organization's stocktake (locked for the rest of the transaction with `lock`); 404
/// otherwise.
pub async fn head(
    conn: &mut PgConnection,
    org: Uuid,
    id: Uuid,
    lock: bool,
) -> Result<Head, ApiError> {
    let row = if lock {
        sqlx::query_as!(
            Head,
            r#"SELECT id, location_id, scope AS "scope: StocktakeScope", supplier_id, blind,
                      status AS "status: StocktakeStatus", note, created_at, updated_at,
                      applied_at, result
               FROM stocktakes WHERE org_id = $1 AND id = $2 FOR UPDATE"#,
            org,
            id
        )
        .fetch_optional(conn)
        .await?
    } else {
        sqlx::query_as!(
            Head,
            r#"SELECT id, location_id, scope AS "scope: StocktakeScope", supplier_id, blind,
                      status AS "status: StocktakeStatus", note, created_at, updated_at,
                      applied_at, result
               FROM stocktakes WHERE org_id = $1 AND id = $2"#,
            org,
            id
        )
        .fetch_optional(conn)
        .await?
    };
    row.ok_or_else(|| ApiError::not_found("stocktake"))
}

/// The stocktake with its progress; `expected` says whether the caller may see the expected
/// figures (not on a blind stocktake without inventory write).
pub async fn view(
    conn: &mut PgConnection,
    org: Uuid,
    head: Head,
    expected: bool,
) -> Result<Stocktake, ApiError> {
    let progress = progress(conn, org, head.id, expected).await?;
    Ok(Stocktake {
        id: head.id,
        location_id: head.location_id,
        scope: head.scope,
        supplier_id: head.supplier_id,
        blind: head.blind,
        status: head.status,
        note: head.note,
        created_at: head.created_at,
        updated_at: head.updated_at,
        applied_at: head.applied_at,
        progress,
    })
}

/// What the counts of stocktake `id` found so far (each compared with the stock when it was
/// recorded); the figures beyond `lines` and `counted` only with `expected`.
pub async fn progress(
    conn: &mut PgConnection,
    org: Uuid,
    id: Uuid,
    expected: bool,
) -> Result<Progress, ApiError> {
    let totals = sqlx::query!(
        r#"SELECT count(*) AS "lines!", count(l.counted) AS "counted!",
                  count(*) FILTER (WHERE l.counted <> l.on_hand_at_count) AS "with_variance!",
                  coalesce(sum(l.counted - l.on_hand_at_count), 0)::bigint AS "units!"
           FROM stocktake_lines l WHERE l.org_id = $1 AND l.stocktake_id = $2"#,
        org,
        id
    )
    .fetch_one(&mut *conn)
    .await?;
    let value = if expected {
        let rows = sqlx::query!(
            r#"SELECT p.currency AS "currency!",
                      round(sum((l.counted - l.on_hand_at_count) * coalesce(p.average_cost, p.cost, 0)), 2) AS "amount!"
               FROM stocktake_lines l
               JOIN products p ON p.org_id = l.org_id AND p.id = l.product_id
               WHERE l.org_id = $1 AND l.stocktake_id = $2 AND l.counted <> l.on_hand_at_count
               GROUP BY p.currency ORDER BY p.currency"#,
            org,
            id
        )
        .fetch_all(&mut *conn)
        .await?;
        let mut amounts = Vec::with_capacity(rows.len());
        for row in rows {
            amounts.push(Amount {
                currency: row.currency,
                amount: row.amount,
            });
        }
        Some(amounts)
    } else {
        None
    };
    Ok(Progress {
        lines: totals.lines,
        counted: totals.counted,
        with_variance: expected.then_some(totals.with_variance),
        variance_units: expected.then_some(totals.units),
        variance_value: value,
    })
}

/// 409: the stocktake is applied or cancelled.
pub fn not_open(head: &Head) -> ApiError {
    let state = match head.status {
        StocktakeStatus::Open => "open",
        StocktakeStatus::Applied => "applied",
        StocktakeStatus::Cancelled => "cancelled",
    };
    ApiError::conflict(
        "stocktake_not_open",
        format!("the stocktake is {state}: counts can no longer change"),
    )
}
