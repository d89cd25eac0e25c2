//! Stock levels: the conditional updates every movement goes through, the stock list and the
//! low-stock report.

use axum::Json;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use shared::auth::caller::{Inventory, Read};
use shared::auth::{Caller, Require};
use shared::domain::{MovementKind, Tracking};
use shared::error::ApiError;
use shared::http::AppQuery;
use shared::http::Ids;
use shared::http::pagination::{Page, PageQuery, PageRequest};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::lots::input::Portion;

/// 409 with the quantity that is available, as a problem member.
pub fn insufficient(available: i64) -> ApiError {
    let mut error = ApiError::conflict(
        "insufficient_stock",
        format!("only {available} available (on hand minus reserved)"),
    );
    if let ApiError::Conflict { extra, .. } = &mut error {
        extra.insert("available".into(), available.into());
    }
    error
}

/// What a stock change needs to know of a product: whether it is active, how its units are
/// tracked, and whether its organization sells units past their expiry date.
#[derive(Clone, Debug)]
pub struct ProductStock {
    pub is_active: bool,
    pub tracking: Tracking,
    pub shelf_life_days: Option<i32>,
    pub sell_expired: bool,
    /// The product's currency, that of its costs.
    pub currency: String,
    /// Its moving-average cost, else its standard cost (none without either).
    pub average_cost: Option<Decimal>,
}

/// The organization's product's stock rules; 404 `unknown_product` when it has no such product.
pub async fn product(
    conn: &mut PgConnection,
    org: Uuid,
    product: Uuid,
) -> Result<ProductStock, ApiError> {
    sqlx::query_as!(
        ProductStock,
        r#"SELECT p.is_active, p.tracking AS "tracking: Tracking", p.shelf_life_days,
                  o.sell_expired, p.currency::text AS "currency!",
                  coalesce(p.average_cost, p.cost) AS average_cost
           FROM products p JOIN organizations o ON o.id = p.org_id
           WHERE p.org_id = $1 AND p.id = $2"#,
        org,
        product
    )
    .fetch_optional(conn)
    .await?
    .ok_or_else(|| {
        ApiError::unknown_reference(
            "product_id",
            "unknown_product",
            "no such product in this organization",
        )
    })
}

/// 409: the product is soft-deleted.
pub fn product_inactive() -> ApiError {
    ApiError::conflict(
        "product_inactive",
        "this product is deleted; reactivate it (PATCH is_active) first",
    )
}

pub async fn available(
    conn: &mut PgConnection,
    product: Uuid,
    location: Uuid,
) -> Result<i64, ApiError> {
    Ok(sqlx::query_scalar!(
        r#"SELECT (on_hand - reserved)::bigint AS "available!" FROM stock_levels WHERE product_id = $1 AND location_id = $2"#,
        product,
        location
    )
    .fetch_optional(conn)
    .await?
    .unwrap_or(0))
}

/// Moves on hand by `delta`. More (receive, transfer in, positive adjustment) is always
/// possible; less (sell, transfer out, negative adjustment) comes out of what is available,
/// after expired reservations gave theirs back, and is a 409 when that is short.
pub async fn change(
    conn: &mut PgConnection,
    org: Uuid,
    product: Uuid,
    location: Uuid,
    delta: i32,
) -> Result<(), ApiError> {
    if delta >= 0 {
        sqlx::query!(
            "INSERT INTO stock_levels (org_id, product_id, location_id, on_hand)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (product_id, location_id)
             DO UPDATE SET on_hand = stock_levels.on_hand + EXCLUDED.on_hand, updated_at = now()",
            org,
            product,
            location,
            delta
        )
        .execute(conn)
        .await?;
        return Ok(());
    }
    release_expired(conn, product).await?;
    let updated = sqlx::query!(
        "UPDATE stock_levels SET on_hand = on_hand + $4, updated_at = now()
         WHERE org_id = $1 AND product_id = $2 AND location_id = $3 AND on_hand - reserved >= -$4::int",
        org,
        product,
        location,
        delta
    )
    .execute(&mut *conn)
    .await?;
    if updated.rows_affected() == 0 {
        return Err(insufficient(available(conn, product, location).await?));
    }
    Ok(())
}

/// Gives back the units of the product's reservations that are past their deadline (audited
/// as `reservation_expired`): call it in the transaction, before anything that counts what is
/// available, so an expired hold never blocks a sale.
pub async fn release_expired(conn: &mut PgConnection, product: Uuid) -> Result<(), ApiError> {
    sqlx::query_scalar!(
        r#"SELECT release_expired_reservations($1) AS "released!""#,
        product
    )
    .fetch_one(conn)
    .await?;
    Ok(())
}

