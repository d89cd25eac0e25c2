//! `POST /api/inventory/movements` (receive, sell, adjust, transfer) and the ledger.

use axum::Json;
use axum::http::StatusCode;
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use shared::audit::{Action, Change};
use shared::auth::caller::{Inventory, Read, Write};
use shared::auth::{Caller, Require};
use shared::domain::MovementKind;
use shared::error::{ApiError, FieldError, Fields};
use shared::http::Ids;
use shared::http::idempotency::{self, Answer, IdempotencyKey};
use shared::http::pagination::{Page, PageQuery, PageRequest};
use shared::http::{AppJson, AppQuery};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::locations;
use crate::lots::input::LotChoice;
use crate::lots::input::Portion;
use crate::lots::stock as lots;
use crate::stock::{self, Movement};

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Receive,
    Sell,
    Adjust,
    Transfer,
}

#[derive(Clone, Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateMovement {
    kind: Kind,
    product_id: Uuid,
    /// Units for receive, sell and transfer (more than zero); for adjust, the signed change
    /// (not zero), as the ledger records it.
    quantity: Option<i32>,
    #[schema(format = "line", min_length = 1, max_length = 500)]
    reason: String,
    /// The default location when absent; the source of a transfer.
    location_id: Option<Uuid>,
    /// The destination of a transfer.
    to_location_id: Option<Uuid>,
    /// A lot-tracked product's lot: the one received into (required), or the one taken from
    /// (default: first expiry first).
    #[schema(format = "line", min_length = 1, max_length = 100)]
    lot_number: Option<String>,
    /// A received lot's expiry date (default: today plus the product's shelf life).
    expires_on: Option<NaiveDate>,
    /// A serial-tracked product's units, one serial number each: those received (required),
    /// or those taken (default: first expiry first).
    #[schema(value_type = Option<crate::lots::input::Serials>)]
    serials: Option<Vec<String>>,
    /// What each unit received cost, in the product's currency (receive and adjust in only):
    /// it moves the product's average cost. Without it the units enter at that average.
    #[schema(value_type = Option<String>, pattern = r"^\d{1,12}(\.\d{1,2})?$", example = "4.20")]
    #[serde(default, with = "shared::domain::money_text::option")]
    unit_cost: Option<Decimal>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Recorded {
    movement_ids: Vec<i64>,
    kind: Kind,
    product_id: Uuid,
    /// Available at the location(s) touched, after the movement.
    available: i64,
    /// A tracked product's lots the units went into or came from (empty for an untracked one).
    lots: Vec<Portion>,
    /// What each unit was worth: a receipt's cost, else the product's average cost (its
    /// standard cost before any costed receipt); null for a product without any cost.
    #[schema(value_type = Option<String>, example = "4.200000")]
    #[serde(with = "rust_decimal::serde::str_option")]
    unit_cost: Option<Decimal>,
    #[schema(value_type = Option<shared::domain::CurrencyCode>)]
    cost_currency: Option<String>,
    /// The units moved at `unit_cost`, to the cent: what a write-off cost, or a receipt is worth.
    #[schema(value_type = Option<String>, example = "42.00")]
    #[serde(with = "rust_decimal::serde::str_option")]
    value: Option<Decimal>,
    /// What a unit of the product is worth after the movement: its moving-average cost, or its
    /// standard cost before any costed receipt (null without either).
    #[schema(value_type = Option<String>, example = "4.150000")]
    #[serde(with = "rust_decimal::serde::str_option")]
    average_cost: Option<Decimal>,
}

/// A [`CreateMovement`] checked.
pub struct NewMovement {
    kind: Kind,
    product_id: Uuid,
    /// The signed change for adjust, else the units moved (more than zero).
    amount: i32,
    reason: String,
    location_id: Option<Uuid>,
    to_location_id: Option<Uuid>,
    lots: LotChoice,
    unit_cost: Option<Decimal>,
}

impl TryFrom<CreateMovement> for NewMovement {
    type Error = ApiError;

