//! Reservations: hold stock for a while (a cart, a pending order). Available = on hand −
//! active reservations. A reservation is confirmed (it becomes a sale), cancelled, or expires
//! (the scheduler releases it).

use axum::Json;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use shared::audit::{Action, Change};
use shared::auth::caller::{Inventory, Read, Write};
use shared::auth::{Caller, Require};
use shared::domain::{MovementKind, ReservationStatus};
use shared::error::{ApiError, FieldError, Fields};
use shared::http::Ids;
use shared::http::idempotency::{self, Answer, IdempotencyKey};
use shared::http::pagination::{Page, PageQuery, PageRequest};
use shared::http::{AppJson, AppQuery, PathId};
use sqlx::PgConnection;
use sqlx::types::Json as DbJson;
use uuid::Uuid;

use crate::locations;
use crate::lots::input::LotChoice;
use crate::lots::input::Portion;
use crate::lots::stock as lots;
use crate::stock::{self, Movement};

/// A reservation lasts at most a week.
const MAX_SECONDS: i64 = 7 * 24 * 3600;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Reservation {
    id: Uuid,
    product_id: Uuid,
    location_id: Uuid,
    quantity: i32,
    status: ReservationStatus,
    reference: Option<String>,
    expires_at: DateTime<Utc>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    /// A tracked product's lots the units are held in (empty for an untracked product).
    #[schema(value_type = Vec<Portion>)]
    lots: DbJson<Vec<Portion>>,
}

async fn load(
    conn: &mut PgConnection,
    org: Uuid,
    id: Uuid,
    lock: bool,
) -> Result<Reservation, ApiError> {
    let row = if lock {
        sqlx::query_as!(
            Reservation,
            r#"SELECT id, product_id, location_id, quantity, status AS "status: ReservationStatus", reference, expires_at, created_at, updated_at,
                      (SELECT coalesce(jsonb_agg(jsonb_build_object('lot_id', rl.lot_id, 'lot_number', lo.number, 'quantity', rl.quantity) ORDER BY lo.number), '[]')
                       FROM reservation_lots rl JOIN lots lo ON lo.id = rl.lot_id WHERE rl.reservation_id = r.id) AS "lots!: DbJson<Vec<Portion>>"
               FROM reservations r WHERE org_id = $1 AND id = $2 FOR UPDATE"#,
            org,
            id
        )
        .fetch_optional(conn)
        .await?
    } else {
        sqlx::query_as!(
            Reservation,
            r#"SELECT id AS "id!", product_id AS "product_id!", location_id AS "location_id!",
                      quantity AS "quantity!", status AS "status!: ReservationStatus", reference,
                      expires_at AS "expires_at!", created_at AS "created_at!", updated_at AS "updated_at!",
                      (SELECT coalesce(jsonb_agg(jsonb_build_object('lot_id', rl.lot_id, 'lot_number', lo.number, 'quantity', rl.quantity) ORDER BY lo.number), '[]')
                       FROM reservation_lots rl JOIN lots lo ON lo.id = rl.lot_id WHERE rl.reservation_id = r.id) AS "lots!: DbJson<Vec<Portion>>"
               FROM reservations_now r WHERE org_id = $1 AND id = $2"#,
            org,
            id
        )
        .fetch_optional(conn)
        .await?
    };
    row.ok_or_else(|| ApiError::not_found("reservation"))
}

#[derive(Clone, Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateReservation {
    product_id: Uuid,
    #[schema(minimum = 1)]
    quantity: i32,
    /// How long the units are held: 1 second to 7 days.
    #[schema(minimum = 1, maximum = 604800)]
    expires_in_seconds: i64,
    location_id: Option<Uuid>,
    /// The caller's own reference (cart id, order number).
    #[schema(max_length = 200)]
    reference: Option<String>,
    /// A lot-tracked product's lot to hold units of (default: first expiry first).
    #[schema(format = "line", min_length = 1, max_length = 100)]
    lot_number: Option<String>,
    /// A serial-tracked product's units to hold, one serial number each (default: first
    /// expiry first).
    #[schema(value_type = Option<crate::lots::input::Serials>)]
    serials: Option<Vec<String>>,
}

