//! Cycle counts: which products are due for counting, so a shop counts a little every week
//! instead of closing for a day.

use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use shared::auth::Require;
use shared::auth::caller::{Inventory, Read};
use shared::error::ApiError;
use shared::http::AppQuery;
use shared::http::pagination::{Page, PageQuery, PageRequest};
use uuid::Uuid;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DueProduct {
    product_id: Uuid,
    sku: String,
    name: String,
    /// When an applied stocktake last counted it (`null`: never).
    last_counted_at: Option<DateTime<Utc>>,
    /// Its own interval, or the organization's.
    count_interval_days: i32,
    /// Since when it is due: its last count plus the interval, or when it was added if it was
    /// never counted.
    due_at: DateTime<Utc>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DueQuery {
    /// Only products of this supplier.
    supplier_id: Option<Uuid>,
}

/// `GET /api/stocktakes/due`: active products not counted within their interval, longest
/// due first (the ones never counted by when they were added).
#[utoipa::path(get, path = "/api/stocktakes/due", operation_id = "list_due_counts", params(DueQuery, PageQuery),
    responses((status = 200, body = Page<DueProduct>)))]
pub async fn due(
    mut tenant: Require<Inventory, Read>,
    AppQuery(query): AppQuery<DueQuery>,
    page: PageRequest<(DateTime<Utc>, Uuid)>,
) -> Result<Json<Page<DueProduct>>, ApiError> {
    let (after_at, after_id) = page.after.unzip();
    let rows = sqlx::query_as!(
        DueProduct,
        r#"SELECT product_id AS "product_id!", sku AS "sku!", name AS "name!", last_counted_at,
                  count_interval_days AS "count_interval_days!", due_at AS "due_at!"
           FROM (SELECT p.id AS product_id, p.sku, p.name, p.last_counted_at,
                        coalesce(p.count_interval_days, o.count_interval_days) AS count_interval_days,
                        coalesce(p.last_counted_at
                                 + make_interval(days => coalesce(p.count_interval_days,
                                                                  o.count_interval_days)),
                                 p.created_at) AS due_at
                 FROM products p JOIN organizations o ON o.id = p.org_id
                 WHERE p.org_id = $1 AND p.is_active
                   AND ($2::uuid IS NULL OR p.supplier_id = $2)) d
           WHERE due_at <= now()
             AND ($3::timestamptz IS NULL OR (due_at, product_id) > ($3, $4))
           ORDER BY due_at, product_id
           LIMIT $5"#,
        tenant.caller.org_id,
        query.supplier_id,
        after_at,
        after_id,
        page.limit + 1
    )
    .fetch_all(&mut *tenant.db)
    .await?;
    Ok(Json(Page::from_rows(rows, page.limit, None, |r| {
        (r.due_at, r.product_id)
    })))
}
