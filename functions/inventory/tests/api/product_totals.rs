//! The stock each product carries over all locations (`stock_on_hand`, `stock_reserved`,
//! `stock_holds_until`), which the product list reads: every way the ledger changes stock
//! keeps it equal to the stock levels and the active holds, and writers that change several
//! products at once queue instead of deadlocking on it.
//!
//! Routes: `POST /api/inventory/movements`, `POST /api/inventory/reservations`,
//!  `POST /api/inventory/reservations/{id}/cancel`,
//!  `POST /api/inventory/reservations/{id}/confirm`, `POST /api/purchase-orders`,
//!  `POST /api/purchase-orders/{id}/submit`, `POST /api/purchase-orders/{id}/receive`.

use crate::support::*;
use http::StatusCode;
use serde_json::{Value, json};
use shared::testing::{Registered, TestApp};
use sqlx::PgPool;

/// Fails with the products whose carried stock differs from what the ledger holds.
async fn assert_totals_match(app: &TestApp, step: &str) {
    let wrong: Vec<(String, i64, i64, i64, i64)> = sqlx::query_as(
        "SELECT p.sku, p.stock_on_hand, coalesce(s.on_hand, 0), p.stock_reserved,
                coalesce(s.reserved, 0)
         FROM products p
         LEFT JOIN (SELECT product_id, sum(on_hand)::bigint AS on_hand,
                           sum(reserved)::bigint AS reserved
                    FROM stock_levels GROUP BY product_id) s ON s.product_id = p.id
         LEFT JOIN (SELECT product_id, min(expires_at) AS until FROM reservations
                    WHERE status = 'active' GROUP BY product_id) h ON h.product_id = p.id
         WHERE p.stock_on_hand <> coalesce(s.on_hand, 0)
            OR p.stock_reserved <> coalesce(s.reserved, 0)
            OR p.stock_holds_until IS DISTINCT FROM h.until",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert!(
        wrong.is_empty(),
        "after {step}: (sku, carried on hand, on hand, carried reserved, reserved) {wrong:?}"
    );
}

