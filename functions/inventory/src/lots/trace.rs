//! `GET /api/lots`, `GET /api/lots/{id}` and `GET /api/lots/{id}/trace`: a product's lots and
//! serial numbers, where each is, and for a recall, where it went.

use axum::Json;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use shared::auth::Require;
use shared::auth::caller::{Inventory, Read};
use shared::domain::{MovementKind, ReservationStatus};
use shared::error::ApiError;
use shared::http::Ids;
use shared::http::pagination::{Page, PageQuery, PageRequest};
use shared::http::{AppQuery, PathId};
use sqlx::PgConnection;
use uuid::Uuid;

/// Most ledger rows a trace lists; the ledger (`GET /api/inventory/movements?lot_id=`) has
/// them all.
const TRACE_MOVEMENTS: i64 = 1000;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Lot {
    id: Uuid,
    product_id: Uuid,
    product_sku: String,
    product_name: String,
    /// The lot number, or the unit's serial number.
    number: String,
    expires_on: Option<NaiveDate>,
    /// Whether its expiry date has passed.
    expired: bool,
    received_on: NaiveDate,
    /// Units on hand, all locations.
    on_hand: i64,
    /// Units held by active reservations, all locations.
    reserved: i64,
    created_at: DateTime<Utc>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LotQuery {
    /// One product, or several (`product_id=a,b` or repeated).
    #[param(value_type = Option<Vec<Uuid>>, max_items = 100)]
    product_id: Option<Ids>,
    /// The lot or serial number, exactly.
    #[param(max_length = 100)]
    number: Option<String>,
    /// Only lots with units on hand (`true`) or without (`false`).
    in_stock: Option<bool>,
}

/// `GET /api/lots`: lots and serial numbers, newest first.
#[utoipa::path(get, path = "/api/lots", operation_id = "list_lots", params(LotQuery, PageQuery),
    responses((status = 200, description = "Lots and serial numbers, newest first", body = Page<Lot>)))]
pub async fn list(
    mut tenant: Require<Inventory, Read>,
    AppQuery(query): AppQuery<LotQuery>,
    page: PageRequest<(DateTime<Utc>, Uuid)>,
) -> Result<Json<Page<Lot>>, ApiError> {
    if query
        .number
        .as_ref()
        .is_some_and(|n| n.chars().count() > 100)
    {
        return Err(ApiError::invalid_field(
            "number",
            "too_long",
            "must be at most 100 characters",
        ));
    }
    let (before_at, before_id) = page.after.unzip();
    let rows = sqlx::query_as!(
        Lot,
        r#"SELECT lo.id, lo.product_id, p.sku AS product_sku, p.name AS product_name, lo.number,
                  lo.expires_on, coalesce(lo.expires_on < current_date, false) AS "expired!",
                  lo.received_on, coalesce(t.on_hand, 0) AS "on_hand!",
                  coalesce(t.reserved, 0) AS "reserved!", lo.created_at
           FROM lots lo
           JOIN products p ON p.org_id = lo.org_id AND p.id = lo.product_id
           LEFT JOIN LATERAL (SELECT sum(on_hand)::bigint AS on_hand, sum(reserved)::bigint AS reserved
                              FROM lot_levels WHERE lot_id = lo.id) t ON true
           WHERE lo.org_id = $1
             AND ($2::uuid[] IS NULL OR lo.product_id = ANY($2))
             AND ($3::text IS NULL OR lo.number = $3)
             AND ($4::bool IS NULL OR (coalesce(t.on_hand, 0) > 0) = $4)
             AND ($5::timestamptz IS NULL OR (lo.created_at, lo.id) < ($5, $6))
           ORDER BY lo.created_at DESC, lo.id DESC
           LIMIT $7"#,
        tenant.caller.org_id,
        Ids::sql(&query.product_id),
        query.number.as_deref().map(str::trim),
        query.in_stock,
        before_at,
        before_id,
        page.limit + 1
    )
    .fetch_all(&mut *tenant.db)
    .await?;
    Ok(Json(Page::from_rows(rows, page.limit, None, |l| {
        (l.created_at, l.id)
    })))
}

async fn load(conn: &mut PgConnection, org: Uuid, id: Uuid) -> Result<Lot, ApiError> {
    sqlx::query_as!(
        Lot,
        r#"SELECT lo.id, lo.product_id, p.sku AS product_sku, p.name AS product_name, lo.number,
                  lo.expires_on, coalesce(lo.expires_on < current_date, false) AS "expired!",
                  lo.received_on,
                  (SELECT coalesce(sum(on_hand), 0)::bigint FROM lot_levels WHERE lot_id = lo.id) AS "on_hand!",
                  (SELECT coalesce(sum(reserved), 0)::bigint FROM lot_levels WHERE lot_id = lo.id) AS "reserved!",
                  lo.created_at
           FROM lots lo
           JOIN products p ON p.org_id = lo.org_id AND p.id = lo.product_id
           WHERE lo.org_id = $1 AND lo.id = $2"#,
        org,
        id
    )
    .fetch_optional(conn)
    .await?
    .ok_or_else(|| ApiError::not_found("lot"))
}