    /// Every invalid field in one 422.
    fn try_from(body: CreateMovement) -> Result<Self, ApiError> {
        let mut fields = Fields::default();
        let reason = fields.check(shared::domain::name(&body.reason, "reason", 500));
        let amount = match body.kind {
            Kind::Adjust => match body.quantity {
                Some(d) if d != 0 => d,
                _ => {
                    fields.add(FieldError::new(
                        "quantity",
                        "invalid",
                        "adjust needs a non-zero quantity (negative to write stock off)",
                    ));
                    0
                }
            },
            _ => match body.quantity {
                Some(q) if q > 0 => q,
                _ => {
                    fields.add(FieldError::new(
                        "quantity",
                        "not_positive",
                        "must be more than zero",
                    ));
                    0
                }
            },
        };
        let incoming = body.kind == Kind::Receive || (body.kind == Kind::Adjust && amount > 0);
        if body.unit_cost.is_some() && !incoming {
            fields.add(FieldError::new(
                "unit_cost",
                "not_incoming",
                "only units coming in (receive, a positive adjust) are given a cost; units going \
                 out are worth the product's average cost",
            ));
        }
        if body.kind == Kind::Transfer && body.to_location_id.is_none() {
            fields.add(FieldError::new(
                "to_location_id",
                "required",
                "a transfer needs a destination",
            ));
        }
        let lots = LotChoice::check(
            body.lot_number,
            body.expires_on,
            body.serials,
            "",
            &mut fields,
        );
        match reason {
            Some(reason) if fields.is_empty() => Ok(Self {
                kind: body.kind,
                product_id: body.product_id,
                amount,
                reason,
                location_id: body.location_id,
                to_location_id: body.to_location_id,
                lots,
                unit_cost: body.unit_cost,
            }),
            _ => Err(fields.into_error()),
        }
    }
}

#[utoipa::path(post, path = "/api/inventory/movements", operation_id = "record_movement", params(shared::http::openapi::IdempotencyKeyHeader), request_body = CreateMovement,
    responses((status = 201, description = "Recorded in the ledger", body = Recorded), (status = 409, description = "Not enough available stock")))]
pub async fn create(
    mut tenant: Require<Inventory, Write>,
    key: IdempotencyKey,
    AppJson(body): AppJson<CreateMovement>,
) -> Result<Answer, ApiError> {
    idempotency::create_new(&mut tenant, &key, body, record).await
}

