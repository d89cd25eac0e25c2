//! Applying a stocktake (every difference becomes one `adjust` movement, in one transaction)
//! and calling one off.

use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use shared::audit::{Action, Change};
use shared::auth::Require;
use shared::auth::caller::{Inventory, Write};
use shared::error::{ApiError, FieldError};
use shared::http::PathId;
use uuid::Uuid;

use crate::lots::input::LotChoice;
use crate::lots::input::Portion;
use crate::lots::stock as lots;
use crate::stock::{self, Movement, ProductStock};
use crate::stocktakes::model::{self, Amount, Stocktake, StocktakeStatus};
use shared::domain::{MovementKind, Tracking};

/// A line whose stock moved between the snapshot and the apply (sales, receipts, transfers
/// while the count went on): its adjustment was made against the stock at the count, so
/// those movements are neither lost nor counted twice.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MovedLine {
    product_id: Uuid,
    sku: String,
    /// On hand when the stocktake began.
    expected: i32,
    /// On hand just before the apply.
    on_hand: i32,
}

/// What the apply did; a second apply answers the same.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StocktakeResult {
    id: Uuid,
    applied_at: DateTime<Utc>,
    /// Counted lines that differed: one `adjust` movement each, reason `stocktake <id>`.
    adjusted_lines: i64,
    /// Counted lines that matched the stock.
    unchanged_lines: i64,
    /// Lines nobody counted: left as they are.
    not_counted_lines: i64,
    /// Units added (positive) or written off (negative), summed.
    variance_units: i64,
    /// The variance at each product's average cost (its standard cost before any costed
    /// receipt), per currency.
    variance_value: Vec<Amount>,
    moved_meanwhile: Vec<MovedLine>,
}

/// `POST /api/stocktakes/{id}/apply`: all counted lines at once, or none (409
/// `stocktake_below_reserved` naming the lines whose count leaves less than is reserved).
#[utoipa::path(post, path = "/api/stocktakes/{id}/apply", operation_id = "apply_stocktake", params(("id" = Uuid, Path)),
    responses((status = 200, description = "Applied (or applied before: the same answer)", body = StocktakeResult),
              (status = 409, description = "`stocktake_not_open` (cancelled) or `stocktake_below_reserved`")))]