/// Locks the product's stock at `locations` in location order (those it has), after giving
/// back its due holds: a change at several locations of one product (a transfer) takes them in
/// the same order as every other such change, so two transfers in opposite directions queue
/// instead of deadlocking.
pub async fn lock_levels(
    conn: &mut PgConnection,
    product: Uuid,
    locations: &[Uuid],
) -> Result<(), ApiError> {
    release_expired(conn, product).await?;
    sqlx::query!(
        "SELECT location_id FROM stock_levels WHERE product_id = $1 AND location_id = ANY($2)
         ORDER BY location_id FOR UPDATE",
        product,
        locations
    )
    .fetch_all(conn)
    .await?;
    Ok(())
}

/// One change of the ledger: a row per lot it moved (one row for an untracked product).
pub struct Movement<'a> {
    pub product: Uuid,
    pub location: Uuid,
    pub kind: MovementKind,
    /// `1` for units in, `-1` for units out: the portions' quantities are units.
    pub sign: i32,
    pub portions: &'a [Portion],
    pub reason: &'a str,
    pub transfer_id: Option<Uuid>,
    pub reservation_id: Option<Uuid>,
    pub po_line_id: Option<Uuid>,
    /// What a unit cost, for a receipt whose cost is known (a purchase order line's, or the one
    /// given): the amount and its currency. Without it the rows take the product's average cost.
    pub cost: Option<(Decimal, &'a str)>,
}

/// What the units of a movement were worth apiece, in `currency` (none for a product without
/// any cost yet).
#[derive(Clone, Debug, PartialEq)]
pub struct UnitCost {
    pub amount: Decimal,
    pub currency: String,
}

/// Writes the movement's ledger rows (one statement, whatever the number of lots); their ids.
pub async fn record(
    conn: &mut PgConnection,
    caller: &Caller,
    m: Movement<'_>,
) -> Result<Vec<i64>, ApiError> {
    Ok(record_valued(conn, caller, m).await?.0)
}

/// [`record`], with the cost its rows were given: the receipt's own, else the product's
/// average (its standard cost before any costed receipt) at the time, in the product's currency.
pub async fn record_valued(
    conn: &mut PgConnection,
    caller: &Caller,
    m: Movement<'_>,
) -> Result<(Vec<i64>, Option<UnitCost>), ApiError> {
    let (user, key) = caller.actor_ids();
    let lots: Vec<Option<Uuid>> = m.portions.iter().map(|p| p.lot).collect();
    let quantities: Vec<i32> = m.portions.iter().map(|p| m.sign * p.quantity).collect();
    let (cost, currency) = m.cost.unzip();
    let rows = sqlx::query!(
        r#"WITH c AS (
               SELECT coalesce($13::numeric, p.average_cost, p.cost) AS unit_cost,
                      CASE WHEN $13::numeric IS NOT NULL THEN $14::text
                           WHEN coalesce(p.average_cost, p.cost) IS NOT NULL THEN p.currency::text
                      END AS cost_currency
               FROM products p WHERE p.id = $2
           )
           INSERT INTO stock_movements (org_id, product_id, location_id, kind, quantity, reason, transfer_id,
                                       reservation_id, po_line_id, actor_user_id, actor_api_key_id, lot_id,
                                       unit_cost, cost_currency)
           SELECT $1, $2, $3, $4, r.quantity, $6, $7, $8, $9, $10, $11, r.lot, c.unit_cost, c.cost_currency
           FROM unnest($12::uuid[], $5::int[]) WITH ORDINALITY AS r(lot, quantity, n)
           LEFT JOIN c ON true
           ORDER BY r.n
           RETURNING id, unit_cost, cost_currency::text"#,
        caller.org_id,
        m.product,
        m.location,
        m.kind as MovementKind,
        &quantities,
        m.reason,
        m.transfer_id,
        m.reservation_id,
        m.po_line_id,
        user,
        key,
        &lots as &[Option<Uuid>],
        cost,
        currency
    )
    .fetch_all(conn)
    .await?;
    let cost = rows.first().and_then(|r| {
        Some(UnitCost {
            amount: r.unit_cost?,
            currency: r.cost_currency.clone()?,
        })
    });
    Ok((rows.into_iter().map(|r| r.id).collect(), cost))
}