/// Moves the stock and writes the movement(s) to the ledger, with the audit row.
async fn record(
    tx: &mut PgConnection,
    caller: &Caller,
    new: NewMovement,
) -> Result<(StatusCode, Recorded), ApiError> {
    let org = caller.org_id;
    let (amount, reason) = (new.amount, new.reason);
    let product = new.product_id;
    let rules = stock::product(tx, org, product).await?;
    // A deleted product receives nothing; what is left of it can still be sold, moved or
    // written off.
    if !rules.is_active && new.kind == Kind::Receive {
        return Err(stock::product_inactive());
    }
    let location = locations::resolve(tx, org, new.location_id, "location_id").await?;
    let choice = &new.lots;
    let currency = rules.currency.as_str();
    let given = new.unit_cost.map(|c| (c, currency));
    let movement = |kind, sign, location, transfer_id, portions| Movement {
        product,
        location,
        kind,
        sign,
        portions,
        reason: &reason,
        transfer_id,
        reservation_id: None,
        po_line_id: None,
        cost: None,
    };
    let mut ids = Vec::new();
    let cost;
    let mut average = None;
    let portions = match new.kind {
        Kind::Receive | Kind::Adjust if amount > 0 => {
            stock::change(tx, org, product, location, amount).await?;
            let portions =
                lots::incoming(tx, org, product, &rules, location, amount, choice).await?;
            let kind = if new.kind == Kind::Receive {
                MovementKind::Receive
            } else {
                MovementKind::Adjust
            };
            let (recorded, valued) = stock::record_valued(
                tx,
                caller,
                Movement {
                    cost: given,
                    ..movement(kind, 1, location, None, &portions)
                },
            )
            .await?;
            if let (Some(&first), Some(valued)) = (recorded.first(), &valued)
                && given.is_some()
            {
                average = stock::cost_receipt(tx, product, first, amount, valued).await?;
            }
            ids.extend(recorded);
            cost = valued;
            portions
        }
        Kind::Receive | Kind::Sell | Kind::Adjust => {
            let units = amount.abs();
            stock::change(tx, org, product, location, -units).await?;
            // A write-off takes expired units too (they go first); a sale only when the
            // organization sells them.
            let (kind, with_expired) = if new.kind == Kind::Sell {
                (MovementKind::Sell, rules.sell_expired)
            } else {
                (MovementKind::Adjust, true)
            };
            let portions = lots::outgoing(
                tx,
                product,
                &rules,
                location,
                units,
                choice,
                with_expired,
                false,
            )
            .await?;
            let (recorded, valued) =
                stock::record_valued(tx, caller, movement(kind, -1, location, None, &portions))
                    .await?;
            ids.extend(recorded);
            cost = valued;
            portions
        }
        Kind::Transfer => {
            let to = locations::resolve(tx, org, new.to_location_id, "to_location_id").await?;
            if to == location {
                return Err(ApiError::conflict(
                    "same_location",
                    "a transfer's destination must differ from its source location",
                ));
            }
            let transfer = Some(Uuid::new_v4());
            stock::lock_levels(tx, product, &[location, to]).await?;
            stock::change(tx, org, product, location, -amount).await?;
            stock::change(tx, org, product, to, amount).await?;
            // Expired units move when named (to a quarantine shelf, say), else as they sell.
            let named = choice.lot_number.is_some() || choice.serials.is_some();
            let with_expired = named || rules.sell_expired;
            let portions = lots::outgoing(
                tx,
                product,
                &rules,
                location,
                amount,
                choice,
                with_expired,
                false,
            )
            .await?;
            lots::arrive(tx, org, product, to, &portions).await?;
            let (recorded, valued) = stock::record_valued(
                tx,
                caller,
                movement(MovementKind::TransferOut, -1, location, transfer, &portions),
            )
            .await?;
            ids.extend(recorded);
            cost = valued;
            ids.extend(
                stock::record(
                    tx,
                    caller,
                    movement(MovementKind::TransferIn, 1, to, transfer, &portions),
                )
                .await?,
            );
            portions
        }
    };
    let lots: Vec<Portion> = portions.into_iter().filter(|p| p.lot.is_some()).collect();
    let available = stock::available(tx, product, location).await?;
    // A sale, transfer or write-off leaves the average as it was.
    let average_cost = average.or(rules.average_cost);
    let (unit_cost, cost_currency) = cost.map(|c| (c.amount, c.currency)).unzip();
    let value = unit_cost.map(|c| (c * Decimal::from(amount.abs())).round_dp(2));
    let after = serde_json::json!({ "kind": new.kind, "amount": amount, "location_id": location,
        "to_location_id": new.to_location_id, "reason": reason, "movement_ids": ids,
        "lots": lots, "unit_cost": unit_cost, "cost_currency": cost_currency, "value": value });
    caller
        .audit(tx, Action::StockMovement, product, Change::created(&after))
        .await?;
    Ok((
        StatusCode::CREATED,
        Recorded {
            movement_ids: ids,
            kind: new.kind,
            product_id: product,
            available,
            lots,
            unit_cost,
            cost_currency,
            value,
            average_cost,
        },
    ))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LedgerEntry {
    id: i64,
    product_id: Uuid,
    location_id: Uuid,
    kind: MovementKind,
    quantity: i32,
    reason: String,
    transfer_id: Option<Uuid>,
    reservation_id: Option<Uuid>,
    po_line_id: Option<Uuid>,
    /// The lot of a tracked product's units (`GET /api/lots/{id}`).
    lot_id: Option<Uuid>,
    /// What each unit was worth: a receipt's cost as given, else the product's average cost at
    /// the time (null before costs were recorded, or without any cost).
    #[schema(value_type = Option<String>, example = "4.200000")]
    #[serde(with = "rust_decimal::serde::str_option")]
    unit_cost: Option<Decimal>,
    #[schema(value_type = Option<shared::domain::CurrencyCode>)]
    cost_currency: Option<String>,
    actor_user_id: Option<Uuid>,
    actor_api_key_id: Option<Uuid>,
    created_at: DateTime<Utc>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LedgerQuery {
    /// One product, or several (`product_id=a,b` or repeated).
    #[param(value_type = Option<Vec<Uuid>>, max_items = 100)]
    product_id: Option<Ids>,
    /// One location, or several (`location_id=a,b` or repeated).
    #[param(value_type = Option<Vec<Uuid>>, max_items = 100)]
    location_id: Option<Ids>,
    /// `receive`, `sell`, `adjust`, `transfer` (both legs), `transfer_out` or `transfer_in`.
    #[param(inline)]
    kind: Option<KindFilter>,
    /// One lot or serial (its id: `GET /api/lots`), or several.
    #[param(value_type = Option<Vec<Uuid>>, max_items = 100)]
    lot_id: Option<Ids>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
}

// The `kind` filter of the ledger: one kind, or `transfer` for both legs of transfers (no doc
// comment: the parameter has its description).
#[derive(Clone, Copy, Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum KindFilter {
    Receive,
    Sell,
    Adjust,
    Transfer,
    TransferOut,
    TransferIn,
}

impl KindFilter {
    /// The ledger kinds the filter matches.
    fn kinds(self) -> &'static [MovementKind] {
        match self {
            Self::Receive => &[MovementKind::Receive],
            Self::Sell => &[MovementKind::Sell],
            Self::Adjust => &[MovementKind::Adjust],
            Self::Transfer => &MovementKind::TRANSFER,
            Self::TransferOut => &[MovementKind::TransferOut],
            Self::TransferIn => &[MovementKind::TransferIn],
        }
    }
}

