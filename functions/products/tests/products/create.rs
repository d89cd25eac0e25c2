//! `POST /api/products`: what a new product needs, its first price, and `Idempotency-Key`.
//!
//! Routes: `POST /api/products`.

use super::*;

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_product_is_created_with_a_decimal_price_and_its_first_price_history(pool: PgPool) {
    let app = app(pool.clone());
    let org = app.register("ann@example.com").await;
    let body = app.by(&org).post("/api/products", json!({"sku": "BOLT-10", "name": "Bolt M10", "price": "12.5", "currency": "EUR", "cost": "7.25", "reorder_point": 20, "best_seller": true})).await.assert(201);
    assert_eq!(body["price"], "12.50");
    assert_eq!(body["cost"], "7.25");
    assert_eq!(body["currency"], "EUR");
    assert_eq!(body["unit"], "each");
    assert_eq!(body["is_active"], true);
    let history = app
        .by(&org.token)
        .get(&format!(
            "/api/products/{}/price-history",
            body["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(history.status, StatusCode::OK, "{}", history.body);
    assert_eq!(history.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(history.body["items"][0]["price"], "12.50");
    assert_eq!(history.body["items"][0]["changed_by_name"], "Owner");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn prices_must_be_non_negative_decimal_strings(pool: PgPool) {
    let app = app(pool.clone());
    let org = app.register("ann@example.com").await;
    // Exactly the documented pattern: what a lenient decimal parser would read (1e3 as 1000,
    // "1_00" as 100) is refused, never stored as something the client did not mean.
    let refused = [
        json!("-1.00"),
        json!("1.005"),
        json!("1e3"),
        json!("+5"),
        json!("5."),
        json!(".5"),
        json!("1_000"),
        json!("1_00"),
        json!(" 5"),
        json!("1000000000000"),
        json!(12.5),
        json!("abc"),
    ];
    for price in refused {
        let r = app
            .by(&org)
            .post(
                "/api/products",
                json!({"sku": "X", "name": "X", "price": price, "currency": "EUR"}),
            )
            .await;
        assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(r.body["errors"][0]["field"], "price", "{price}: {}", r.body);
        let message = r.body["errors"][0]["message"].as_str().unwrap();
        assert!(
            message.contains("decimal string such as"),
            "{price}: {message}"
        );
    }
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM products")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(count, 0);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_sku_is_unique_within_the_organization_only(pool: PgPool) {
    let app = app(pool);
    let a = app.register("a@example.com").await;
    let b = app.register("b@example.com").await;
    app.by(&a)
        .post("/api/products", product("SKU-1", "1.00"))
        .await
        .assert(201);
    assert_problem(
        &app.by(&a)
            .post("/api/products", product("sku-1", "2.00"))
            .await,
        StatusCode::CONFLICT,
        "sku_taken",
    );
    app.by(&b)
        .post("/api/products", product("SKU-1", "3.00"))
        .await
        .assert(201);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn an_unknown_or_foreign_supplier_is_404_naming_the_field_on_create(pool: PgPool) {
    let app = app(pool);
    let a = app.register("a@example.com").await;
    let b = app.register("b@example.com").await;
    let foreign = supplier(&app, &b, "B Supplies").await;
    for supplier_id in [foreign, uuid::Uuid::new_v4().to_string()] {
        let r = app.by(&a).post("/api/products", json!({"sku": "S", "name": "S", "price": "1.00", "currency": "EUR", "supplier_id": supplier_id})).await;
        assert_problem(&r, StatusCode::NOT_FOUND, "unknown_supplier");
        assert_eq!(r.body["errors"][0]["field"], "supplier_id");
    }
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn an_idempotency_key_replays_the_first_response(pool: PgPool) {
    let app = app(pool.clone());
    let org = app.register("ann@example.com").await;
    let send = |body: serde_json::Value| {
        let request = http::Request::post("/api/products")
            .header("authorization", format!("Bearer {}", org.token))
            .header("content-type", "application/json")
            .header("idempotency-key", "order-42")
            .body(axum::body::Body::from(body.to_string()))
            .unwrap();
        shared::testing::send(&app.router, request)
    };
    let first = send(product("IDEM-1", "5.00")).await;
    let again = send(product("IDEM-1", "5.00")).await;
    assert_eq!(first.status, StatusCode::CREATED);
    assert_eq!(again.status, StatusCode::CREATED);
    assert_eq!(first.body, again.body);
    assert_eq!(again.headers["idempotent-replayed"], "true");
    let other = send(product("IDEM-2", "6.00")).await;
    assert_problem(&other, StatusCode::CONFLICT, "idempotency_key_reused");
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM products")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(count, 1);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn concurrent_retries_with_one_key_create_one_product(pool: PgPool) {
    let app = app(pool.clone());
    let org = app.register("ann@example.com").await;
    let send = || {
        let request = http::Request::post("/api/products")
            .header("authorization", format!("Bearer {}", org.token))
            .header("content-type", "application/json")
            .header("idempotency-key", "retry-storm")
            .body(axum::body::Body::from(product("RACE", "1.00").to_string()))
            .unwrap();
        shared::testing::send(&app.router, request)
    };
    let (a, b, c) = tokio::join!(send(), send(), send());
    for r in [&a, &b, &c] {
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        assert_eq!(r.body["id"], a.body["id"]);
    }
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM products")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(count, 1);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_product_without_a_currency_takes_the_organizations(pool: PgPool) {
    let app = app(pool.clone());
    let org = app.register("ann@example.com").await;
    let usd = app
        .by(&org)
        .post(
            "/api/products",
            json!({"sku": "C-1", "name": "Cup", "price": "3.00"}),
        )
        .await
        .assert(201);
    assert_eq!(usd["currency"], "USD");
    sqlx::query("UPDATE organizations SET default_currency = 'GBP' WHERE id = $1::uuid")
        .bind(&org.org_id)
        .execute(&pool)
        .await
        .unwrap();
    let gbp = app
        .by(&org)
        .post(
            "/api/products",
            json!({"sku": "C-2", "name": "Mug", "price": "4.00"}),
        )
        .await
        .assert(201);
    assert_eq!(gbp["currency"], "GBP");
    let eur = app
        .by(&org)
        .post(
            "/api/products",
            json!({"sku": "C-3", "name": "Jug", "price": "5.00", "currency": "EUR"}),
        )
        .await
        .assert(201);
    assert_eq!(eur["currency"], "EUR");
    for bad in [
        json!("eur"),
        json!("EURO"),
        json!("ZZZ"),
        json!("XXX"),
        json!(null),
        json!(978),
    ] {
        let r = app
            .by(&org)
            .post(
                "/api/products",
                json!({"sku": "C-4", "name": "Pot", "price": "6.00", "currency": bad}),
            )
            .await;
        if bad.is_null() {
            // null is "not given", like absent.
            assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
            continue;
        }
        assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(r.body["errors"][0]["field"], "currency", "{bad}");
    }
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn an_idempotency_key_belongs_to_its_caller(pool: PgPool) {
    // Two tills numbering their sales alike: the same key from another caller is another key.
    let app = app(pool.clone());
    let org = app.register("ann@example.com").await;
    let cashier = app
        .member(&org.org_id, "cy@example.com", json!({"products": "write"}))
        .await
        .token;
    let send = |token: String, body: serde_json::Value| {
        let request = http::Request::post("/api/products")
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "application/json")
            .header("idempotency-key", "receipt-1")
            .body(axum::body::Body::from(body.to_string()))
            .unwrap();
        shared::testing::send(&app.router, request)
    };
    let theirs = send(cashier.clone(), product("TILL-1", "5.00")).await;
    let ours = send(org.token.clone(), product("TILL-2", "5.00")).await;
    assert_eq!(
        (theirs.status, ours.status),
        (StatusCode::CREATED, StatusCode::CREATED)
    );
    assert!(
        ours.headers.get("idempotent-replayed").is_none(),
        "not the cashier's replay"
    );
    assert_ne!(ours.body["id"], theirs.body["id"]);
    let again = send(cashier, product("TILL-1", "5.00")).await;
    assert_eq!(
        again.body["id"], theirs.body["id"],
        "the cashier's own retry still replays"
    );
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM products")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(count, 2);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn an_empty_unit_is_refused_not_replaced(pool: PgPool) {
    let app = app(pool.clone());
    let org = app.register("ann@example.com").await;
    for unit in ["", "  ", "box\n"] {
        let r = app
            .by(&org)
            .post(
                "/api/products",
                json!({"sku": "U-1", "name": "Bolt", "price": "1.00", "unit": unit}),
            )
            .await;
        assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(r.body["errors"][0]["field"], "unit", "{unit:?}");
    }
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM products")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(count, 0);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_taken_sku_is_409_naming_the_sku_field_for_a_form(pool: PgPool) {
    let app = app(pool);
    let org = app.register("ann@example.com").await;
    app.by(&org)
        .post("/api/products", product("SKU-1", "1.00"))
        .await
        .assert(201);
    let r = app
        .by(&org)
        .post("/api/products", product("SKU-1", "2.00"))
        .await;
    assert_problem(&r, StatusCode::CONFLICT, "sku_taken");
    let errors = r.body["errors"].as_array().expect("errors[]");
    assert_eq!(errors.len(), 1, "{}", r.body);
    assert_eq!(errors[0]["field"], "sku");
    assert_eq!(errors[0]["code"], "sku_taken");
    assert!(
        errors[0]["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{}",
        r.body
    );
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn an_unknown_member_and_a_bad_currency_are_reported_in_one_422(pool: PgPool) {
    let app = app(pool.clone());
    let org = app.register("ann@example.com").await;
    let r = app
        .by(&org)
        .post(
            "/api/products",
            json!({"sku": "X-1", "name": "X", "price": "1.00", "currency": "XYZ", "colour": "red"}),
        )
        .await;
    assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let mut fields: Vec<&str> = r.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    fields.sort_unstable();
    assert_eq!(fields, ["colour", "currency"], "{}", r.body);
    // Each alone is refused too, naming its member.
    for (body, field) in [
        (
            json!({"sku": "X-1", "name": "X", "price": "1.00", "currency": "eur"}),
            "currency",
        ),
        (
            json!({"sku": "X-1", "name": "X", "price": "1.00", "colour": "red"}),
            "colour",
        ),
    ] {
        let r = app.by(&org).post("/api/products", body).await;
        assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(r.body["errors"][0]["field"], field, "{}", r.body);
    }
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM products")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(count, 0);
}
