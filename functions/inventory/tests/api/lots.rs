//! Lots, serial numbers and expiry: receipts into lots, first-expiry-first-out sales,
//! reservations and transfers, expired stock kept from sale, the expiring list and the trace
//! of a lot for a recall.
//!
//! Routes: `GET /api/lots`, `GET /api/lots/{id}`, `GET /api/lots/{id}/trace`,
//!  `GET /api/stock/expiring`.

use crate::support::*;
use http::StatusCode;
use serde_json::{Value, json};
use shared::testing::{Registered, TestApp, TestResponse, assert_problem};
use sqlx::PgPool;

async fn tracked(app: &TestApp, org: &Registered, sku: &str, tracking: &str) -> String {
    let id = product(app, org, sku, 0).await;
    sqlx::query("UPDATE products SET tracking = $2::product_tracking WHERE id = $1::uuid")
        .bind(&id)
        .bind(tracking)
        .execute(&app.pool)
        .await
        .unwrap();
    id
}

async fn movement(app: &TestApp, org: &Registered, body: Value) -> TestResponse {
    let mut body = body;
    body["reason"] = json!("test");
    app.by(org).post("/api/inventory/movements", body).await
}

async fn receive_lot(
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
async fn expire(app: &TestApp, product: &str, number: &str) {
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
async fn lot_levels(app: &TestApp, product: &str) -> Vec<(String, i32, i32)> {
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

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_sale_takes_the_first_expiry_first_and_the_trace_follows_it(pool: PgPool) {
    let app = app(pool);
    let org = app.register("ann@example.com").await;
    let milk = tracked(&app, &org, "MILK", "lot").await;
    let late = receive_lot(&app, &org, &milk, 10, "L-LATE", 30).await;
    assert_eq!(late["lots"][0]["lot_number"], "L-LATE");
    receive_lot(&app, &org, &milk, 10, "L-SOON", 10).await;
    // More of a lot already there adds to it (its expiry may be left out).
    let r = movement(
        &app,
        &org,
        json!({"kind": "receive", "product_id": milk, "quantity": 2, "lot_number": "L-SOON"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);

    let sold = movement(
        &app,
        &org,
        json!({"kind": "sell", "product_id": milk, "quantity": 15}),
    )
    .await;
    assert_eq!(sold.status, StatusCode::CREATED, "{}", sold.body);
    let sold = sold.body;
    let taken: Vec<(String, i64)> = sold["lots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["lot_number"].as_str().unwrap().to_owned(),
                p["quantity"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        taken,
        [("L-SOON".to_owned(), 12), ("L-LATE".to_owned(), 3)],
        "the soonest expiry first"
    );
    assert_eq!(sold["movement_ids"].as_array().unwrap().len(), 2);
    assert_eq!(sold["available"], 7);
    // A named lot is taken from, and only from it.
    let r = movement(
        &app,
        &org,
        json!({"kind": "sell", "product_id": milk, "quantity": 8, "lot_number": "L-LATE"}),
    )
    .await;
    assert_problem(&r, StatusCode::CONFLICT, "insufficient_stock");
    assert_eq!(r.body["available"], 7);
    assert_eq!(lot_levels(&app, &milk).await, [("L-LATE".to_owned(), 7, 0)]);
    assert_lots_match(&app).await;

    let lots = app
        .by(&org)
        .get(&format!("/api/lots?product_id={milk}&number=L-SOON"))
        .await;
    assert_eq!(lots.status, StatusCode::OK, "{}", lots.body);
    let soon = &lots.body["items"][0];
    assert_eq!(soon["on_hand"], 0);
    let id = soon["id"].as_str().unwrap();
    let trace = app.by(&org).get(&format!("/api/lots/{id}/trace")).await;
    assert_eq!(trace.status, StatusCode::OK, "{}", trace.body);
    let kinds: Vec<(&str, i64)> = trace.body["movements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["kind"].as_str().unwrap(), m["quantity"].as_i64().unwrap()))
        .collect();
    assert_eq!(kinds, [("receive", 10), ("receive", 2), ("sell", -12)]);
    assert_eq!(trace.body["locations"], json!([]), "none of it is left");
    let ledger = app
        .by(&org)
        .get(&format!("/api/inventory/movements?lot_id={id}"))
        .await;
    assert_eq!(ledger.body["items"].as_array().unwrap().len(), 3);
    let other = app.register("bob@example.com").await;
    let theirs = app.by(&other).get(&format!("/api/lots/{id}/trace")).await;
    assert_problem(&theirs, StatusCode::NOT_FOUND, "not_found");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn expired_units_are_kept_from_sale_listed_and_written_off_first(pool: PgPool) {
    let app = app(pool);
    let org = app.register("ann@example.com").await;
    let milk = tracked(&app, &org, "MILK", "lot").await;
    receive_lot(&app, &org, &milk, 5, "OLD", 5).await;
    receive_lot(&app, &org, &milk, 5, "NEW", 20).await;
    receive_lot(&app, &org, &milk, 5, "FAR", 200).await;
    expire(&app, &milk, "OLD").await;

    let r = movement(
        &app,
        &org,
        json!({"kind": "sell", "product_id": milk, "quantity": 11}),
    )
    .await;
    assert_problem(&r, StatusCode::CONFLICT, "insufficient_stock");
    assert_eq!(r.body["available"], 10, "the expired lot is not for sale");
    let r = app
        .by(&org)
        .post(
            "/api/inventory/reservations",
            json!({"product_id": milk, "quantity": 11, "expires_in_seconds": 60}),
        )
        .await;
    assert_problem(&r, StatusCode::CONFLICT, "insufficient_stock");

    let soon = app.by(&org).get("/api/stock/expiring?within_days=30").await;
    assert_eq!(soon.status, StatusCode::OK, "{}", soon.body);
    let listed: Vec<(&str, bool)> = soon.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["lot_number"].as_str().unwrap(),
                i["expired"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(listed, [("OLD", true), ("NEW", false)]);
    assert_eq!(soon.body["items"][0]["days_left"], -1);
    let bad = app.by(&org).get("/api/stock/expiring?within_days=-1").await;
    assert_problem(&bad, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");

    // A write-off takes the expired units first.
    let r = movement(
        &app,
        &org,
        json!({"kind": "adjust", "product_id": milk, "quantity": -5}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["lots"][0]["lot_number"], "OLD");

    // An organization that sells expired units sells them first.
    expire(&app, &milk, "NEW").await;
    sqlx::query("UPDATE organizations SET sell_expired = true WHERE id = $1::uuid")
        .bind(&org.org_id)
        .execute(&app.pool)
        .await
        .unwrap();
    let r = movement(
        &app,
        &org,
        json!({"kind": "sell", "product_id": milk, "quantity": 6}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["lots"][0]["lot_number"], "NEW");
    assert_eq!(lot_levels(&app, &milk).await, [("FAR".to_owned(), 4, 0)]);
    assert_lots_match(&app).await;
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_serial_is_one_unit_in_stock_once(pool: PgPool) {
    let app = app(pool);
    let org = app.register("ann@example.com").await;
    let drill = tracked(&app, &org, "DRILL", "serial").await;
    let r = movement(
        &app,
        &org,
        json!({"kind": "receive", "product_id": drill, "quantity": 2, "serials": ["SN1", "SN2"]}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["lots"].as_array().unwrap().len(), 2);

    let before = ledger_lines(&app).await;
    let r = movement(
        &app,
        &org,
        json!({"kind": "receive", "product_id": drill, "quantity": 2, "serials": ["SN3", "SN2"]}),
    )
    .await;
    assert_problem(&r, StatusCode::CONFLICT, "serial_in_stock");
    assert!(
        r.body["detail"].as_str().unwrap().contains("SN2"),
        "{}",
        r.body
    );
    let r = movement(
        &app,
        &org,
        json!({"kind": "receive", "product_id": drill, "quantity": 2, "serials": ["SN4"]}),
    )
    .await;
    assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(r.body["errors"][0]["code"], "serial_quantity");
    let r = movement(
        &app,
        &org,
        json!({"kind": "receive", "product_id": drill, "quantity": 2, "serials": ["SN5", "SN5"]}),
    )
    .await;
    assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(r.body["errors"][0]["code"], "duplicate");
    let r = movement(
        &app,
        &org,
        json!({"kind": "receive", "product_id": drill, "quantity": 1, "lot_number": "L1"}),
    )
    .await;
    assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(r.body["errors"][0]["code"], "tracked_by_serial");
    assert_eq!(ledger_lines(&app).await, before, "nothing written");

    // The serial named is the one sold; sold, it can come back.
    let r = movement(
        &app,
        &org,
        json!({"kind": "sell", "product_id": drill, "quantity": 1, "serials": ["SN2"]}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["lots"][0]["lot_number"], "SN2");
    let r = movement(
        &app,
        &org,
        json!({"kind": "receive", "product_id": drill, "quantity": 1, "serials": ["SN2"]}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "returned: {}", r.body);
    assert_eq!(
        lot_levels(&app, &drill).await,
        [("SN1".to_owned(), 1, 0), ("SN2".to_owned(), 1, 0)]
    );
    assert_lots_match(&app).await;
}

async fn ledger_lines(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM stock_movements")
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn lot_fields_that_do_not_fit_are_refused_and_nothing_is_written(pool: PgPool) {
    let app = app(pool);
    let org = app.register("ann@example.com").await;
    let bolt = product(&app, &org, "BOLT", 0).await;
    let milk = tracked(&app, &org, "MILK", "lot").await;
    receive_lot(&app, &org, &milk, 5, "L1", 10).await;
    let before = ledger_lines(&app).await;
    let yesterday = (chrono::Utc::now().date_naive() - chrono::Days::new(1)).to_string();
    let cases = [
        (
            json!({"kind": "receive", "product_id": bolt, "quantity": 1, "lot_number": "L1"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "not_tracked",
        ),
        (
            json!({"kind": "receive", "product_id": milk, "quantity": 1}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "lot_required",
        ),
        (
            json!({"kind": "receive", "product_id": milk, "quantity": 1, "lot_number": "L2",
                   "expires_on": yesterday}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "expired_at_receipt",
        ),
        (
            json!({"kind": "receive", "product_id": milk, "quantity": 1, "lot_number": "L1",
                   "expires_on": "2099-01-01"}),
            StatusCode::CONFLICT,
            "lot_expiry_mismatch",
        ),
        (
            json!({"kind": "receive", "product_id": milk, "quantity": 1, "serials": ["S1"]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "tracked_by_lot",
        ),
        (
            json!({"kind": "sell", "product_id": milk, "quantity": 1, "expires_on": "2099-01-01"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "not_incoming",
        ),
        (
            json!({"kind": "sell", "product_id": milk, "quantity": 1, "lot_number": "NOPE"}),
            StatusCode::CONFLICT,
            "insufficient_stock",
        ),
        (
            json!({"kind": "receive", "product_id": milk, "quantity": 1, "lot_number": " "}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "required",
        ),
    ];
    for (body, status, code) in cases {
        let r = movement(&app, &org, body.clone()).await;
        let (got, answer) = (r.status, r.body);
        assert_eq!(got, status, "{body} -> {answer}");
        let found = answer["code"] == code
            || answer["errors"]
                .as_array()
                .is_some_and(|e| e.iter().any(|e| e["code"] == code));
        assert!(found, "{body}: expected {code}, got {answer}");
    }
    assert_eq!(ledger_lines(&app).await, before, "nothing written");
    assert_eq!(lot_levels(&app, &milk).await, [("L1".to_owned(), 5, 0)]);
}

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
