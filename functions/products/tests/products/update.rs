//! `PATCH` and `PUT /api/products/{id}`: only what was sent changes; price changes are logged.
//!
//! Routes: `PATCH /api/products/{id}`, `PUT /api/products/{id}`,
//!  `GET /api/products/{id}/price-history`.

use super::*;

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn an_update_changes_only_what_was_sent_and_logs_price_changes(pool: PgPool) {
    let app = app(pool.clone());
    let org = app.register("ann@example.com").await;
    let p = app.by(&org).post("/api/products", json!({"sku": "U-1", "name": "Widget", "price": "10.00", "currency": "EUR", "description": "Blue"})).await.assert(201);
    let path = format!("/api/products/{}", p["id"].as_str().unwrap());
    let renamed = app
        .by(&org.token)
        .patch(&path, json!({"name": "Widget XL"}))
        .await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.body);
    assert_eq!(renamed.body["description"], "Blue");
    assert_eq!(renamed.body["price"], "10.00");
    let repriced = app
        .by(&org.token)
        .patch(&path, json!({"price": "11.50", "description": null}))
        .await;
    assert_eq!(repriced.body["price"], "11.50");
    assert!(repriced.body["description"].is_null());
    let history = app
        .by(&org.token)
        .get(&format!("{path}/price-history"))
        .await;
    let prices: Vec<&str> = history.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["price"].as_str().unwrap())
        .collect();
    assert_eq!(
        prices,
        ["11.50", "10.00"],
        "newest first; the rename added nothing"
    );
    let bad = app
        .by(&org.token)
        .patch(&path, json!({"price": "-5"}))
        .await;
    assert_problem(&bad, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let actions: Vec<String> =
        sqlx::query_scalar("SELECT action FROM audit_log WHERE entity = 'product' ORDER BY id")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(
        actions,
        ["product_created", "product_updated", "product_updated"]
    );
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn put_updates_like_patch(pool: PgPool) {
    // The inventory app updates with PUT: the fields sent change, the others stay.
    let app = app(pool);
    let org = app.register("ann@example.com").await;
    let p = app.by(&org).post("/api/products", json!({"sku": "P-1", "name": "Widget", "price": "10.00", "currency": "EUR", "description": "Blue"})).await.assert(201);
    let path = format!("/api/products/{}", p["id"].as_str().unwrap());
    let put = app
        .by(&org.token)
        .put(&path, json!({"price": "12.00"}))
        .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.body);
    assert_eq!(put.body["price"], "12.00");
    assert_eq!(put.body["description"], "Blue");
    assert_eq!(put.body["name"], "Widget");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn null_on_a_field_that_cannot_be_cleared_is_refused(pool: PgPool) {
    let app = app(pool);
    let org = app.register("ann@example.com").await;
    let p = app
        .by(&org)
        .post("/api/products", product("N-1", "10.00"))
        .await
        .assert(201);
    let path = format!("/api/products/{}", p["id"].as_str().unwrap());
    for field in [
        "name",
        "price",
        "sku",
        "currency",
        "unit",
        "is_active",
        "reorder_point",
    ] {
        let r = app
            .by(&org.token)
            .patch(&path, json!({ field: null }))
            .await;
        assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(r.body["errors"][0]["field"], field, "{}", r.body);
    }
    let r = app.by(&org.token).get(&path).await;
    assert_eq!(
        (&r.body["name"], &r.body["price"]),
        (&json!("Product N-1"), &json!("10.00"))
    );
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn changing_to_a_taken_sku_is_409_naming_the_sku_field(pool: PgPool) {
    let app = app(pool);
    let org = app.register("ann@example.com").await;
    app.by(&org)
        .post("/api/products", product("TAKEN", "1.00"))
        .await
        .assert(201);
    let p = app
        .by(&org)
        .post("/api/products", product("FREE", "1.00"))
        .await
        .assert(201);
    let path = format!("/api/products/{}", p["id"].as_str().unwrap());
    let r = app
        .by(&org.token)
        .patch(&path, json!({"sku": "taken"}))
        .await;
    assert_problem(&r, StatusCode::CONFLICT, "sku_taken");
    let errors = r.body["errors"].as_array().expect("errors[]");
    assert_eq!(errors.len(), 1, "{}", r.body);
    assert_eq!(
        (&errors[0]["field"], &errors[0]["code"]),
        (&json!("sku"), &json!("sku_taken"))
    );
    assert!(errors[0]["message"].is_string());
    let unchanged = app.by(&org.token).get(&path).await;
    assert_eq!(unchanged.body["sku"], "FREE");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn tracking_shelf_life_and_count_interval_are_set_and_tracking_waits_for_no_stock(
    pool: PgPool,
) {
    let app = app(pool.clone());
    let org = app.register("ann@example.com").await;
    let milk = app
        .by(&org)
        .post(
            "/api/products",
            json!({"sku": "MILK", "name": "Milk", "price": "1.20", "tracking": "lot",
                   "shelf_life_days": 10, "count_interval_days": 7}),
        )
        .await
        .assert(201);
    assert_eq!(milk["tracking"], "lot");
    assert_eq!(milk["shelf_life_days"], 10);
    assert_eq!(milk["count_interval_days"], 7);
    assert!(milk["last_counted_at"].is_null());
    let path = format!("/api/products/{}", milk["id"].as_str().unwrap());
    let r = app
        .by(&org)
        .patch(
            &path,
            json!({"count_interval_days": null, "shelf_life_days": 14}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(
        r.body["count_interval_days"].is_null(),
        "the organization's"
    );
    assert_eq!(r.body["shelf_life_days"], 14);
    for (body, field) in [
        (json!({"tracking": "batch"}), "tracking"),
        (json!({"tracking": null}), "tracking"),
        (json!({"shelf_life_days": 0}), "shelf_life_days"),
        (json!({"count_interval_days": 4000}), "count_interval_days"),
    ] {
        let r = app.by(&org).patch(&path, body.clone()).await;
        assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(r.body["errors"][0]["field"], field, "{body}: {}", r.body);
    }

    // With units on hand, how they are tracked stays as it is.
    sqlx::query(
        "INSERT INTO stock_levels (org_id, product_id, location_id, on_hand)
         SELECT org_id, $1::uuid, id, 3 FROM locations WHERE org_id = $2::uuid",
    )
    .bind(milk["id"].as_str().unwrap())
    .bind(&org.org_id)
    .execute(&pool)
    .await
    .unwrap();
    let r = app.by(&org).patch(&path, json!({"tracking": "none"})).await;
    assert_problem(&r, StatusCode::CONFLICT, "tracking_has_stock");
    assert_eq!(r.body["errors"][0]["field"], "tracking");
    let r = app.by(&org).get(&path).await;
    assert_eq!(r.body["tracking"], "lot");
}
