//! An id filter takes several ids, as a generated client sends an array (`product_id=a&product_id=b`)
//! or as one list (`product_id=a,b`); a value that is not a UUID is a 422 naming the parameter.
//!
//! Routes: `GET /api/inventory/stock`, `GET /api/inventory/movements`,
//!  `GET /api/inventory/reservations`, `GET /api/purchase-orders`.

use crate::support::*;
use http::StatusCode;
use serde_json::json;
use shared::testing::{Registered, TestApp, TestResponse, assert_problem};
use sqlx::PgPool;

/// Three products (`A`, `B`, `C`), each with 5 received and 1 reserved; their ids.
async fn three_products(app: &TestApp, org: &Registered) -> [String; 3] {
    let mut ids = Vec::new();
    for sku in ["A", "B", "C"] {
        let id = product(app, org, sku, 0).await;
        receive(app, org, &id, 5).await;
        let held = app
            .by(org)
            .post(
                "/api/inventory/reservations",
                json!({"product_id": id, "quantity": 1, "expires_in_seconds": 600}),
            )
            .await;
        assert_eq!(held.status, StatusCode::CREATED, "{}", held.body);
        ids.push(id);
    }
    ids.try_into().unwrap()
}

/// `member` of every item, sorted, without repeats.
fn values(r: &TestResponse, member: &str) -> Vec<String> {
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let mut seen: Vec<String> = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item[member].as_str().unwrap().to_owned())
        .collect();
    seen.sort();
    seen.dedup();
    seen
}

/// The two ways of sending `name=a` and `name=b`.
fn both_spellings(path: &str, name: &str, a: &str, b: &str) -> [String; 2] {
    [
        format!("{path}?{name}={a}&{name}={b}"),
        format!("{path}?{name}={a},{b}"),
    ]
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn stock_takes_several_products(pool: PgPool) {
    let app = app(pool);
    let org = app.register("ann@example.com").await;
    let [a, b, _] = three_products(&app, &org).await;
    for path in both_spellings("/api/inventory/stock", "product_id", &a, &b) {
        let r = app.by(&org.token).get(&path).await;
        assert_eq!(values(&r, "product_sku"), ["A", "B"], "{path}");
    }
    let one = app
        .by(&org.token)
        .get(&format!("/api/inventory/stock?product_id={b}"))
        .await;
    assert_eq!(values(&one, "product_sku"), ["B"]);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn stock_takes_several_locations(pool: PgPool) {
    let app = app(pool);
    let org = app.register("ann@example.com").await;
    let [a, _, _] = three_products(&app, &org).await;
    let mut locations = Vec::new();
    for name in ["Back room", "Van"] {
        let r = app
            .by(&org)
            .post("/api/inventory/locations", json!({ "name": name }))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        let id = r.body["id"].as_str().unwrap().to_owned();
        let moved = app.by(&org).post("/api/inventory/movements", json!({"kind": "transfer", "product_id": a, "quantity": 1, "reason": "restock", "to_location_id": id})).await;
        assert_eq!(moved.status, StatusCode::CREATED, "{}", moved.body);
        locations.push(id);
    }
    let (back, van) = (&locations[0], &locations[1]);
    for path in both_spellings("/api/inventory/stock", "location_id", back, van) {
        let r = app.by(&org.token).get(&path).await;
        assert_eq!(values(&r, "location_name"), ["Back room", "Van"], "{path}");
    }
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn the_ledger_and_reservations_take_several_products(pool: PgPool) {
    let app = app(pool);
    let org = app.register("ann@example.com").await;
    let [a, b, _] = three_products(&app, &org).await;
    let mut expected = vec![a.clone(), b.clone()];
    expected.sort();
    for route in ["/api/inventory/movements", "/api/inventory/reservations"] {
        for path in both_spellings(route, "product_id", &a, &b) {
            let r = app.by(&org.token).get(&path).await;
            assert_eq!(values(&r, "product_id"), expected, "{path}: {}", r.body);
        }
    }
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn purchase_orders_take_several_suppliers(pool: PgPool) {
    let app = app(pool);
    let org = app.register("ann@example.com").await;
    let mut suppliers = Vec::new();
    for name in ["Acme", "Bolts Ltd", "Cogs Inc"] {
        let id: uuid::Uuid = sqlx::query_scalar(
            "INSERT INTO suppliers (org_id, name) VALUES ($1::uuid, $2) RETURNING id",
        )
        .bind(&org.org_id)
        .bind(name)
        .fetch_one(&app.pool)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO purchase_orders (org_id, supplier_id, currency) VALUES ($1::uuid, $2, 'EUR')",
        )
        .bind(&org.org_id)
        .bind(id)
        .execute(&app.pool)
        .await
        .unwrap();
        suppliers.push(id.to_string());
    }
    let (acme, bolts) = (&suppliers[0], &suppliers[1]);
    for path in both_spellings("/api/purchase-orders", "supplier_id", acme, bolts) {
        let r = app.by(&org.token).get(&path).await;
        assert_eq!(values(&r, "supplier_name"), ["Acme", "Bolts Ltd"], "{path}");
    }
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn an_id_list_with_something_else_in_it_is_422_naming_the_parameter(pool: PgPool) {
    let app = app(pool);
    let org = app.register("ann@example.com").await;
    let [a, _, _] = three_products(&app, &org).await;
    for (route, name) in [
        ("/api/inventory/stock", "product_id"),
        ("/api/inventory/stock", "location_id"),
        ("/api/inventory/movements", "product_id"),
        ("/api/inventory/reservations", "product_id"),
        ("/api/purchase-orders", "supplier_id"),
    ] {
        let [repeated, listed] = both_spellings(route, name, &a, "BOLT");
        let r = app.by(&org.token).get(&listed).await;
        assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(r.body["errors"][0]["field"], name, "{listed}: {}", r.body);
        let message = r.body["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains("UUID"), "{listed}: {message}");
        // Repeated, with a value that is not a UUID: refused, never read as the valid id.
        let r = app.by(&org.token).get(&repeated).await;
        assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(r.body["errors"][0]["field"], name, "{repeated}: {}", r.body);
    }
}