pub async fn apply(
    mut tenant: Require<Inventory, Write>,
    PathId(id): PathId,
) -> Result<Json<StocktakeResult>, ApiError> {
    let (caller, tx) = tenant.parts();
    let org = caller.org_id;
    // Due holds are given back first, as before any stock change; then the stocktake is
    // locked, so a second apply waits and answers what the first did.
    sqlx::query_scalar!(r#"SELECT release_expired_reservations(NULL) AS "released!""#)
        .fetch_one(&mut *tx)
        .await?;
    let head = model::head(tx, org, id, true).await?;
    match head.status {
        StocktakeStatus::Open => {}
        StocktakeStatus::Applied => {
            let stored = head.result.clone().unwrap_or_default();
            return serde_json::from_value(stored)
                .map(Json)
                .map_err(|e| ApiError::Internal(e.into()));
        }
        StocktakeStatus::Cancelled => return Err(model::not_open(&head)),
    }
    // The counted products' stock at the location, locked in product order (as every writer
    // of several products locks it).
    sqlx::query!(
        "SELECT s.product_id FROM stock_levels s
         WHERE s.org_id = $1 AND s.location_id = $3
           AND s.product_id IN (SELECT product_id FROM stocktake_lines
                                WHERE org_id = $1 AND stocktake_id = $2 AND counted IS NOT NULL)
         ORDER BY s.product_id
         FOR UPDATE",
        org,
        id,
        head.location_id
    )
    .fetch_all(&mut *tx)
    .await?;
    let lines = sqlx::query!(
        r#"SELECT l.product_id, p.sku, p.tracking AS "tracking: Tracking", l.expected, l.counted AS "counted!",
                  l.on_hand_at_count AS "on_hand_at_count!",
                  coalesce(s.on_hand, 0) AS "on_hand!", coalesce(s.reserved, 0) AS "reserved!"
           FROM stocktake_lines l
           JOIN products p ON p.org_id = l.org_id AND p.id = l.product_id
           LEFT JOIN stock_levels s ON s.product_id = l.product_id AND s.location_id = $3
           WHERE l.org_id = $1 AND l.stocktake_id = $2 AND l.counted IS NOT NULL
           ORDER BY l.product_id"#,
        org,
        id,
        head.location_id
    )
    .fetch_all(&mut *tx)
    .await?;
    let mut products = Vec::new();
    let mut differences = Vec::new();
    // Tracked products' differences: their lots change too.
    let mut tracked = Vec::new();
    let mut short = Vec::new();
    let mut moved = Vec::new();
    for line in &lines {
        let difference = line.counted - line.on_hand_at_count;
        if line.on_hand != line.expected {
            moved.push(MovedLine {
                product_id: line.product_id,
                sku: line.sku.clone(),
                expected: line.expected,
                on_hand: line.on_hand,
            });
        }
        if difference == 0 {
            continue;
        }
        let after = line.on_hand + difference;
        if after < line.reserved {
            short.push(FieldError::new(
                format!("lines.{}", line.product_id),
                "stocktake_below_reserved",
                format!(
                    "{}: {after} would be on hand, but {} are reserved (cancel holds or count again)",
                    line.sku, line.reserved
                ),
            ));
        }
        products.push(line.product_id);
        differences.push(difference);
        if line.tracking != Tracking::None {
            tracked.push((line.product_id, &line.sku, line.tracking, difference));
        }
    }
    if !short.is_empty() {
        return Err(ApiError::Conflict {
            code: "stocktake_below_reserved",
            detail: format!(
                "{} counted line(s) would leave less on hand than is reserved; nothing was applied",
                short.len()
            ),
            errors: short,
            extra: Default::default(),
        });
    }
    let reason = format!("stocktake {id}");
    let (user, key) = caller.actor_ids();
    // The levels (those there are, then new ones for units found where the product had none),
    // then the ledger. An insert's row is checked before its conflict is, so a decrease is
    // never written as an upsert.
    sqlx::query!(
        "UPDATE stock_levels s SET on_hand = s.on_hand + d.difference, updated_at = now()
         FROM unnest($3::uuid[], $4::int[]) AS d(product_id, difference)
         WHERE s.org_id = $1 AND s.location_id = $2 AND s.product_id = d.product_id",
        org,
        head.location_id,
        &products,
        &differences
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        "INSERT INTO stock_levels (org_id, product_id, location_id, on_hand)
         SELECT $1, d.product_id, $2, d.difference
         FROM unnest($3::uuid[], $4::int[]) AS d(product_id, difference)
         WHERE NOT EXISTS (SELECT 1 FROM stock_levels s
                           WHERE s.product_id = d.product_id AND s.location_id = $2)
         ORDER BY d.product_id",
        org,
        head.location_id,
        &products,
        &differences
    )
    .execute(&mut *tx)
    .await?;
    let untracked: (Vec<Uuid>, Vec<i32>) = products
        .iter()
        .zip(&differences)
        .filter(|(p, _)| !tracked.iter().any(|t| t.0 == **p))
        .map(|(p, d)| (*p, *d))
        .unzip();
    sqlx::query!(
        "INSERT INTO stock_movements (org_id, product_id, location_id, kind, quantity, reason,
                                      actor_user_id, actor_api_key_id, unit_cost, cost_currency)
         SELECT $1, d.product_id, $2, 'adjust', d.difference, $5, $6, $7,
                coalesce(p.average_cost, p.cost),
                CASE WHEN coalesce(p.average_cost, p.cost) IS NOT NULL THEN p.currency END
         FROM unnest($3::uuid[], $4::int[]) AS d(product_id, difference)
         JOIN products p ON p.id = d.product_id
         ORDER BY d.product_id",
        org,
        head.location_id,
        &untracked.0,
        &untracked.1,
        reason,
        user,
        key
    )
    .execute(&mut *tx)
    .await?;
    for (product, sku, tracking, difference) in tracked {
        adjust_lots(
            tx,
            caller,
            head.location_id,
            product,
            sku,
            tracking,
            difference,
            &reason,
        )
        .await?;
    }
    sqlx::query!(
        "UPDATE stocktake_lines l SET applied_difference = l.counted - l.on_hand_at_count
         WHERE l.org_id = $1 AND l.stocktake_id = $2 AND l.counted IS NOT NULL",
        org,
        id
    )
    .execute(&mut *tx)
    .await?;
    // Counted now: the products' rows last, in product order (the stock totals the levels'
    // triggers write at commit then find them locked already).
    let counted: Vec<Uuid> = lines.iter().map(|l| l.product_id).collect();
    sqlx::query!(
        "WITH locked AS (SELECT id FROM products WHERE org_id = $1 AND id = ANY($2)
                         ORDER BY id FOR NO KEY UPDATE)
         UPDATE products p SET last_counted_at = now() FROM locked WHERE p.id = locked.id",
        org,
        &counted
    )
    .execute(&mut *tx)
    .await?;
    // The figures of the answer are the stocktake's progress, counted once, where `GET` counts
    // them.
    let progress = model::progress(tx, org, id, true).await?;
    let applied_at = sqlx::query_scalar!(r#"SELECT now() AS "now!""#)
        .fetch_one(&mut *tx)
        .await?;
    let result = StocktakeResult {
        id,
        applied_at,
        adjusted_lines: progress.with_variance.unwrap_or_default(),
        unchanged_lines: progress.counted - progress.with_variance.unwrap_or_default(),
        not_counted_lines: progress.lines - progress.counted,
        variance_units: progress.variance_units.unwrap_or_default(),
        variance_value: progress.variance_value.unwrap_or_default(),
        moved_meanwhile: moved,
    };
    let stored = serde_json::to_value(&result).map_err(|e| ApiError::Internal(e.into()))?;
    sqlx::query!(
        "UPDATE stocktakes SET status = 'applied', applied_at = $3, updated_at = $3, result = $4
         WHERE org_id = $1 AND id = $2",
        org,
        id,
        applied_at,
        stored
    )
    .execute(&mut *tx)
    .await?;
    caller
        .audit(tx, Action::StocktakeApplied, id, Change::created(&result))
        .await?;
    Ok(Json(result))
}