/// A [`CreateReservation`] checked.
pub struct NewReservation {
    product_id: Uuid,
    quantity: i32,
    expires_in_seconds: i64,
    location_id: Option<Uuid>,
    reference: Option<String>,
    lots: LotChoice,
}

impl TryFrom<CreateReservation> for NewReservation {
    type Error = ApiError;

    /// Every invalid field in one 422.
    fn try_from(body: CreateReservation) -> Result<Self, ApiError> {
        let mut fields = Fields::default();
        if body.quantity <= 0 {
            fields.add(FieldError::new(
                "quantity",
                "not_positive",
                "must be more than zero",
            ));
        }
        if !(1..=MAX_SECONDS).contains(&body.expires_in_seconds) {
            fields.add(FieldError::new(
                "expires_in_seconds",
                "out_of_range",
                format!("must be between 1 and {MAX_SECONDS}"),
            ));
        }
        let reference = fields.check(shared::domain::optional_text(
            body.reference.as_deref(),
            "reference",
            200,
        ));
        let lots = LotChoice::check(body.lot_number, None, body.serials, "", &mut fields);
        fields.finish(Self {
            product_id: body.product_id,
            quantity: body.quantity,
            expires_in_seconds: body.expires_in_seconds,
            location_id: body.location_id,
            reference: reference.flatten(),
            lots,
        })
    }
}

/// `POST /api/inventory/reservations`: 409 with `available` when there is not enough.
#[utoipa::path(post, path = "/api/inventory/reservations", operation_id = "create_reservation", params(shared::http::openapi::IdempotencyKeyHeader), request_body = CreateReservation,
    responses((status = 201, body = Reservation), (status = 409, description = "Not enough available stock")))]
pub async fn create(
    mut tenant: Require<Inventory, Write>,
    key: IdempotencyKey,
    AppJson(body): AppJson<CreateReservation>,
) -> Result<Answer, ApiError> {
    idempotency::create_new(&mut tenant, &key, body, insert).await
}

/// Holds the units (or 409 with what is available) and writes the reservation and its audit row.
async fn insert(
    tx: &mut PgConnection,
    caller: &Caller,
    new: NewReservation,
) -> Result<(StatusCode, Reservation), ApiError> {
    let org = caller.org_id;
    let rules = stock::product(tx, org, new.product_id).await?;
    if !rules.is_active {
        return Err(stock::product_inactive());
    }
    let location = locations::resolve(tx, org, new.location_id, "location_id").await?;
    stock::release_expired(tx, new.product_id).await?;
    // The whole check: one conditional update; concurrent reservations queue on the row.
    let held = sqlx::query!(
        "UPDATE stock_levels SET reserved = reserved + $4, updated_at = now()
         WHERE org_id = $1 AND product_id = $2 AND location_id = $3 AND on_hand - reserved >= $4",
        org,
        new.product_id,
        location,
        new.quantity
    )
    .execute(&mut *tx)
    .await?;
    if held.rows_affected() == 0 {
        return Err(stock::insufficient(
            stock::available(tx, new.product_id, location).await?,
        ));
    }
    // A tracked product's units are held in lots: first expiry first, never expired ones
    // unless the organization sells them.
    let portions = lots::outgoing(
        tx,
        new.product_id,
        &rules,
        location,
        new.quantity,
        &new.lots,
        rules.sell_expired,
        true,
    )
    .await?;
    let id = sqlx::query_scalar!(
        "INSERT INTO reservations (org_id, product_id, location_id, quantity, reference, expires_at)
         VALUES ($1, $2, $3, $4, $5, now() + $6::bigint * interval '1 second')
         RETURNING id",
        org,
        new.product_id,
        location,
        new.quantity,
        new.reference,
        new.expires_in_seconds
    )
    .fetch_one(&mut *tx)
    .await?;
    let (held, quantities): (Vec<Uuid>, Vec<i32>) = portions
        .iter()
        .filter_map(|p| Some((p.lot?, p.quantity)))
        .unzip();
    if !held.is_empty() {
        sqlx::query!(
            "INSERT INTO reservation_lots (org_id, reservation_id, lot_id, quantity)
             SELECT $1, $2, h.lot, h.quantity FROM unnest($3::uuid[], $4::int[]) AS h(lot, quantity)",
            org,
            id,
            &held,
            &quantities
        )
        .execute(&mut *tx)
        .await?;
    }
    let reservation = load(&mut *tx, org, id, false).await?;
    caller
        .audit(
            tx,
            Action::ReservationCreated,
            reservation.id,
            Change::created(&reservation),
        )
        .await?;
    Ok((StatusCode::CREATED, reservation))
}

