//! A tracked product's stock by lot: units coming in go into a lot (named, with its expiry
//! date) or one serial each; units going out come from the lots first expiry first, or from
//! those named. Every function here runs after the product's stock level at the location was
//! written (and so locked) in the same transaction: the level orders every writer of its lots.

use shared::domain::Tracking;
use shared::error::{ApiError, FieldError, ResultExt};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::lots::input::{LotChoice, Portion};
use crate::stock::{self, ProductStock};

fn invalid(choice: &LotChoice, field: &str, code: &'static str, message: String) -> ApiError {
    ApiError::Validation {
        errors: vec![FieldError::new(choice.field(field), code, message)],
    }
}

/// 422 unless the fields sent fit how the product is tracked: none for an untracked product,
/// no serials for a lot-tracked one, no lot number for a serial-tracked one.
fn fits(rules: &ProductStock, choice: &LotChoice) -> Result<(), ApiError> {
    match rules.tracking {
        Tracking::None if !choice.is_empty() => {
            let field = if choice.serials.is_some() {
                "serials"
            } else if choice.lot_number.is_some() {
                "lot_number"
            } else {
                "expires_on"
            };
            Err(invalid(
                choice,
                field,
                "not_tracked",
                "this product is not tracked by lot or serial number (set its tracking first)"
                    .into(),
            ))
        }
        Tracking::Lot if choice.serials.is_some() => Err(invalid(
            choice,
            "serials",
            "tracked_by_lot",
            "this product is tracked by lot: give a lot_number".into(),
        )),
        Tracking::Serial if choice.lot_number.is_some() => Err(invalid(
            choice,
            "lot_number",
            "tracked_by_serial",
            "this product is tracked by serial number: give serials, one per unit".into(),
        )),
        _ => Ok(()),
    }
}

/// 422 unless `serials` names one serial per unit.
fn one_serial_per_unit(
    choice: &LotChoice,
    serials: &[String],
    quantity: i32,
) -> Result<(), ApiError> {
    if usize::try_from(quantity).ok() == Some(serials.len()) {
        return Ok(());
    }
    Err(invalid(
        choice,
        "serials",
        "serial_quantity",
        format!(
            "a serial number is one unit: {} serial(s) for a quantity of {quantity}",
            serials.len()
        ),
    ))
}

/// Puts `quantity` received units of the product at `location` into their lot (created, or
/// added to when its number exists: the expiry given must then be the lot's) or, for serials,
/// one lot each (a serial in stock anywhere is a 409 `serial_in_stock`).
pub async fn incoming(
    conn: &mut PgConnection,
    org: Uuid,
    product: Uuid,
    rules: &ProductStock,
    location: Uuid,
    quantity: i32,
    choice: &LotChoice,
) -> Result<Vec<Portion>, ApiError> {
    fits(rules, choice)?;
    let numbers = match (rules.tracking, &choice.lot_number, &choice.serials) {
        (Tracking::None, _, _) => return Ok(Portion::untracked(quantity)),
        (Tracking::Lot, Some(number), _) => vec![number.clone()],
        (Tracking::Serial, _, Some(serials)) => {
            one_serial_per_unit(choice, serials, quantity)?;
            serials.clone()
        }
        (Tracking::Lot, None, _) => {
            return Err(invalid(
                choice,
                "lot_number",
                "lot_required",
                "this product is tracked by lot: say which lot arrived".into(),
            ));
        }
        (Tracking::Serial, _, None) => {
            return Err(invalid(
                choice,
                "serials",
                "serials_required",
                "this product is tracked by serial number: give one per unit".into(),
            ));
        }
    };
    // The lots, created or found (and locked: two receipts of one serial queue here).
    let lots = sqlx::query!(
        r#"INSERT INTO lots (org_id, product_id, number, expires_on)
           SELECT $1, $2, n, coalesce($4, current_date + $5::int)
           FROM unnest($3::text[]) AS n ORDER BY n
           ON CONFLICT (org_id, product_id, number)
           DO UPDATE SET expires_on = coalesce(lots.expires_on, EXCLUDED.expires_on)
           RETURNING id, number, expires_on, $4::date IS NULL
                     OR expires_on IS NOT DISTINCT FROM $4 AS "same_expiry!""#,
        org,
        product,
        &numbers,
        choice.expires_on,
        rules.shelf_life_days
    )
    .fetch_all(&mut *conn)
    .await
    .on_constraint("lots_expiry_after_receipt", |_| {
        invalid(
            choice,
            "expires_on",
            "expired_at_receipt",
            "the expiry date is before the day the lot was received".into(),
        )
    })?;
    if let Some(lot) = lots.iter().find(|l| !l.same_expiry) {
        let theirs = lot
            .expires_on
            .map_or_else(|| "no expiry date".to_owned(), |d| d.to_string());
        return Err(ApiError::conflict_on(
            &choice.field("expires_on"),
            "lot_expiry_mismatch",
            format!("lot {} already exists with {theirs}", lot.number),
        ));
    }
    let ids: Vec<Uuid> = lots.iter().map(|l| l.id).collect();
    if rules.tracking == Tracking::Serial {
        let in_stock = sqlx::query_scalar!(
            r#"SELECT lo.number FROM lots lo
               WHERE lo.id = ANY($1)
                 AND EXISTS (SELECT 1 FROM lot_levels l WHERE l.lot_id = lo.id AND l.on_hand > 0)
               ORDER BY lo.number"#,
            &ids
        )
        .fetch_all(&mut *conn)
        .await?;
        if !in_stock.is_empty() {
            return Err(ApiError::conflict_on(
                &choice.field("serials"),
                "serial_in_stock",
                format!("already in stock: {}", in_stock.join(", ")),
            ));
        }
    }
    let each = if rules.tracking == Tracking::Serial {
        1
    } else {
        quantity
    };
    sqlx::query!(
        "INSERT INTO lot_levels (org_id, lot_id, product_id, location_id, on_hand)
         SELECT $1, lot, $2, $3, $5 FROM unnest($4::uuid[]) AS lot ORDER BY lot
         ON CONFLICT (lot_id, location_id)
         DO UPDATE SET on_hand = lot_levels.on_hand + EXCLUDED.on_hand, updated_at = now()",
        org,
        product,
        location,
        &ids,
        each
    )
    .execute(&mut *conn)
    .await?;
    Ok(lots
        .into_iter()
        .map(|lot| Portion {
            lot: Some(lot.id),
            number: Some(lot.number),
            quantity: each,
        })
        .collect())
}

