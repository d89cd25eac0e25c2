mod support;

use http::{Method, StatusCode};
use serde_json::json;
use shared::testing::{assert_problem, member, register};
use sqlx::PgPool;
use support::*;

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_product_is_created_with_a_decimal_price_and_its_first_price_history(pool: PgPool) {
    let app = app(pool.clone());
    let org = register(&app, "ann@example.com").await;
    let body = created(&app, &org, json!({"sku": "BOLT-10", "name": "Bolt M10", "price": "12.5", "currency": "EUR", "cost": "7.25", "reorder_point": 20, "best_seller": true})).await;
    assert_eq!(body["price"], "12.50");
    assert_eq!(body["cost"], "7.25");
    assert_eq!(body["currency"], "EUR");
    assert_eq!(body["unit"], "each");
    assert_eq!(body["is_active"], true);
    let history = app
        .get_with(
            &format!(
                "/api/products/{}/price-history",
                body["id"].as_str().unwrap()
            ),
            &org.token,
        )
        .await;
    assert_eq!(history.status, StatusCode::OK, "{}", history.body);
    assert_eq!(history.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(history.body["items"][0]["price"], "12.50");
    assert_eq!(history.body["items"][0]["changed_by_name"], "Owner");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn prices_must_be_non_negative_decimal_strings(pool: PgPool) {
    let app = app(pool.clone());
    let org = register(&app, "ann@example.com").await;
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
        let r = create(
            &app,
            &org,
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
    let a = register(&app, "a@example.com").await;
    let b = register(&app, "b@example.com").await;
    created(&app, &a, product("SKU-1", "1.00")).await;
    assert_problem(
        &create(&app, &a, product("sku-1", "2.00")).await,
        StatusCode::CONFLICT,
        "sku_taken",
    );
    created(&app, &b, product("SKU-1", "3.00")).await;
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn an_unknown_or_foreign_supplier_is_404_naming_the_field_on_create(pool: PgPool) {
    let app = app(pool);
    let a = register(&app, "a@example.com").await;
    let b = register(&app, "b@example.com").await;
    let foreign = supplier(&app, &b, "B Supplies").await;
    for supplier_id in [foreign, uuid::Uuid::new_v4().to_string()] {
        let r = create(&app, &a, json!({"sku": "S", "name": "S", "price": "1.00", "currency": "EUR", "supplier_id": supplier_id})).await;
        assert_problem(&r, StatusCode::NOT_FOUND, "unknown_supplier");
        assert_eq!(r.body["errors"][0]["field"], "supplier_id");
    }
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn an_idempotency_key_replays_the_first_response(pool: PgPool) {
    let app = app(pool.clone());
    let org = register(&app, "ann@example.com").await;
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
    let org = register(&app, "ann@example.com").await;
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
async fn the_list_filters_sorts_and_pages(pool: PgPool) {
    let app = app(pool);
    let org = register(&app, "ann@example.com").await;
    let acme = supplier(&app, &org, "Acme").await;
    for (sku, price, best) in [
        ("A-1", "3.00", false),
        ("B-2", "1.00", true),
        ("C-3", "2.00", true),
        ("D-4", "5.00", false),
        ("E-5", "4.00", false),
    ] {
        let mut body = product(sku, price);
        body["best_seller"] = json!(best);
        if sku == "D-4" {
            body["supplier_id"] = json!(acme);
            body["name"] = json!("Drill press");
        }
        created(&app, &org, body).await;
    }
    let skus = |r: &shared::testing::TestResponse| -> Vec<String> {
        r.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["sku"].as_str().unwrap().to_owned())
            .collect()
    };
    let best = app
        .get_with("/api/products?best_seller=true", &org.token)
        .await;
    assert_eq!(skus(&best), ["B-2", "C-3"]);
    let by_supplier = app
        .get_with(&format!("/api/products?supplier_id={acme}"), &org.token)
        .await;
    assert_eq!(skus(&by_supplier), ["D-4"]);
    assert_eq!(
        skus(&app.get_with("/api/products?q=drill", &org.token).await),
        ["D-4"]
    );
    assert_eq!(
        skus(&app.get_with("/api/products?q=e-5", &org.token).await),
        ["E-5"]
    );

    // Walk every page of a descending price sort.
    let mut seen = Vec::new();
    let mut path = "/api/products?sort=-price&limit=2&include_total=true".to_owned();
    loop {
        let page = app.get_with(&path, &org.token).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        assert_eq!(page.body["total"], 5);
        seen.extend(skus(&page));
        match page.body["next_cursor"].as_str() {
            Some(cursor) => {
                path =
                    format!("/api/products?sort=-price&limit=2&include_total=true&cursor={cursor}")
            }
            None => break,
        }
    }
    assert_eq!(seen, ["D-4", "E-5", "A-1", "C-3", "B-2"]);
    let bad = app.get_with("/api/products?sort=colour", &org.token).await;
    assert_problem(&bad, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn detail_shows_the_supplier_and_its_contact(pool: PgPool) {
    let app = app(pool);
    let org = register(&app, "ann@example.com").await;
    let acme = supplier(&app, &org, "Acme").await;
    let mut body = product("P-1", "9.99");
    body["supplier_id"] = json!(acme);
    let p = created(&app, &org, body).await;
    let detail = app
        .get_with(
            &format!("/api/products/{}", p["id"].as_str().unwrap()),
            &org.token,
        )
        .await;
    assert_eq!(detail.body["supplier"]["name"], "Acme");
    assert_eq!(
        detail.body["supplier"]["contact"]["email"],
        "pat@supplier.example"
    );
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_soft_deleted_product_leaves_the_list_but_stays_readable(pool: PgPool) {
    let app = app(pool);
    let org = register(&app, "ann@example.com").await;
    let p = created(&app, &org, product("GONE", "1.00")).await;
    let id = p["id"].as_str().unwrap();
    let r = app
        .request(
            Method::DELETE,
            &format!("/api/products/{id}"),
            None,
            Some(&org.token),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(
        app.get_with("/api/products", &org.token).await.body["items"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    let inactive = app.get_with("/api/products?active=false", &org.token).await;
    assert_eq!(inactive.body["items"][0]["sku"], "GONE");
    let by_id = app
        .get_with(&format!("/api/products/{id}"), &org.token)
        .await;
    assert_eq!(by_id.body["is_active"], false);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn an_update_changes_only_what_was_sent_and_logs_price_changes(pool: PgPool) {
    let app = app(pool.clone());
    let org = register(&app, "ann@example.com").await;
    let p = created(&app, &org, json!({"sku": "U-1", "name": "Widget", "price": "10.00", "currency": "EUR", "description": "Blue"})).await;
    let path = format!("/api/products/{}", p["id"].as_str().unwrap());
    let renamed = app
        .request(
            Method::PATCH,
            &path,
            Some(json!({"name": "Widget XL"})),
            Some(&org.token),
        )
        .await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.body);
    assert_eq!(renamed.body["description"], "Blue");
    assert_eq!(renamed.body["price"], "10.00");
    let repriced = app
        .request(
            Method::PATCH,
            &path,
            Some(json!({"price": "11.50", "description": null})),
            Some(&org.token),
        )
        .await;
    assert_eq!(repriced.body["price"], "11.50");
    assert!(repriced.body["description"].is_null());
    let history = app
        .get_with(&format!("{path}/price-history"), &org.token)
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
        .request(
            Method::PATCH,
            &path,
            Some(json!({"price": "-5"})),
            Some(&org.token),
        )
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
    let org = register(&app, "ann@example.com").await;
    let p = created(&app, &org, json!({"sku": "P-1", "name": "Widget", "price": "10.00", "currency": "EUR", "description": "Blue"})).await;
    let path = format!("/api/products/{}", p["id"].as_str().unwrap());
    let put = app
        .request(
            Method::PUT,
            &path,
            Some(json!({"price": "12.00"})),
            Some(&org.token),
        )
        .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.body);
    assert_eq!(put.body["price"], "12.00");
    assert_eq!(put.body["description"], "Blue");
    assert_eq!(put.body["name"], "Widget");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn null_on_a_field_that_cannot_be_cleared_is_refused(pool: PgPool) {
    let app = app(pool);
    let org = register(&app, "ann@example.com").await;
    let p = created(&app, &org, product("N-1", "10.00")).await;
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
            .request(
                Method::PATCH,
                &path,
                Some(json!({ field: null })),
                Some(&org.token),
            )
            .await;
        assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(r.body["errors"][0]["field"], field, "{}", r.body);
    }
    let r = app.get_with(&path, &org.token).await;
    assert_eq!(
        (&r.body["name"], &r.body["price"]),
        (&json!("Product N-1"), &json!("10.00"))
    );
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_product_without_a_currency_takes_the_organizations(pool: PgPool) {
    let app = app(pool.clone());
    let org = register(&app, "ann@example.com").await;
    let usd = created(
        &app,
        &org,
        json!({"sku": "C-1", "name": "Cup", "price": "3.00"}),
    )
    .await;
    assert_eq!(usd["currency"], "USD");
    sqlx::query("UPDATE organizations SET default_currency = 'GBP' WHERE id = $1::uuid")
        .bind(&org.org_id)
        .execute(&pool)
        .await
        .unwrap();
    let gbp = created(
        &app,
        &org,
        json!({"sku": "C-2", "name": "Mug", "price": "4.00"}),
    )
    .await;
    assert_eq!(gbp["currency"], "GBP");
    let eur = created(
        &app,
        &org,
        json!({"sku": "C-3", "name": "Jug", "price": "5.00", "currency": "EUR"}),
    )
    .await;
    assert_eq!(eur["currency"], "EUR");
    for bad in [
        json!("eur"),
        json!("EURO"),
        json!("ZZZ"),
        json!("XXX"),
        json!(null),
        json!(978),
    ] {
        let r = create(
            &app,
            &org,
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
async fn module_permissions_are_enforced(pool: PgPool) {
    let app = app(pool.clone());
    let org = register(&app, "ann@example.com").await;
    let reader = member(
        &app,
        &org.org_id,
        "reader@example.com",
        json!({"products": "read"}),
    )
    .await
    .token;
    let nobody = member(
        &app,
        &org.org_id,
        "nobody@example.com",
        json!({"tasks": "write"}),
    )
    .await
    .token;
    assert_eq!(
        app.get_with("/api/products", &reader).await.status,
        StatusCode::OK
    );
    let write = app
        .post_with("/api/products", product("NOPE", "1.00"), &reader)
        .await;
    assert_problem(&write, StatusCode::FORBIDDEN, "missing_permission");
    assert_problem(
        &app.get_with("/api/products", &nobody).await,
        StatusCode::FORBIDDEN,
        "missing_permission",
    );
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM products")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(count, 0);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn another_organizations_product_is_404_everywhere_and_unchanged(pool: PgPool) {
    let app = app(pool.clone());
    let a = register(&app, "a@example.com").await;
    let b = register(&app, "b@example.com").await;
    let theirs = created(&app, &b, product("B-ONLY", "1.00")).await;
    let id = theirs["id"].as_str().unwrap();
    let snapshot = || async {
        sqlx::query_as::<_, (String, String, bool)>(
            "SELECT name, price::text, is_active FROM products",
        )
        .fetch_all(&pool)
        .await
        .unwrap()
    };
    let before = snapshot().await;
    for (method, path, body) in [
        (Method::GET, format!("/api/products/{id}"), None),
        (
            Method::PATCH,
            format!("/api/products/{id}"),
            Some(json!({"name": "Mine now", "price": "0.01"})),
        ),
        (Method::DELETE, format!("/api/products/{id}"), None),
        (
            Method::GET,
            format!("/api/products/{id}/price-history"),
            None,
        ),
    ] {
        let r = app
            .request(method.clone(), &path, body, Some(&a.token))
            .await;
        assert_problem(&r, StatusCode::NOT_FOUND, "not_found");
        assert_eq!(snapshot().await, before, "{method} {path}");
    }
    assert_eq!(
        app.get_with("/api/products", &a.token).await.body["items"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn an_idempotency_key_belongs_to_its_caller(pool: PgPool) {
    // Two tills numbering their sales alike: the same key from another caller is another key.
    let app = app(pool.clone());
    let org = register(&app, "ann@example.com").await;
    let cashier = member(
        &app,
        &org.org_id,
        "cy@example.com",
        json!({"products": "write"}),
    )
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
    let org = register(&app, "ann@example.com").await;
    for unit in ["", "  ", "box\n"] {
        let r = create(
            &app,
            &org,
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
async fn a_till_finds_a_product_by_its_barcode(pool: PgPool) {
    let app = app(pool);
    let org = register(&app, "ann@example.com").await;
    created(
        &app,
        &org,
        json!({"sku": "BOLT", "name": "Bolt", "price": "1.00", "barcode": "4006381333931"}),
    )
    .await;
    created(
        &app,
        &org,
        json!({"sku": "NUT", "name": "Nut", "price": "1.00", "barcode": "4006381333948"}),
    )
    .await;
    let skus = |body: &serde_json::Value| -> Vec<String> {
        body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["sku"].as_str().unwrap().to_owned())
            .collect()
    };
    let exact = app
        .get_with("/api/products?barcode=4006381333931", &org.token)
        .await;
    assert_eq!(skus(&exact.body), ["BOLT"]);
    let partial = app
        .get_with("/api/products?barcode=400638133393", &org.token)
        .await;
    assert_eq!(
        skus(&partial.body),
        Vec::<String>::new(),
        "exact, not a prefix"
    );
    let search = app.get_with("/api/products?q=333948", &org.token).await;
    assert_eq!(skus(&search.body), ["NUT"]);
}