/// `GET /api/lots/{id}`.
#[utoipa::path(get, path = "/api/lots/{id}", operation_id = "get_lot", params(("id" = Uuid, Path)),
    responses((status = 200, body = Lot)))]
pub async fn get(
    mut tenant: Require<Inventory, Read>,
    PathId(id): PathId,
) -> Result<Json<Lot>, ApiError> {
    let org = tenant.caller.org_id;
    Ok(Json(load(&mut tenant.db, org, id).await?))
}

/// Where some of the lot is now.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LotPlace {
    location_id: Uuid,
    location_name: String,
    on_hand: i32,
    reserved: i32,
}

/// A ledger row of the lot, with the purchase order it came in on.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LotMovement {
    id: i64,
    kind: MovementKind,
    /// Signed: units in are positive.
    quantity: i32,
    location_id: Uuid,
    location_name: String,
    reason: String,
    transfer_id: Option<Uuid>,
    reservation_id: Option<Uuid>,
    purchase_order_id: Option<Uuid>,
    supplier_id: Option<Uuid>,
    supplier_name: Option<String>,
    actor_user_id: Option<Uuid>,
    actor_api_key_id: Option<Uuid>,
    created_at: DateTime<Utc>,
}

/// A reservation that held units of the lot.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LotReservation {
    id: Uuid,
    status: ReservationStatus,
    reference: Option<String>,
    location_id: Uuid,
    /// Units of this lot it holds or held.
    quantity: i32,
    created_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LotTrace {
    lot: Lot,
    /// Where its units are now.
    locations: Vec<LotPlace>,
    /// Its receipts, sales, transfers and adjustments, oldest first (at most 1,000).
    movements: Vec<LotMovement>,
    /// Whether there are more movements than listed (the ledger, filtered by `lot_id`, has
    /// them all).
    movements_truncated: bool,
    /// Reservations that held it (a sale through a reservation names it in `movements`).
    reservations: Vec<LotReservation>,
}

/// `GET /api/lots/{id}/trace`: where the lot came from and went, for a recall.
#[utoipa::path(get, path = "/api/lots/{id}/trace", operation_id = "trace_lot", params(("id" = Uuid, Path)),
    responses((status = 200, description = "The lot, where it is, its ledger and its reservations", body = LotTrace)))]
pub async fn trace(
    mut tenant: Require<Inventory, Read>,
    PathId(id): PathId,
) -> Result<Json<LotTrace>, ApiError> {
    let org = tenant.caller.org_id;
    let db = &mut *tenant.db;
    let lot = load(db, org, id).await?;
    let locations = sqlx::query_as!(
        LotPlace,
        "SELECT l.location_id, loc.name AS location_name, l.on_hand, l.reserved
         FROM lot_levels l JOIN locations loc ON loc.org_id = l.org_id AND loc.id = l.location_id
         WHERE l.org_id = $1 AND l.lot_id = $2 AND l.on_hand > 0
         ORDER BY loc.name, l.location_id",
        org,
        id
    )
    .fetch_all(&mut *db)
    .await?;
    let mut movements = sqlx::query_as!(
        LotMovement,
        r#"SELECT m.id, m.kind AS "kind: MovementKind", m.quantity, m.location_id,
                  loc.name AS location_name, m.reason, m.transfer_id, m.reservation_id,
                  po.id AS "purchase_order_id?", s.id AS "supplier_id?", s.name AS "supplier_name?",
                  m.actor_user_id, m.actor_api_key_id, m.created_at
           FROM stock_movements m
           JOIN locations loc ON loc.org_id = m.org_id AND loc.id = m.location_id
           LEFT JOIN purchase_order_lines pl ON pl.org_id = m.org_id AND pl.id = m.po_line_id
           LEFT JOIN purchase_orders po ON po.org_id = m.org_id AND po.id = pl.purchase_order_id
           LEFT JOIN suppliers s ON s.org_id = m.org_id AND s.id = po.supplier_id
           WHERE m.org_id = $1 AND m.lot_id = $2
           ORDER BY m.id
           LIMIT $3"#,
        org,
        id,
        TRACE_MOVEMENTS + 1
    )
    .fetch_all(&mut *db)
    .await?;
    let movements_truncated = movements.len() as i64 > TRACE_MOVEMENTS;
    movements.truncate(TRACE_MOVEMENTS as usize);
    let reservations = sqlx::query_as!(
        LotReservation,
        r#"SELECT r.id AS "id!", r.status AS "status!: ReservationStatus", r.reference,
                  r.location_id AS "location_id!", rl.quantity, r.created_at AS "created_at!"
           FROM reservation_lots rl
           JOIN reservations_now r ON r.id = rl.reservation_id
           WHERE rl.org_id = $1 AND rl.lot_id = $2
           ORDER BY r.created_at, r.id"#,
        org,
        id
    )
    .fetch_all(&mut *db)
    .await?;
    Ok(Json(LotTrace {
        lot,
        locations,
        movements,
        movements_truncated,
        reservations,
    }))
}