/// A tracked product's difference in its lots, with its ledger rows: units missing come out
/// of its lots first expiry first (expired ones too: they are the first to go missing); units
/// found go into the lot it last received at the location (or anywhere). A serial-tracked
/// product's found units have no serial (nor a lot-tracked one's without any lot): a 409
/// `stocktake_lots_unknown`: receive them with their numbers instead.
#[allow(clippy::too_many_arguments)]
async fn adjust_lots(
    tx: &mut sqlx::PgConnection,
    caller: &shared::auth::Caller,
    location: Uuid,
    product: Uuid,
    sku: &str,
    tracking: Tracking,
    difference: i32,
    reason: &str,
) -> Result<(), ApiError> {
    let rules = ProductStock {
        is_active: true,
        tracking,
        shelf_life_days: None,
        sell_expired: true,
        // Not read by the lots: the ledger rows take the product's average themselves.
        currency: String::new(),
        average_cost: None,
    };
    let none = LotChoice::default();
    let portions = if difference < 0 {
        lots::outgoing(
            tx,
            product,
            &rules,
            location,
            -difference,
            &none,
            true,
            false,
        )
        .await?
    } else {
        let lot = match tracking {
            Tracking::Lot => sqlx::query!(
                "SELECT lo.id, lo.number FROM lots lo
                 LEFT JOIN lot_levels l ON l.lot_id = lo.id AND l.location_id = $3
                 WHERE lo.org_id = $1 AND lo.product_id = $2
                 ORDER BY l.lot_id IS NULL, lo.received_on DESC, lo.id DESC LIMIT 1",
                caller.org_id,
                product,
                location
            )
            .fetch_optional(&mut *tx)
            .await?
            .map(|l| (l.id, l.number)),
            _ => None,
        };
        let Some((lot, number)) = lot else {
            return Err(ApiError::conflict_on(
                &format!("lines.{product}"),
                "stocktake_lots_unknown",
                format!(
                    "{sku}: {difference} unit(s) found, but their lot or serial numbers are not known; \
                     count again, or receive them (an adjust with their lot or serials) first"
                ),
            ));
        };
        let portions = vec![Portion {
            lot: Some(lot),
            number: Some(number),
            quantity: difference,
        }];
        lots::arrive(tx, caller.org_id, product, location, &portions).await?;
        portions
    };
    let sign = difference.signum();
    stock::record(
        tx,
        caller,
        Movement {
            product,
            location,
            kind: MovementKind::Adjust,
            sign,
            portions: &portions,
            reason,
            transfer_id: None,
            reservation_id: None,
            po_line_id: None,
            cost: None,
        },
    )
    .await?;
    Ok(())
}

/// `POST /api/stocktakes/{id}/cancel`: nothing is adjusted (again: the same answer); 409 once
/// applied.
#[utoipa::path(post, path = "/api/stocktakes/{id}/cancel", operation_id = "cancel_stocktake", params(("id" = Uuid, Path)),
    responses((status = 200, body = Stocktake), (status = 409, description = "`stocktake_not_open`: applied")))]
pub async fn cancel(
    mut tenant: Require<Inventory, Write>,
    PathId(id): PathId,
) -> Result<Json<Stocktake>, ApiError> {
    let (caller, tx) = tenant.parts();
    let org = caller.org_id;
    let head = model::head(tx, org, id, true).await?;
    match head.status {
        StocktakeStatus::Applied => return Err(model::not_open(&head)),
        StocktakeStatus::Cancelled => {}
        StocktakeStatus::Open => {
            sqlx::query!(
                "UPDATE stocktakes SET status = 'cancelled', updated_at = now()
                 WHERE org_id = $1 AND id = $2",
                org,
                id
            )
            .execute(&mut *tx)
            .await?;
            caller
                .audit(tx, Action::StocktakeCancelled, id, Change::none())
                .await?;
        }
    }
    let head = model::head(tx, org, id, false).await?;
    Ok(Json(model::view(tx, org, head, true).await?))
}
