//! Stock per product and location, its ledger of movements, locations and low stock.
//!
//! Routes: `GET /api/inventory/locations`, `POST /api/inventory/locations`,
//!  `GET /api/inventory/low-stock`, `GET /api/inventory/movements`,
//!  `POST /api/inventory/movements`, `GET /api/inventory/stock`.

use crate::support::*;
use http::StatusCode;
use serde_json::json;
use shared::testing::assert_problem;
use sqlx::PgPool;

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn every_organization_has_a_default_location(pool: PgPool) {
    let app = app(pool);
    let org = app.register("ann@example.com").await;
    let locations = app.by(&org.token).get("/api/inventory/locations").await;
    assert_eq!(locations.body["items"][0]["name"], "Main");
    assert_eq!(locations.body["items"][0]["is_default"], true);
    assert_eq!(
        locations.body["next_cursor"],
        serde_json::Value::Null,
        "one list shape"
    );
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn movements_change_stock_and_are_recorded_in_the_ledger(pool: PgPool) {
    let app = app(pool);
    let org = app.register("ann@example.com").await;
    let bolt = product(&app, &org, "BOLT", 0).await;
    receive(&app, &org, &bolt, 10).await;
    let sold = app
        .by(&org)
        .post(
            "/api/inventory/movements",
            json!({"kind": "sell", "product_id": bolt, "quantity": 3, "reason": "till"}),
        )
        .await;
    assert_eq!(sold.status, StatusCode::CREATED, "{}", sold.body);
    assert_eq!(sold.body["available"], 7);
    let adjusted = app
        .by(&org)
        .post(
            "/api/inventory/movements",
            json!({"kind": "adjust", "product_id": bolt, "quantity": -2, "reason": "damaged"}),
        )
        .await;
    assert_eq!(adjusted.body["available"], 5);
    assert_eq!(on_hand_and_reserved(&app, &bolt).await, (5, 0));
    let ledger = app
        .by(&org.token)
        .get(&format!("/api/inventory/movements?product_id={bolt}"))
        .await;
    let kinds: Vec<(&str, i64)> = ledger.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["kind"].as_str().unwrap(), m["quantity"].as_i64().unwrap()))
        .collect();
    assert_eq!(kinds, [("adjust", -2), ("sell", -3), ("receive", 10)]);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn selling_more_than_available_is_409_with_the_available_quantity(pool: PgPool) {
    let app = app(pool);
    let org = app.register("ann@example.com").await;
    let bolt = product(&app, &org, "BOLT", 0).await;
    receive(&app, &org, &bolt, 4).await;
    let r = app
        .by(&org)
        .post(
            "/api/inventory/movements",
            json!({"kind": "sell", "product_id": bolt, "quantity": 5, "reason": "till"}),
        )
        .await;
    assert_problem(&r, StatusCode::CONFLICT, "insufficient_stock");
    assert_eq!(r.body["available"], 4);
    assert_eq!(on_hand_and_reserved(&app, &bolt).await, (4, 0));
    let below_zero = app
        .by(&org)
        .post(
            "/api/inventory/movements",
            json!({"kind": "adjust", "product_id": bolt, "quantity": -5, "reason": "count"}),
        )
        .await;
    assert_problem(&below_zero, StatusCode::CONFLICT, "insufficient_stock");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn zero_or_negative_quantities_are_422(pool: PgPool) {
    let app = app(pool);
    let org = app.register("ann@example.com").await;
    let bolt = product(&app, &org, "BOLT", 0).await;
    for body in [
        json!({"kind": "receive", "product_id": bolt, "quantity": 0, "reason": "x"}),
        json!({"kind": "sell", "product_id": bolt, "quantity": -1, "reason": "x"}),
        json!({"kind": "adjust", "product_id": bolt, "quantity": 0, "reason": "x"}),
        // The old name of the signed change is gone: one name, `quantity`, as in the ledger.
        json!({"kind": "adjust", "product_id": bolt, "delta": -1, "reason": "x"}),
    ] {
        assert_problem(
            &app.by(&org).post("/api/inventory/movements", body).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        );
    }
    let reservation = app
        .by(&org)
        .post(
            "/api/inventory/reservations",
            json!({"product_id": bolt, "quantity": 0, "expires_in_seconds": 60}),
        )
        .await;
    assert_problem(
        &reservation,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_transfer_moves_stock_between_locations(pool: PgPool) {
    let app = app(pool);
    let org = app.register("ann@example.com").await;
    let bolt = product(&app, &org, "BOLT", 0).await;
    receive(&app, &org, &bolt, 10).await;
    let back = app
        .by(&org)
        .post("/api/inventory/locations", json!({"name": "Back room"}))
        .await;
    let back_id = back.body["id"].as_str().unwrap();
    let r = app.by(&org).post("/api/inventory/movements", json!({"kind": "transfer", "product_id": bolt, "quantity": 4, "reason": "restock", "to_location_id": back_id})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    // The ledger filter takes the documented kind and finds both legs.
    let legs = app
        .by(&org.token)
        .get("/api/inventory/movements?kind=transfer")
        .await;
    let kinds: Vec<&str> = legs.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["transfer_in", "transfer_out"], "{}", legs.body);
    let stock = app
        .by(&org.token)
        .get(&format!("/api/inventory/stock?product_id={bolt}"))
        .await;
    // A product seen from a stock row is named as on purchase-order lines.
    assert_eq!(
        stock.body["items"][0]["product_sku"], "BOLT",
        "{}",
        stock.body
    );
    assert!(stock.body["items"][0]["product_name"].is_string());
    assert!(stock.body["items"][0].get("sku").is_none());
    let mut levels: Vec<(String, i64)> = stock.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["location_name"].as_str().unwrap().to_owned(),
                s["on_hand"].as_i64().unwrap(),
            )
        })
        .collect();
    levels.sort();
    assert_eq!(
        levels,
        [("Back room".to_owned(), 4), ("Main".to_owned(), 6)]
    );
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn low_stock_lists_products_below_their_reorder_point(pool: PgPool) {
    let app = app(pool);
    let org = app.register("ann@example.com").await;
    let low = product(&app, &org, "LOW", 10).await;
    let fine = product(&app, &org, "FINE", 2).await;
    product(&app, &org, "NONE", 5).await; // no stock at all: 0 available
    receive(&app, &org, &low, 3).await;
    receive(&app, &org, &fine, 5).await;
    let r = app.by(&org.token).get("/api/inventory/low-stock").await;
    let skus: Vec<&str> = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["sku"].as_str().unwrap())
        .collect();
    assert_eq!(skus, ["LOW", "NONE"]);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn another_organizations_product_cannot_be_moved(pool: PgPool) {
    let app = app(pool);
    let a = app.register("a@example.com").await;
    let b = app.register("b@example.com").await;
    let theirs = product(&app, &b, "B", 0).await;
    let r = app
        .by(&a)
        .post(
            "/api/inventory/movements",
            json!({"kind": "receive", "product_id": theirs, "quantity": 5, "reason": "x"}),
        )
        .await;
    assert_problem(&r, StatusCode::NOT_FOUND, "unknown_product");
    assert_eq!(on_hand_and_reserved(&app, &theirs).await, (0, 0));
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_deleted_product_receives_and_holds_nothing(pool: PgPool) {
    let app = app(pool.clone());
    let org = app.register("ann@example.com").await;
    let bolt = product(&app, &org, "BOLT", 0).await;
    receive(&app, &org, &bolt, 3).await;
    sqlx::query("UPDATE products SET is_active = false WHERE id = $1::uuid")
        .bind(&bolt)
        .execute(&pool)
        .await
        .unwrap();
    let received = app
        .by(&org)
        .post(
            "/api/inventory/movements",
            json!({"kind": "receive", "product_id": bolt, "quantity": 5, "reason": "delivery"}),
        )
        .await;
    assert_problem(&received, StatusCode::CONFLICT, "product_inactive");
    let held = app
        .by(&org)
        .post(
            "/api/inventory/reservations",
            json!({"product_id": bolt, "quantity": 1, "expires_in_seconds": 600}),
        )
        .await;
    assert_problem(&held, StatusCode::CONFLICT, "product_inactive");
    assert_eq!(on_hand_and_reserved(&app, &bolt).await, (3, 0));
    // What is left can still leave the shelf.
    let sold = app
        .by(&org)
        .post(
            "/api/inventory/movements",
            json!({"kind": "sell", "product_id": bolt, "quantity": 3, "reason": "clearance"}),
        )
        .await;
    assert_eq!(sold.status, StatusCode::CREATED, "{}", sold.body);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_taken_location_name_is_409_naming_the_name_field(pool: PgPool) {
    let app = app(pool);
    let org = app.register("ann@example.com").await;
    let back = app
        .by(&org)
        .post("/api/inventory/locations", json!({"name": "Back room"}))
        .await;
    assert_eq!(back.status, StatusCode::CREATED, "{}", back.body);
    // Names are compared without case; the default location's name is taken too.
    for name in ["back ROOM", "Main"] {
        let r = app
            .by(&org)
            .post("/api/inventory/locations", json!({ "name": name }))
            .await;
        assert_problem(&r, StatusCode::CONFLICT, "location_exists");
        let errors = r.body["errors"].as_array().expect("errors[]");
        assert_eq!(errors.len(), 1, "{}", r.body);
        assert_eq!(
            (&errors[0]["field"], &errors[0]["code"]),
            (&json!("name"), &json!("location_exists")),
            "{}",
            r.body
        );
        assert!(errors[0]["message"].is_string());
    }
}