/// `GET /api/inventory/movements`: the ledger, newest first.
#[utoipa::path(get, path = "/api/inventory/movements", operation_id = "list_movements", params(LedgerQuery, PageQuery),
    responses((status = 200, description = "The movement ledger, newest first", body = Page<LedgerEntry>)))]
pub async fn list(
    mut tenant: Require<Inventory, Read>,
    AppQuery(query): AppQuery<LedgerQuery>,
    page: PageRequest<i64>,
) -> Result<Json<Page<LedgerEntry>>, ApiError> {
    let kinds = query.kind.map(KindFilter::kinds);
    let rows = sqlx::query_as!(
        LedgerEntry,
        r#"SELECT id, product_id, location_id, kind AS "kind: MovementKind", quantity, reason, transfer_id,
                  reservation_id, po_line_id, lot_id, unit_cost, cost_currency::text, actor_user_id,
                  actor_api_key_id, created_at
           FROM stock_movements
           WHERE org_id = $1
             AND ($2::uuid[] IS NULL OR product_id = ANY($2))
             AND ($3::uuid[] IS NULL OR location_id = ANY($3))
             AND ($4::movement_kind[] IS NULL OR kind = ANY($4))
             AND ($5::timestamptz IS NULL OR created_at >= $5)
             AND ($6::timestamptz IS NULL OR created_at < $6)
             AND ($7::bigint IS NULL OR id < $7)
             AND ($9::uuid[] IS NULL OR lot_id = ANY($9))
           ORDER BY id DESC
           LIMIT $8"#,
        tenant.caller.org_id,
        Ids::sql(&query.product_id),
        Ids::sql(&query.location_id),
        kinds as Option<&[MovementKind]>,
        query.from,
        query.to,
        page.after,
        page.limit + 1,
        Ids::sql(&query.lot_id)
    )
    .fetch_all(&mut *tenant.db)
    .await?;
    Ok(Json(Page::from_rows(rows, page.limit, None, |e| e.id)))
}
