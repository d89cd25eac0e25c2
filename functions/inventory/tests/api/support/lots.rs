//! What the lot tests share: tracked products, movements with lot fields, and checks that
//! lots, ledger and levels agree.

use http::StatusCode;
use serde_json::{Value, json};
use shared::testing::{Registered, TestApp, TestResponse};

use super::product;

pub async fn tracked(app: &TestApp, org: &Registered, sku: &str, tracking: &str) -> String {
    let id = product(app, org, sku, 0).await;
    sqlx::query("UPDATE products SET tracking = $2::product_tracking WHERE id = $1::uuid")
        .bind(&id)
        .bind(tracking)
        .execute(&app.pool)
        .await
        .unwrap();
    id
}

pub async fn movement(app: &TestApp, org: &Registered, body: Value) -> TestResponse {
    let mut body = body;
    body["reason"] = json!("test");
    app.by(org).post("/api/inventory/movements", body).await
}

pub async fn receive_lot(
    app: &TestApp,
    org: &Registered,
    product: &str,
    quantity: i32,
    lot: &str,
    days: i64,
) -> Value {
    let expires = (chrono::Utc::now().date_naive() + chrono::Days::new(days as u64)).to_string();
    let r = movement(
        app,
        org,
        json!({"kind": "receive", "product_id": product, "quantity": quantity,
               "lot_number": lot, "expires_on": expires}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.body
}

/// Makes the lot `number` of `product` expired yesterday (received ten days ago).
pub async fn expire(app: &TestApp, product: &str, number: &str) {
    sqlx::query(
        "UPDATE lots SET received_on = current_date - 10, expires_on = current_date - 1
         WHERE product_id = $1::uuid AND number = $2",
    )
    .bind(product)
    .bind(number)
    .execute(&app.pool)
    .await
    .unwrap();
}

/// Each lot's units per location, by lot number.
pub async fn lot_levels(app: &TestApp, product: &str) -> Vec<(String, i32, i32)> {
    sqlx::query_as(
        "SELECT lo.number, l.on_hand, l.reserved FROM lot_levels l JOIN lots lo ON lo.id = l.lot_id
         WHERE l.product_id = $1::uuid AND l.on_hand > 0 ORDER BY lo.number, l.location_id",
    )
    .bind(product)
    .fetch_all(&app.pool)
    .await
    .unwrap()
}

/// Fails unless every lot level is the sum of its ledger lines and every tracked product's
/// level is the sum of its lots.
pub async fn assert_lots_match(app: &TestApp) {
    let ledger: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM lot_levels l
         LEFT JOIN (SELECT lot_id, location_id, sum(quantity)::bigint AS q FROM stock_movements
                    WHERE lot_id IS NOT NULL GROUP BY lot_id, location_id) m
           ON m.lot_id = l.lot_id AND m.location_id = l.location_id
         WHERE l.on_hand <> coalesce(m.q, 0)",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(ledger, 0, "lot levels that differ from their ledger");
    let levels: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM stock_levels s JOIN products p ON p.id = s.product_id
         LEFT JOIN (SELECT product_id, location_id, sum(on_hand)::bigint AS on_hand,
                           sum(reserved)::bigint AS reserved
                    FROM lot_levels GROUP BY product_id, location_id) l
           ON l.product_id = s.product_id AND l.location_id = s.location_id
         WHERE p.tracking <> 'none'
           AND (s.on_hand <> coalesce(l.on_hand, 0) OR s.reserved <> coalesce(l.reserved, 0))",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(levels, 0, "levels that differ from their lots");
}

pub async fn ledger_lines(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM stock_movements")
        .fetch_one(&app.pool)
        .await
        .unwrap()
}
