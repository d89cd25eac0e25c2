//! `GET /api/stock/expiring`: the units on hand whose lot expires within some days, or has
//! expired, soonest first.

use axum::Json;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use shared::auth::Require;
use shared::auth::caller::{Inventory, Read};
use shared::error::ApiError;
use shared::http::pagination::{Page, PageQuery, PageRequest};
use shared::http::{AppQuery, Ids};
use uuid::Uuid;

/// The default horizon, in days.
const DEFAULT_DAYS: i32 = 30;
/// The farthest horizon, in days.
const MAX_DAYS: i32 = 3650;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ExpiringStock {
    lot_id: Uuid,
    lot_number: String,
    expires_on: NaiveDate,
    /// Days until it expires: 0 on its last day, negative once expired.
    days_left: i32,
    /// Past its expiry date: not sold or reserved unless the organization allows it.
    expired: bool,
    product_id: Uuid,
    product_sku: String,
    product_name: String,
    location_id: Uuid,
    location_name: String,
    on_hand: i32,
    reserved: i32,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExpiringQuery {
    /// Lots expiring within this many days from today (default 30); lots already expired are
    /// always listed.
    #[param(minimum = 0, maximum = 3650)]
    within_days: Option<i32>,
    /// One location, or several (`location_id=a,b` or repeated).
    #[param(value_type = Option<Vec<Uuid>>, max_items = 100)]
    location_id: Option<Ids>,
    /// One product, or several (`product_id=a,b` or repeated).
    #[param(value_type = Option<Vec<Uuid>>, max_items = 100)]
    product_id: Option<Ids>,
}

/// `GET /api/stock/expiring`: stock on hand by lot and location, expired or expiring within
/// `within_days`, soonest first.
#[utoipa::path(get, path = "/api/stock/expiring", operation_id = "list_expiring_stock", params(ExpiringQuery, PageQuery),
    responses((status = 200, description = "Stock expired or expiring soon, soonest first", body = Page<ExpiringStock>)))]
pub async fn expiring(
    mut tenant: Require<Inventory, Read>,
    AppQuery(query): AppQuery<ExpiringQuery>,
    page: PageRequest<(NaiveDate, Uuid, Uuid)>,
) -> Result<Json<Page<ExpiringStock>>, ApiError> {
    let days = query.within_days.unwrap_or(DEFAULT_DAYS);
    if !(0..=MAX_DAYS).contains(&days) {
        return Err(ApiError::invalid_field(
            "within_days",
            "out_of_range",
            format!("must be between 0 and {MAX_DAYS}"),
        ));
    }
    let (after_date, after_lot, after_location) = match page.after {
        Some((d, l, loc)) => (Some(d), Some(l), Some(loc)),
        None => (None, None, None),
    };
    let rows = sqlx::query_as!(
        ExpiringStock,
        r#"SELECT lo.id AS lot_id, lo.number AS lot_number, lo.expires_on AS "expires_on!",
                  (lo.expires_on - current_date) AS "days_left!",
                  lo.expires_on < current_date AS "expired!",
                  p.id AS product_id, p.sku AS product_sku, p.name AS product_name,
                  l.location_id, loc.name AS location_name, l.on_hand, l.reserved
           FROM lots lo
           JOIN lot_levels l ON l.lot_id = lo.id AND l.on_hand > 0
           JOIN products p ON p.org_id = lo.org_id AND p.id = lo.product_id
           JOIN locations loc ON loc.org_id = l.org_id AND loc.id = l.location_id
           WHERE lo.org_id = $1 AND lo.expires_on <= current_date + $2::int
             AND ($3::uuid[] IS NULL OR l.location_id = ANY($3))
             AND ($4::uuid[] IS NULL OR lo.product_id = ANY($4))
             AND ($5::date IS NULL OR (lo.expires_on, lo.id, l.location_id) > ($5, $6, $7))
           ORDER BY lo.expires_on, lo.id, l.location_id
           LIMIT $8"#,
        tenant.caller.org_id,
        days,
        Ids::sql(&query.location_id),
        Ids::sql(&query.product_id),
        after_date,
        after_lot,
        after_location,
        page.limit + 1
    )
    .fetch_all(&mut *tenant.db)
    .await?;
    Ok(Json(Page::from_rows(rows, page.limit, None, |r| {
        (r.expires_on, r.lot_id, r.location_id)
    })))
}
