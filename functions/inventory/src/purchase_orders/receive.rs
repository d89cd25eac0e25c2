//! Goods arriving: `POST /api/purchase-orders/{id}/receive` adds the received units to stock
//! through the ledger.

use axum::http::StatusCode;
use shared::audit::{Action, Change};
use shared::auth::caller::{Purchasing, Write};
use shared::auth::{Caller, Require};
use shared::domain::{MovementKind, PoStatus};
use shared::error::{ApiError, FieldError, Fields};
use shared::http::idempotency::{self, Answer, IdempotencyKey};
use shared::http::{AppJson, PathId};
use sqlx::PgConnection;
use uuid::Uuid;

use super::input::{NewReceipt, Receive};
use super::order::{self, PurchaseOrder, load};
use crate::locations;
use crate::lots::stock as lots;
use crate::stock::{self, Movement};

/// `POST /api/purchase-orders/{id}/receive`: adds the received units to stock through the
/// ledger (honours `Idempotency-Key`).
#[utoipa::path(post, path = "/api/purchase-orders/{id}/receive", operation_id = "receive_purchase_order", params(("id" = Uuid, Path), shared::http::openapi::IdempotencyKeyHeader), request_body = Receive,
    responses((status = 200, description = "Received into stock through the ledger", body = PurchaseOrder), (status = 409, description = "Not receivable in its state")))]
pub async fn receive(
    mut tenant: Require<Purchasing, Write>,
    key: IdempotencyKey,
    PathId(id): PathId,
    AppJson(body): AppJson<Receive>,
) -> Result<Answer, ApiError> {
    idempotency::create_new(&mut tenant, &key, body, async |tx, caller, receipt| {
        apply(tx, caller, id, receipt).await
    })
    .await
}

/// Applies a receipt to the order `id`: its lines, stock and the ledger, in one go or not at all.
async fn apply(
    tx: &mut PgConnection,
    caller: &Caller,
    id: Uuid,
    receipt: NewReceipt,
) -> Result<(StatusCode, PurchaseOrder), ApiError> {
    let org = caller.org_id;
    // Locks the order: receipts of one order are applied one after the other.
    let before = load(tx, org, id, true).await?;
    if !PoStatus::RECEIVABLE.contains(&before.status) {
        return Err(order::wrong_status(&before, "receive"));
    }
    let location = locations::resolve(tx, org, receipt.location_id, "location_id").await?;
    let mut fields = Fields::default();
    let mut arrivals = Vec::with_capacity(receipt.lines.len());
    for (i, arrived) in receipt.lines.iter().enumerate() {
        let Some(line) = before.lines.iter().find(|l| l.id == arrived.line_id) else {
            fields.add(FieldError::new(
                format!("lines[{i}].line_id"),
                "unknown_line",
                "not a line of this purchase order",
            ));
            continue;
        };
        let updated = sqlx::query_scalar!(
            "UPDATE purchase_order_lines SET received_quantity = received_quantity + $3
             WHERE org_id = $1 AND id = $2 AND received_quantity + $3 <= quantity
             RETURNING received_quantity",
            org,
            line.id,
            arrived.quantity
        )
        .fetch_optional(&mut *tx)
        .await?;
        if updated.is_none() {
            fields.add(FieldError::new(
                format!("lines[{i}].quantity"),
                "over_receipt",
                format!(
                    "only {} of this line are still expected",
                    line.quantity - line.received_quantity
                ),
            ));
            continue;
        }
        arrivals.push((
            line.product_id,
            line.id,
            line.unit_cost,
            arrived.quantity,
            i,
        ));
    }
    if !fields.is_empty() {
        // Nothing of this receipt is kept: the transaction rolls back.
        return Err(fields.into_error());
    }
    // Stock is changed in product order, as every writer that changes several products does:
    // two receipts sharing products lock their rows (stock levels, the products' totals) in
    // the same order, so they queue instead of deadlocking.
    arrivals.sort_by_key(|&(product, line, _, _, _)| (product, line));
    let mut received = vec![Vec::new(); receipt.lines.len()];
    for (product, line, unit_cost, quantity, i) in arrivals {
        let rules = stock::product(tx, org, product).await?;
        stock::change(tx, org, product, location, quantity).await?;
        let portions = lots::incoming(
            tx,
            org,
            product,
            &rules,
            location,
            quantity,
            &receipt.lots[i],
        )
        .await?;
        let (ids, cost) = stock::record_valued(
            tx,
            caller,
            Movement {
                product,
                location,
                kind: MovementKind::Receive,
                sign: 1,
                portions: &portions,
                reason: "purchase order receipt",
                transfer_id: None,
                reservation_id: None,
                po_line_id: Some(line),
                cost: Some((unit_cost, &before.currency)),
            },
        )
        .await?;
        // The line's cost moves the product's average (when the order is in its currency).
        if let (Some(&first), Some(cost)) = (ids.first(), cost) {
            stock::cost_receipt(tx, product, first, quantity, &cost).await?;
        }
        received[i] = portions.into_iter().filter(|p| p.lot.is_some()).collect();
    }
    // The receipt itself, which the delivery note is attached to.
    let lines: Vec<serde_json::Value> = receipt
        .lines
        .iter()
        .zip(&received)
        .filter_map(|(arrived, lots)| {
            let line = before.lines.iter().find(|l| l.id == arrived.line_id)?;
            let mut entry = serde_json::json!({"line_id": line.id, "product_id": line.product_id,
                                               "quantity": arrived.quantity});
            if !lots.is_empty() {
                entry["lots"] = serde_json::json!(lots);
            }
            Some(entry)
        })
        .collect();
    let (user, key) = caller.actor_ids();
    sqlx::query!(
        "INSERT INTO goods_receipts (org_id, purchase_order_id, location_id, lines, actor_user_id,
                                     actor_api_key_id)
         VALUES ($1, $2, $3, $4, $5, $6)",
        org,
        id,
        location,
        serde_json::Value::Array(lines),
        user,
        key
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        "UPDATE purchase_orders SET updated_at = now(), status = CASE
             WHEN (SELECT bool_and(received_quantity = quantity) FROM purchase_order_lines
                   WHERE purchase_order_id = $2) THEN $3::po_status
             ELSE $4::po_status END
         WHERE org_id = $1 AND id = $2",
        org,
        id,
        PoStatus::Received as PoStatus,
        PoStatus::PartiallyReceived as PoStatus
    )
    .execute(&mut *tx)
    .await?;
    let after = load(tx, org, id, false).await?;
    caller
        .audit(
            tx,
            Action::PurchaseOrderReceived,
            id,
            Change::updated(&before, &after),
        )
        .await?;
    Ok((StatusCode::OK, after))
}