/// Takes `quantity` units of the product at `location` out of its lots (or holds them, with
/// `hold`): first expiry first, or from the lot or serials named; lots past their expiry only
/// `with_expired`. A 409 `insufficient_stock` (with what those lots could give) when short.
#[allow(clippy::too_many_arguments)]
pub async fn outgoing(
    conn: &mut PgConnection,
    product: Uuid,
    rules: &ProductStock,
    location: Uuid,
    quantity: i32,
    choice: &LotChoice,
    with_expired: bool,
    hold: bool,
) -> Result<Vec<Portion>, ApiError> {
    fits(rules, choice)?;
    if choice.expires_on.is_some() {
        return Err(invalid(
            choice,
            "expires_on",
            "not_incoming",
            "an expiry date is given with units received, not taken".into(),
        ));
    }
    let numbers = match (rules.tracking, &choice.lot_number, &choice.serials) {
        (Tracking::None, _, _) => return Ok(Portion::untracked(quantity)),
        (Tracking::Lot, Some(number), _) => Some(vec![number.clone()]),
        (Tracking::Serial, _, Some(serials)) => {
            one_serial_per_unit(choice, serials, quantity)?;
            Some(serials.clone())
        }
        _ => None,
    };
    let taken = sqlx::query!(
        r#"SELECT lot_id AS "lot_id!", number AS "number!", quantity AS "quantity!"
           FROM take_from_lots($1, $2, $3, $4, $5, $6)"#,
        product,
        location,
        quantity,
        numbers.as_deref(),
        with_expired,
        hold
    )
    .fetch_all(&mut *conn)
    .await?;
    let found: i64 = taken.iter().map(|t| i64::from(t.quantity)).sum();
    if found < i64::from(quantity) {
        let mut error = stock::insufficient(found);
        if let ApiError::Conflict { detail, .. } = &mut error {
            let from = match (&numbers, with_expired) {
                (Some(numbers), _) => format!(" in {}", numbers.join(", ")),
                (None, false) => " that has not expired".to_owned(),
                (None, true) => String::new(),
            };
            *detail = format!("only {found} available{from} (on hand minus reserved)");
        }
        return Err(error);
    }
    Ok(taken
        .into_iter()
        .map(|t| Portion {
            lot: Some(t.lot_id),
            number: Some(t.number),
            quantity: t.quantity,
        })
        .collect())
}

/// Puts units taken from lots elsewhere (a transfer's) into the same lots at `location`.
pub async fn arrive(
    conn: &mut PgConnection,
    org: Uuid,
    product: Uuid,
    location: Uuid,
    portions: &[Portion],
) -> Result<(), ApiError> {
    let (lots, quantities): (Vec<Uuid>, Vec<i32>) = portions
        .iter()
        .filter_map(|p| Some((p.lot?, p.quantity)))
        .unzip();
    if lots.is_empty() {
        return Ok(());
    }
    sqlx::query!(
        "INSERT INTO lot_levels (org_id, lot_id, product_id, location_id, on_hand)
         SELECT $1, p.lot, $2, $3, p.quantity
         FROM unnest($4::uuid[], $5::int[]) AS p(lot, quantity) ORDER BY p.lot
         ON CONFLICT (lot_id, location_id)
         DO UPDATE SET on_hand = lot_levels.on_hand + EXCLUDED.on_hand, updated_at = now()",
        org,
        product,
        location,
        &lots,
        &quantities
    )
    .execute(conn)
    .await?;
    Ok(())
}
