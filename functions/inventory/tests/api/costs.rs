//! What the stock is worth: receipts record their unit cost, each product keeps a moving-average
//! cost in its currency, and units going out (sales, write-offs) are valued at it.
//!
//! Routes: `POST /api/inventory/movements`, `GET /api/inventory/movements`,
//! `POST /api/purchase-orders/{id}/receive`.

use crate::support::*;
use http::StatusCode;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use shared::testing::{Registered, TestApp, assert_problem};
use sqlx::PgPool;

fn dec(v: &Value) -> Decimal {
    v.as_str()
        .unwrap_or_else(|| panic!("a decimal string: {v}"))
        .parse()
        .unwrap()
}

fn d(text: &str) -> Decimal {
    text.parse().unwrap()
}

async fn moved(app: &TestApp, org: &Registered, body: Value) -> Value {
    let r = app.by(org).post("/api/inventory/movements", body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.body
}

async fn average(app: &TestApp, product: &str) -> Option<Decimal> {
    sqlx::query_scalar("SELECT average_cost FROM products WHERE id = $1::uuid")
        .bind(product)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

/// A product priced in EUR with a standard cost of 2.00.
async fn costed(app: &TestApp, org: &Registered, sku: &str) -> String {
    let id = product(app, org, sku, 0).await;
    sqlx::query("UPDATE products SET cost = 2.00 WHERE id = $1::uuid")
        .bind(&id)
        .execute(&app.pool)
        .await
        .unwrap();
    id
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn receipts_move_the_average_and_what_goes_out_is_valued_at_it(pool: PgPool) {
    let app = app(pool);
    let org = app.register("ann@example.com").await;
    let bolt = costed(&app, &org, "BOLT").await;
    let receive = |quantity: i32, cost: Option<&str>| {
        let mut body = json!({"kind": "receive", "product_id": bolt, "quantity": quantity,
                              "reason": "delivery"});
        if let Some(cost) = cost {
            body["unit_cost"] = json!(cost);
        }
        body
    };

    // Nothing on hand: the first costed receipt's cost is the average.
    let first = moved(&app, &org, receive(10, Some("3.00"))).await;
    assert_eq!(dec(&first["unit_cost"]), d("3"));
    assert_eq!(first["cost_currency"], "EUR");
    assert_eq!(first["value"], "30.00");
    assert_eq!(dec(&first["average_cost"]), d("3"));
    // (10 × 3 + 10 × 5) / 20.
    let second = moved(&app, &org, receive(10, Some("5.00"))).await;
    assert_eq!(dec(&second["average_cost"]), d("4"));
    assert_eq!(average(&app, &bolt).await, Some(d("4")));

    // A sale and a write-off are valued at the average, and leave it as it is.
    let sold = moved(
        &app,
        &org,
        json!({"kind": "sell", "product_id": bolt, "quantity": 5, "reason": "till"}),
    )
    .await;
    assert_eq!(
        (dec(&sold["unit_cost"]), &sold["value"]),
        (d("4"), &json!("20.00"))
    );
    let written_off = moved(
        &app,
        &org,
        json!({"kind": "adjust", "product_id": bolt, "quantity": -2, "reason": "broken"}),
    )
    .await;
    assert_eq!(written_off["value"], "8.00", "{written_off}");
    assert_eq!(dec(&written_off["average_cost"]), d("4"));
    // Units received without a cost enter at the average.
    let uncosted = moved(&app, &org, receive(5, None)).await;
    assert_eq!(dec(&uncosted["unit_cost"]), d("4"));
    assert_eq!(average(&app, &bolt).await, Some(d("4")));
    // An adjustment in with a cost moves it: (18 × 4 + 3 × 1) / 21, to six decimals.
    let found = moved(
        &app,
        &org,
        json!({"kind": "adjust", "product_id": bolt, "quantity": 3, "unit_cost": "1.00",
               "reason": "found in the back"}),
    )
    .await;
    assert_eq!(dec(&found["average_cost"]), d("3.571429"));

    // The ledger shows what every row was worth.
    let ledger = app
        .by(&org)
        .get(&format!("/api/inventory/movements?product_id={bolt}"))
        .await;
    let costs: Vec<(i64, Decimal)> = ledger.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["quantity"].as_i64().unwrap(), dec(&m["unit_cost"])))
        .collect();
    assert_eq!(
        costs,
        [
            (3, d("1")),
            (5, d("4")),
            (-2, d("4")),
            (-5, d("4")),
            (10, d("5")),
            (10, d("3"))
        ]
    );
    assert!(
        ledger.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["cost_currency"] == "EUR")
    );
    // Every change of the average is kept, for the value at a past date.
    let history: Vec<(i64, i32, Decimal)> = sqlx::query_as(
        "SELECT on_hand_before, quantity, average_cost FROM product_costs
         WHERE product_id = $1::uuid ORDER BY id",
    )
    .bind(&bolt)
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        history,
        [(0, 10, d("3")), (10, 10, d("4")), (18, 3, d("3.571429"))]
    );
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_cost_is_refused_on_units_going_out_and_nothing_is_written(pool: PgPool) {
    let app = app(pool);
    let org = app.register("ann@example.com").await;
    let bolt = costed(&app, &org, "BOLT").await;
    receive(&app, &org, &bolt, 10).await;
    for body in [
        json!({"kind": "sell", "product_id": bolt, "quantity": 1, "unit_cost": "1.00", "reason": "x"}),
        json!({"kind": "adjust", "product_id": bolt, "quantity": -1, "unit_cost": "1.00", "reason": "x"}),
        json!({"kind": "transfer", "product_id": bolt, "quantity": 1, "unit_cost": "1.00", "reason": "x",
               "to_location_id": uuid::Uuid::new_v4()}),
    ] {
        let r = app.by(&org).post("/api/inventory/movements", body).await;
        assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(r.body["errors"][0]["field"], "unit_cost", "{}", r.body);
        assert_eq!(r.body["errors"][0]["code"], "not_incoming");
    }
    for cost in [json!("-1.00"), json!("1.005"), json!(1.5)] {
        let r = app
            .by(&org)
            .post(
                "/api/inventory/movements",
                json!({"kind": "receive", "product_id": bolt, "quantity": 1, "unit_cost": cost,
                       "reason": "x"}),
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{cost}: {}",
            r.body
        );
    }
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM stock_movements")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(rows, 1, "only the opening receipt");
    assert_eq!(average(&app, &bolt).await, None);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_purchase_order_costs_its_receipts_in_the_products_currency_only(pool: PgPool) {
    let app = app(pool);
    let org = app.register("ann@example.com").await;
    let supplier = supplier(&app, &org).await;
    let bolt = costed(&app, &org, "BOLT").await;
    let receive_order = |currency: &'static str, cost: &'static str| {
        let (app, org, supplier, bolt) = (&app, &org, &supplier, &bolt);
        async move {
            let po = app
                .by(org)
                .post(
                    "/api/purchase-orders",
                    json!({"supplier_id": supplier, "currency": currency,
                           "lines": [{"product_id": bolt, "quantity": 4, "unit_cost": cost}]}),
                )
                .await
                .body;
            let id = po["id"].as_str().unwrap().to_owned();
            let line = po["lines"][0]["id"].as_str().unwrap().to_owned();
            let path = format!("/api/purchase-orders/{id}/submit");
            app.by(org).post(&path, json!({})).await;
            let r = app
                .by(org)
                .post(
                    &format!("/api/purchase-orders/{id}/receive"),
                    json!({"lines": [{"line_id": line, "quantity": 4}]}),
                )
                .await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        }
    };
    receive_order("EUR", "2.50").await;
    assert_eq!(average(&app, &bolt).await, Some(d("2.5")));
    // In USD: the row keeps what it cost, in USD; the EUR average does not move (no rate).
    receive_order("USD", "9.00").await;
    assert_eq!(average(&app, &bolt).await, Some(d("2.5")));
    let rows: Vec<(Decimal, String)> = sqlx::query_as(
        "SELECT unit_cost, cost_currency::text FROM stock_movements WHERE product_id = $1::uuid ORDER BY id",
    )
    .bind(&bolt)
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        rows,
        [(d("2.5"), "EUR".to_owned()), (d("9"), "USD".to_owned())]
    );

    // A product moved to another currency starts again from its standard cost.
    sqlx::query("UPDATE products SET currency = 'USD', cost = 8.00 WHERE id = $1::uuid")
        .bind(&bolt)
        .execute(&app.pool)
        .await
        .unwrap();
    assert_eq!(average(&app, &bolt).await, None);
    let sold = moved(
        &app,
        &org,
        json!({"kind": "sell", "product_id": bolt, "quantity": 1, "reason": "till"}),
    )
    .await;
    assert_eq!(
        (dec(&sold["unit_cost"]), &sold["cost_currency"]),
        (d("8"), &json!("USD"))
    );
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn concurrent_receipts_at_two_locations_each_count_in_the_average(pool: PgPool) {
    let app = app(pool);
    let org = app.register("ann@example.com").await;
    let bolt = costed(&app, &org, "BOLT").await;
    let back: uuid::Uuid = sqlx::query_scalar(
        "INSERT INTO locations (org_id, name) VALUES ($1::uuid, 'Back room') RETURNING id",
    )
    .bind(&org.org_id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    // 24 receipts of 1 to 4 units at 1 to 6 EUR, half of them at each location, at once.
    let receipts: Vec<(i32, i64)> = (0..24).map(|i| (1 + i % 4, 1 + i64::from(i % 6))).collect();
    let requests = receipts.iter().enumerate().map(|(i, &(quantity, cost))| {
        let mut body = json!({"kind": "receive", "product_id": bolt, "quantity": quantity,
                              "unit_cost": format!("{cost}.00"), "reason": "delivery"});
        if i % 2 == 1 {
            body["location_id"] = json!(back);
        }
        let (app, org) = (&app, &org);
        async move {
            app.by(org)
                .post("/api/inventory/movements", body)
                .await
                .status
        }
    });
    let statuses = futures_util::future::join_all(requests).await;
    assert!(
        statuses.iter().all(|s| *s == StatusCode::CREATED),
        "{statuses:?}"
    );
    // Receipts alone: whatever their order, the moving average is their weighted mean (to the
    // rounding of each step). A receipt that started from a stale average or quantity would
    // have left its own cost out.
    let units: i64 = receipts.iter().map(|&(q, _)| i64::from(q)).sum();
    let spent: i64 = receipts.iter().map(|&(q, c)| i64::from(q) * c).sum();
    let mean = Decimal::from(spent) / Decimal::from(units);
    let average = average(&app, &bolt).await.unwrap();
    assert!(
        (average - mean).abs() < d("0.0001"),
        "{average} against {mean}"
    );
    let history: i64 = sqlx::query_scalar("SELECT count(*) FROM product_costs")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(history, 24);
}