/// `(stock_on_hand, stock_reserved)` the product carries.
async fn carried(app: &TestApp, product: &str) -> (i64, i64) {
    sqlx::query_as("SELECT stock_on_hand, stock_reserved FROM products WHERE id = $1::uuid")
        .bind(product)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

async fn second_location(app: &TestApp, org: &Registered, name: &str) -> String {
    let id: uuid::Uuid = sqlx::query_scalar(
        "INSERT INTO locations (org_id, name) VALUES ($1::uuid, $2) RETURNING id",
    )
    .bind(&org.org_id)
    .bind(name)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    id.to_string()
}

async fn post(app: &TestApp, org: &Registered, path: &str, body: Value) -> Value {
    let r = app.by(org).post(path, body).await;
    assert!(r.status.is_success(), "{path}: {} {}", r.status, r.body);
    r.body
}

/// A submitted purchase order of `quantity` of each product, lines in the order given.
async fn submitted_order(
    app: &TestApp,
    org: &Registered,
    supplier: &str,
    products: &[&str],
    quantity: i32,
) -> Value {
    let lines: Vec<Value> = products
        .iter()
        .map(|p| json!({"product_id": p, "quantity": quantity, "unit_cost": "1.00"}))
        .collect();
    let po = post(
        app,
        org,
        "/api/purchase-orders",
        json!({"supplier_id": supplier, "currency": "EUR", "lines": lines}),
    )
    .await;
    let id = po["id"].as_str().unwrap();
    post(
        app,
        org,
        &format!("/api/purchase-orders/{id}/submit"),
        json!({}),
    )
    .await;
    po
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn every_way_stock_changes_keeps_the_products_totals(pool: PgPool) {
    let app = app(pool);
    let org = app.register("ann@example.com").await;
    let back = second_location(&app, &org, "Back room").await;
    let bolt = product(&app, &org, "BOLT", 0).await;
    let nut = product(&app, &org, "NUT", 0).await;
    let movement = "/api/inventory/movements";

    receive(&app, &org, &bolt, 10).await;
    assert_totals_match(&app, "a receipt").await;
    post(
        &app,
        &org,
        movement,
        json!({"kind": "transfer", "product_id": bolt,
        "quantity": 4, "to_location_id": back, "reason": "restock"}),
    )
    .await;
    post(
        &app,
        &org,
        movement,
        json!({"kind": "sell", "product_id": bolt, "quantity": 1,
        "reason": "till"}),
    )
    .await;
    post(
        &app,
        &org,
        movement,
        json!({"kind": "adjust", "product_id": bolt, "quantity": -1,
        "reason": "broken"}),
    )
    .await;
    assert_totals_match(&app, "a transfer, a sale, an adjustment").await;
    assert_eq!(carried(&app, &bolt).await, (8, 0));

    let reserve = "/api/inventory/reservations";
    let kept = post(
        &app,
        &org,
        reserve,
        json!({"product_id": bolt, "quantity": 2,
        "expires_in_seconds": 600}),
    )
    .await;
    let cancelled = post(
        &app,
        &org,
        reserve,
        json!({"product_id": bolt, "quantity": 1,
        "expires_in_seconds": 60}),
    )
    .await;
    let confirmed = post(
        &app,
        &org,
        reserve,
        json!({"product_id": bolt, "quantity": 1,
        "expires_in_seconds": 30}),
    )
    .await;
    assert_totals_match(&app, "three holds").await;
    assert_eq!(carried(&app, &bolt).await, (8, 4));
    let path = |r: &Value| format!("{reserve}/{}", r["id"].as_str().unwrap());
    post(
        &app,
        &org,
        &format!("{}/cancel", path(&cancelled)),
        json!({}),
    )
    .await;
    post(
        &app,
        &org,
        &format!("{}/confirm", path(&confirmed)),
        json!({}),
    )
    .await;
    assert_totals_match(&app, "a hold cancelled, one confirmed").await;
    assert_eq!(carried(&app, &bolt).await, (7, 2));

    // A hold past its deadline: still counted until a release gives it back, which the next
    // sale of the product or the sweep does; the list subtracts it meanwhile (products tests).
    sqlx::query(
        "UPDATE reservations SET expires_at = now() - interval '1 second' WHERE id = $1::uuid",
    )
    .bind(kept["id"].as_str().unwrap())
    .execute(&app.pool)
    .await
    .unwrap();
    assert_totals_match(&app, "a hold past its deadline").await;
    post(
        &app,
        &org,
        movement,
        json!({"kind": "sell", "product_id": bolt, "quantity": 1,
        "reason": "till"}),
    )
    .await;
    assert_totals_match(&app, "a sale releasing the due hold").await;
    assert_eq!(carried(&app, &bolt).await, (6, 0));
    // A purchase order receipt of both products, and the sweep of every due hold.
    let supplier = supplier(&app, &org).await;
    let po = submitted_order(&app, &org, &supplier, &[&nut, &bolt], 5).await;
    let lines: Vec<Value> = po["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| json!({"line_id": l["id"], "quantity": 5}))
        .collect();
    post(
        &app,
        &org,
        &format!(
            "/api/purchase-orders/{}/receive",
            po["id"].as_str().unwrap()
        ),
        json!({"lines": lines}),
    )
    .await;
    assert_totals_match(&app, "a purchase order receipt").await;
    post(
        &app,
        &org,
        reserve,
        json!({"product_id": nut, "quantity": 2,
        "expires_in_seconds": 600}),
    )
    .await;
    assert_totals_match(&app, "a hold of the other product").await;
    assert_eq!(carried(&app, &nut).await, (5, 2));
    sqlx::query(
        "UPDATE reservations SET expires_at = now() - interval '1 second' WHERE status = 'active'",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    let released: i64 = sqlx::query_scalar("SELECT release_expired_reservations(NULL)")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert!(released >= 1);
    assert_totals_match(&app, "the sweep").await;
    assert_eq!(carried(&app, &bolt).await, (11, 0));
    assert_eq!(carried(&app, &nut).await, (5, 0));
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn receipts_sharing_products_in_opposite_orders_do_not_deadlock(pool: PgPool) {
    // Eight connections: the receipts run at once, as on eight function instances.
    let app = app_with(pool, &[("DB_MAX_CONNECTIONS", "8")]);
    let org = app.register("ann@example.com").await;
    let back = second_location(&app, &org, "Back room").await;
    let supplier = supplier(&app, &org).await;
    let skus = ["A", "B", "C", "D"];
    let mut products = Vec::new();
    for sku in skus {
        products.push(product(&app, &org, sku, 0).await);
    }
    let forward: Vec<&str> = products.iter().map(String::as_str).collect();
    let backward: Vec<&str> = forward.iter().rev().copied().collect();
    // Pairs of orders listing the same products in opposite orders, received at the same
    // moment at two locations: before receipts changed stock in product order, the products'
    // rows were locked in opposite orders and one of each pair could fail as a deadlock.
    let mut receipts = Vec::new();
    for round in 0..6 {
        for (products, location) in [(&forward, None), (&backward, Some(&back))] {
            let po = submitted_order(&app, &org, &supplier, products, 1).await;
            let lines: Vec<Value> = po["lines"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| json!({"line_id": l["id"], "quantity": 1}))
                .collect();
            let mut body = json!({ "lines": lines });
            if let Some(location) = location {
                body["location_id"] = json!(location);
            }
            receipts.push((
                round,
                format!(
                    "/api/purchase-orders/{}/receive",
                    po["id"].as_str().unwrap()
                ),
                body,
            ));
        }
    }
    let results = futures_util::future::join_all(
        receipts
            .iter()
            .map(|(_, path, body)| app.by(&org).post(path, body.clone())),
    )
    .await;
    for ((round, _, _), r) in receipts.iter().zip(&results) {
        assert_eq!(r.status, StatusCode::OK, "round {round}: {}", r.body);
    }
    assert_totals_match(&app, "concurrent receipts").await;
    for product in &products {
        assert_eq!(carried(&app, product).await, (12, 0));
    }
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn transfers_both_ways_and_sales_of_one_product_at_once_all_go_through(pool: PgPool) {
    let app = app_with(pool, &[("DB_MAX_CONNECTIONS", "8")]);
    let org = app.register("ann@example.com").await;
    let main: String = sqlx::query_scalar::<_, uuid::Uuid>(
        "SELECT id FROM locations WHERE org_id = $1::uuid AND is_default",
    )
    .bind(&org.org_id)
    .fetch_one(&app.pool)
    .await
    .unwrap()
    .to_string();
    let back = second_location(&app, &org, "Back room").await;
    let bolt = product(&app, &org, "BOLT", 0).await;
    for location in [&main, &back] {
        post(
            &app,
            &org,
            "/api/inventory/movements",
            json!({"kind": "receive",
            "product_id": bolt, "quantity": 100, "location_id": location,
            "reason": "opening stock"}),
        )
        .await;
    }
    // Each kind of request locks the product's stock at one location or at two, in either
    // order; none may fail as a deadlock (503).
    let mut bodies = Vec::new();
    for _ in 0..6 {
        for (from, to) in [(&main, &back), (&back, &main)] {
            bodies.push(
                json!({"kind": "transfer", "product_id": bolt, "quantity": 1,
                "location_id": from, "to_location_id": to, "reason": "restock"}),
            );
            bodies.push(json!({"kind": "sell", "product_id": bolt, "quantity": 1,
                "location_id": from, "reason": "till"}));
        }
    }
    let results = futures_util::future::join_all(
        bodies
            .iter()
            .map(|body| app.by(&org).post("/api/inventory/movements", body.clone())),
    )
    .await;
    for (body, r) in bodies.iter().zip(&results) {
        assert_eq!(r.status, StatusCode::CREATED, "{body}: {}", r.body);
    }
    assert_totals_match(&app, "transfers and sales at once").await;
    assert_eq!(carried(&app, &bolt).await, (200 - 12, 0));
}