#[utoipa::path(get, path = "/api/inventory/reservations/{id}", operation_id = "get_reservation", params(("id" = Uuid, Path)),
    responses((status = 200, body = Reservation)))]
pub async fn get(
    mut tenant: Require<Inventory, Read>,
    PathId(id): PathId,
) -> Result<Json<Reservation>, ApiError> {
    let org = tenant.caller.org_id;
    Ok(Json(load(&mut tenant.db, org, id, false).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    // Anything else is a 422 naming `status`: "must be one of active, confirmed, ...".
    status: Option<ReservationStatus>,
    /// One product, or several (`product_id=a,b` or repeated).
    #[param(value_type = Option<Vec<Uuid>>, max_items = 100)]
    product_id: Option<Ids>,
}

/// `GET /api/inventory/reservations`: newest first.
#[utoipa::path(get, path = "/api/inventory/reservations", operation_id = "list_reservations", params(ListQuery, PageQuery),
    responses((status = 200, body = Page<Reservation>)))]
pub async fn list(
    mut tenant: Require<Inventory, Read>,
    AppQuery(query): AppQuery<ListQuery>,
    page: PageRequest<(DateTime<Utc>, Uuid)>,
) -> Result<Json<Page<Reservation>>, ApiError> {
    let (before_at, before_id) = page.after.unzip();
    let rows = sqlx::query_as!(
        Reservation,
        r#"SELECT id AS "id!", product_id AS "product_id!", location_id AS "location_id!",
                  quantity AS "quantity!", status AS "status!: ReservationStatus", reference,
                  expires_at AS "expires_at!", created_at AS "created_at!", updated_at AS "updated_at!",
                  (SELECT coalesce(jsonb_agg(jsonb_build_object('lot_id', rl.lot_id, 'lot_number', lo.number, 'quantity', rl.quantity) ORDER BY lo.number), '[]')
                       FROM reservation_lots rl JOIN lots lo ON lo.id = rl.lot_id WHERE rl.reservation_id = r.id) AS "lots!: DbJson<Vec<Portion>>"
           FROM reservations_now r
           WHERE org_id = $1
             AND ($2::reservation_status IS NULL OR status = $2)
             AND ($3::uuid[] IS NULL OR product_id = ANY($3))
             AND ($4::timestamptz IS NULL OR (created_at, id) < ($4, $5))
           ORDER BY created_at DESC, id DESC
           LIMIT $6"#,
        tenant.caller.org_id,
        query.status as Option<ReservationStatus>,
        Ids::sql(&query.product_id),
        before_at,
        before_id,
        page.limit + 1
    )
    .fetch_all(&mut *tenant.db)
    .await?;
    Ok(Json(Page::from_rows(rows, page.limit, None, |r| {
        (r.created_at, r.id)
    })))
}

fn not_active(r: &Reservation) -> ApiError {
    ApiError::conflict(
        "reservation_not_active",
        format!("the reservation is {}", r.status.as_str()),
    )
}

/// `POST /api/inventory/reservations/{id}/confirm`: the held units are sold (a `sell`
/// movement in the ledger).
#[utoipa::path(post, path = "/api/inventory/reservations/{id}/confirm", operation_id = "confirm_reservation", params(("id" = Uuid, Path)),
    responses((status = 200, description = "Confirmed: the units are sold", body = Reservation), (status = 409, description = "`reservation_not_active`")))]
