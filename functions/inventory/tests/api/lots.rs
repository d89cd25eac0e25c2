//! Lots, serial numbers and expiry: receipts into lots, first-expiry-first-out sales,
//! expired stock kept from sale, the expiring list, serials and refused lot fields.
//!
//! Routes: `GET /api/lots`, `GET /api/lots/{id}/trace`, `GET /api/stock/expiring`.

use crate::support::lots::*;
use crate::support::*;
use http::StatusCode;
use serde_json::json;
use shared::testing::assert_problem;
use sqlx::PgPool;

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
