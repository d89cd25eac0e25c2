//! Lots through the other ways stock moves: reservations, transfers, purchase-order receipts
//! and a stocktake's apply during sales.
//!
//! Routes: `GET /api/lots/{id}`, `GET /api/lots/{id}/trace`.

use crate::support::lots::*;
use crate::support::*;
use http::StatusCode;
use serde_json::json;
use shared::testing::assert_problem;
use sqlx::PgPool;

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn reservations_hold_lots_and_transfers_move_them(pool: PgPool) {
    let app = app(pool);
    let org = app.register("ann@example.com").await;
    let milk = tracked(&app, &org, "MILK", "lot").await;
    receive_lot(&app, &org, &milk, 4, "A", 5).await;
    receive_lot(&app, &org, &milk, 10, "B", 50).await;

    let hold = |quantity: i32| {
        app.by(&org).post(
            "/api/inventory/reservations",
            json!({"product_id": milk, "quantity": quantity, "expires_in_seconds": 600}),
        )
    };
    let first = hold(6).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    assert_eq!(
        first.body["lots"],
        json!([{"lot_id": first.body["lots"][0]["lot_id"], "lot_number": "A", "quantity": 4},
               {"lot_id": first.body["lots"][1]["lot_id"], "lot_number": "B", "quantity": 2}])
    );
    assert_eq!(
        lot_levels(&app, &milk).await,
        [("A".to_owned(), 4, 4), ("B".to_owned(), 10, 2)]
    );
    // Held units are not sold; confirmed, they leave from the lots held.
    let r = movement(
        &app,
        &org,
        json!({"kind": "sell", "product_id": milk, "quantity": 1, "lot_number": "A"}),
    )
    .await;
    assert_problem(&r, StatusCode::CONFLICT, "insufficient_stock");
    let id = first.body["id"].as_str().unwrap();
    let confirmed = app
        .by(&org)
        .post(
            &format!("/api/inventory/reservations/{id}/confirm"),
            json!({}),
        )
        .await;
    assert_eq!(confirmed.status, StatusCode::OK, "{}", confirmed.body);
    assert_eq!(lot_levels(&app, &milk).await, [("B".to_owned(), 8, 0)]);

    let second = hold(3).await;
    let id = second.body["id"].as_str().unwrap();
    let cancelled = app
        .by(&org)
        .post(
            &format!("/api/inventory/reservations/{id}/cancel"),
            json!({}),
        )
        .await;
    assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.body);
    // A hold past its deadline gives its lots back with its level.
    let third = hold(2).await;
    let id = third.body["id"].as_str().unwrap();
    sqlx::query(
        "UPDATE reservations SET expires_at = now() - interval '1 second' WHERE id = $1::uuid",
    )
    .bind(id)
    .execute(&app.pool)
    .await
    .unwrap();
    let released: i64 = sqlx::query_scalar("SELECT release_expired_reservations(NULL)")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(released, 1);
    assert_eq!(lot_levels(&app, &milk).await, [("B".to_owned(), 8, 0)]);

    let shop = app
        .by(&org)
        .post("/api/inventory/locations", json!({"name": "Shop"}))
        .await;
    assert_eq!(shop.status, StatusCode::CREATED, "{}", shop.body);
    let r = movement(
        &app,
        &org,
        json!({"kind": "transfer", "product_id": milk, "quantity": 5,
               "to_location_id": shop.body["id"]}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(
        lot_levels(&app, &milk).await.len(),
        2,
        "lot B at both locations"
    );
    let lot = r.body["lots"][0]["lot_id"].as_str().unwrap();
    let trace = app.by(&org).get(&format!("/api/lots/{lot}/trace")).await;
    assert_eq!(trace.body["locations"].as_array().unwrap().len(), 2);
    assert_eq!(trace.body["reservations"].as_array().unwrap().len(), 3);
    assert_lots_match(&app).await;
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_purchase_order_receipt_names_its_lots_and_the_trace_its_supplier(pool: PgPool) {
    let app = app(pool);
    let org = app.register("ann@example.com").await;
    let milk = tracked(&app, &org, "MILK", "lot").await;
    sqlx::query("UPDATE products SET shelf_life_days = 12 WHERE id = $1::uuid")
        .bind(&milk)
        .execute(&app.pool)
        .await
        .unwrap();
    let supplier = supplier(&app, &org).await;
    let po = app
        .by(&org)
        .post(
            "/api/purchase-orders",
            json!({"supplier_id": supplier, "currency": "EUR",
                   "lines": [{"product_id": milk, "quantity": 10, "unit_cost": "1.00"}]}),
        )
        .await;
    assert_eq!(po.status, StatusCode::CREATED, "{}", po.body);
    let id = po.body["id"].as_str().unwrap();
    let line = po.body["lines"][0]["id"].as_str().unwrap();
    let submitted = app
        .by(&org)
        .post(&format!("/api/purchase-orders/{id}/submit"), json!({}))
        .await;
    assert_eq!(submitted.status, StatusCode::OK, "{}", submitted.body);
    let path = format!("/api/purchase-orders/{id}/receive");
    let missing = app
        .by(&org)
        .post(&path, json!({"lines": [{"line_id": line, "quantity": 4}]}))
        .await;
    assert_problem(
        &missing,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    assert_eq!(missing.body["errors"][0]["field"], "lines[0].lot_number");
    let received = app
        .by(&org)
        .post(
            &path,
            json!({"lines": [{"line_id": line, "quantity": 4, "lot_number": "PO-1"}]}),
        )
        .await;
    assert_eq!(received.status, StatusCode::OK, "{}", received.body);

    let lots = app
        .by(&org)
        .get(&format!("/api/lots?product_id={milk}"))
        .await;
    let lot = &lots.body["items"][0];
    let in_twelve = chrono::Utc::now().date_naive() + chrono::Days::new(12);
    assert_eq!(
        lot["expires_on"],
        in_twelve.to_string(),
        "from the shelf life"
    );
    let lot_id = lot["id"].as_str().unwrap();
    let got = app.by(&org).get(&format!("/api/lots/{lot_id}")).await;
    assert_eq!(got.body["on_hand"], 4);
    let trace = app.by(&org).get(&format!("/api/lots/{lot_id}/trace")).await;
    let receipt = &trace.body["movements"][0];
    assert_eq!(receipt["purchase_order_id"], id);
    assert_eq!(receipt["supplier_id"], supplier.as_str());
    assert_eq!(receipt["supplier_name"], "Acme");
    assert_lots_match(&app).await;
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_stocktake_applied_during_fifty_sales_keeps_lots_ledger_and_levels_in_step(pool: PgPool) {
    let app = app_with(pool, &[("DB_MAX_CONNECTIONS", "8")]);
    let org = app.register("ann@example.com").await;
    let mut products = Vec::new();
    for sku in ["A", "B", "C", "D", "E"] {
        let p = tracked(&app, &org, sku, "lot").await;
        receive_lot(&app, &org, &p, 50, &format!("{sku}-1"), 10).await;
        receive_lot(&app, &org, &p, 50, &format!("{sku}-2"), 40).await;
        products.push(p);
    }
    let take = app.by(&org).post("/api/stocktakes", json!({})).await;
    assert_eq!(take.status, StatusCode::CREATED, "{}", take.body);
    let id = take.body["id"].as_str().unwrap().to_owned();
    // Two missing of A to D; three found of E.
    for (i, p) in products.iter().enumerate() {
        let counted = if i == 4 { 103 } else { 98 };
        let r = app
            .by(&org)
            .put(
                &format!("/api/stocktakes/{id}/lines/{p}"),
                json!({"counted": counted}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }
    let sell = |p: String| {
        let app = &app;
        let org = &org;
        async move {
            app.by(org)
                .post(
                    "/api/inventory/movements",
                    json!({"kind": "sell", "product_id": p, "quantity": 1, "reason": "till"}),
                )
                .await
                .status
        }
    };
    let sales = (0..50).map(|i| sell(products[i % products.len()].clone()));
    let apply_path = format!("/api/stocktakes/{id}/apply");
    let (applied, sold) = tokio::join!(
        app.by(&org).post(&apply_path, json!({})),
        futures_util::future::join_all(sales)
    );
    assert_eq!(applied.status, StatusCode::OK, "{}", applied.body);
    assert!(sold.iter().all(|s| *s == StatusCode::CREATED), "{sold:?}");
    assert_lots_match(&app).await;
    for (i, p) in products.iter().enumerate() {
        let expected = if i == 4 { 93 } else { 88 };
        assert_eq!(on_hand_and_reserved(&app, p).await, (expected, 0));
    }
}