pub async fn confirm(
    mut tenant: Require<Inventory, Write>,
    PathId(id): PathId,
) -> Result<Json<Reservation>, ApiError> {
    finish(&mut tenant, id, true).await.map(Json)
}

/// `POST /api/inventory/reservations/{id}/cancel`: the held units become available again.
#[utoipa::path(post, path = "/api/inventory/reservations/{id}/cancel", operation_id = "cancel_reservation", params(("id" = Uuid, Path)),
    responses((status = 200, description = "Cancelled: the units are available again", body = Reservation), (status = 409, description = "`reservation_not_active`")))]
pub async fn cancel(
    mut tenant: Require<Inventory, Write>,
    PathId(id): PathId,
) -> Result<Json<Reservation>, ApiError> {
    finish(&mut tenant, id, false).await.map(Json)
}

async fn finish(
    tenant: &mut Require<Inventory, Write>,
    id: Uuid,
    sell: bool,
) -> Result<Reservation, ApiError> {
    let (caller, tx) = tenant.parts();
    let org = caller.org_id;
    // Release what is due first (this one too, if its time is up), then lock this one: every
    // caller locks reservations in the same order.
    let product = sqlx::query_scalar!(
        "SELECT product_id FROM reservations WHERE org_id = $1 AND id = $2",
        org,
        id
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| ApiError::not_found("reservation"))?;
    stock::release_expired(&mut *tx, product).await?;
    let r = load(&mut *tx, org, id, true).await?;
    if r.status != ReservationStatus::Active {
        return Err(not_active(&r));
    }
    let on_hand_change = if sell { r.quantity } else { 0 };
    sqlx::query!(
        "UPDATE stock_levels SET reserved = reserved - $3, on_hand = on_hand - $4, updated_at = now()
         WHERE product_id = $1 AND location_id = $2",
        r.product_id,
        r.location_id,
        r.quantity,
        on_hand_change
    )
    .execute(&mut *tx)
    .await?;
    // Its lots, after the level (the order every writer takes them in).
    if !r.lots.is_empty() {
        sqlx::query!(
            "UPDATE lot_levels l SET reserved = l.reserved - rl.quantity,
                    on_hand = l.on_hand - CASE WHEN $3 THEN rl.quantity ELSE 0 END, updated_at = now()
             FROM reservation_lots rl
             WHERE rl.reservation_id = $1 AND l.lot_id = rl.lot_id AND l.location_id = $2",
            id,
            r.location_id,
            sell
        )
        .execute(&mut *tx)
        .await?;
    }
    let status = if sell {
        ReservationStatus::Confirmed
    } else {
        ReservationStatus::Cancelled
    };
    sqlx::query!(
        "UPDATE reservations SET status = $2, updated_at = now() WHERE id = $1",
        id,
        status as ReservationStatus
    )
    .execute(&mut *tx)
    .await?;
    if sell {
        let reason = match &r.reference {
            Some(reference) => format!("reservation confirmed ({reference})"),
            None => "reservation confirmed".to_owned(),
        };
        let portions = if r.lots.is_empty() {
            Portion::untracked(r.quantity)
        } else {
            r.lots.0.clone()
        };
        stock::record(
            &mut *tx,
            caller,
            Movement {
                product: r.product_id,
                location: r.location_id,
                kind: MovementKind::Sell,
                sign: -1,
                portions: &portions,
                reason: &reason,
                transfer_id: None,
                reservation_id: Some(id),
                po_line_id: None,
                cost: None,
            },
        )
        .await?;
    }
    let after = load(&mut *tx, org, id, false).await?;
    let action = if sell {
        Action::ReservationConfirmed
    } else {
        Action::ReservationCancelled
    };
    caller
        .audit(&mut *tx, action, id, Change::none().after(&after))
        .await?;
    Ok(after)
}