/// Moves the product's average cost with a receipt of `quantity` units at `cost` (its ledger
/// row `movement`, the stock already added): the average after, or `None` when the cost is
/// in another currency than the product's, which leaves the average as it was.
pub async fn cost_receipt(
    conn: &mut PgConnection,
    product: Uuid,
    movement: i64,
    quantity: i32,
    cost: &UnitCost,
) -> Result<Option<Decimal>, ApiError> {
    Ok(sqlx::query_scalar!(
        "SELECT stockroom_cost_receipt($1, $2, $3, $4, $5)",
        product,
        movement,
        quantity,
        cost.amount,
        cost.currency
    )
    .fetch_one(conn)
    .await?)
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StockRow {
    product_id: Uuid,
    /// Named as on purchase-order lines: a product seen from elsewhere is `product_*`.
    #[serde(rename = "product_sku")]
    sku: String,
    product_name: String,
    location_id: Uuid,
    location_name: String,
    on_hand: i32,
    reserved: i32,
    available: i32,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StockQuery {
    /// One product, or several (`product_id=a,b` or repeated).
    #[param(value_type = Option<Vec<Uuid>>, max_items = 100)]
    product_id: Option<Ids>,
    /// One location, or several (`location_id=a,b` or repeated).
    #[param(value_type = Option<Vec<Uuid>>, max_items = 100)]
    location_id: Option<Ids>,
}

/// `GET /api/inventory/stock`: on hand, reserved and available per product and location.
#[utoipa::path(get, path = "/api/inventory/stock", operation_id = "list_stock", params(StockQuery, PageQuery),
    responses((status = 200, body = Page<StockRow>)))]
pub async fn list(
    mut tenant: Require<Inventory, Read>,
    AppQuery(query): AppQuery<StockQuery>,
    page: PageRequest<(String, Uuid, Uuid)>,
) -> Result<Json<Page<StockRow>>, ApiError> {
    let (after_sku, after_product, after_location) = match page.after {
        Some((s, p, l)) => (Some(s), Some(p), Some(l)),
        None => (None, None, None),
    };
    let rows = sqlx::query_as!(
        StockRow,
        r#"SELECT s.product_id AS "product_id!", p.sku, p.name AS product_name, s.location_id AS "location_id!", l.name AS location_name,
                  s.on_hand AS "on_hand!", s.reserved AS "reserved!", s.on_hand - s.reserved AS "available!"
           FROM stock_now s
           JOIN products p ON p.org_id = s.org_id AND p.id = s.product_id
           JOIN locations l ON l.org_id = s.org_id AND l.id = s.location_id
           WHERE s.org_id = $1
             AND ($2::uuid[] IS NULL OR s.product_id = ANY($2))
             AND ($3::uuid[] IS NULL OR s.location_id = ANY($3))
             AND ($4::text IS NULL OR (lower(p.sku), s.product_id, s.location_id) > ($4, $5, $6))
           ORDER BY lower(p.sku), s.product_id, s.location_id
           LIMIT $7"#,
        tenant.caller.org_id,
        Ids::sql(&query.product_id),
        Ids::sql(&query.location_id),
        after_sku,
        after_product,
        after_location,
        page.limit + 1
    )
    .fetch_all(&mut *tenant.db)
    .await?;
    Ok(Json(Page::from_rows(rows, page.limit, None, |r| {
        (r.sku.to_lowercase(), r.product_id, r.location_id)
    })))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LowStock {
    product_id: Uuid,
    sku: String,
    name: String,
    reorder_point: i32,
    on_hand: i64,
    available: i64,
    supplier_id: Option<Uuid>,
}

impl LowStock {
    /// Where the list goes on after this product: by the gap to the reorder point (the view's
    /// `gap`, most short first), then the product.
    fn cursor(&self) -> (i64, Uuid) {
        (
            self.available - i64::from(self.reorder_point),
            self.product_id,
        )
    }
}

/// `GET /api/inventory/low-stock`: active products whose available quantity (all locations)
/// is below their reorder point, the most short first.
#[utoipa::path(get, path = "/api/inventory/low-stock", params(PageQuery),
    responses((status = 200, description = "Products whose available stock is below their reorder point", body = Page<LowStock>)))]
pub async fn low_stock(
    mut tenant: Require<Inventory, Read>,
    page: PageRequest<(i64, Uuid)>,
) -> Result<Json<Page<LowStock>>, ApiError> {
    let (after_gap, after_id) = page.after.unzip();
    let rows = sqlx::query_as!(
        LowStock,
        r#"SELECT product_id AS "product_id!", sku AS "sku!", name AS "name!",
                  reorder_point AS "reorder_point!", on_hand AS "on_hand!",
                  available AS "available!", supplier_id
           FROM low_stock
           WHERE org_id = $1 AND ($2::bigint IS NULL OR (gap, product_id) > ($2, $3))
           ORDER BY gap, product_id
           LIMIT $4"#,
        tenant.caller.org_id,
        after_gap,
        after_id,
        page.limit + 1
    )
    .fetch_all(&mut *tenant.db)
    .await?;
    Ok(Json(Page::from_rows(
        rows,
        page.limit,
        None,
        LowStock::cursor,
    )))
}
