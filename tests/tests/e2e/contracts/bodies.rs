//! Request bodies: a missing or unknown field is a 422 naming it; money outside the pattern
//! stores nothing.

use super::*;

// 6. Missing and unknown body members.

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_missing_body_field_is_422_naming_it(pool: PgPool) {
    let api = start(&pool);
    let ann = Caller::owner(&api).await;
    let r = ann
        .post("/api/products", json!({"sku": "BOLT-10", "price": "0.40"}))
        .await;
    assert_refused(&r, &["name"]);
    assert_eq!(errors(&r)[0].1, "required");
    let r = ann.post("/api/tasks", json!({"completed": true})).await;
    assert_refused(&r, &["title"]);
    assert_eq!(errors(&r)[0].1, "required");
    assert_eq!(count(&pool, "SELECT count(*) FROM products").await, 0);
    assert_eq!(count(&pool, "SELECT count(*) FROM tasks").await, 0);

    // In a nested object: the member's full path.
    let (supplier, product) = supplier_and_product(&ann).await;
    let r = ann
        .post(
            "/api/purchase-orders",
            json!({"supplier_id": supplier,
                   "lines": [{"product_id": product, "quantity": 1}]}),
        )
        .await;
    assert_refused(&r, &["lines[0].unit_cost"]);
    assert_eq!(errors(&r)[0].1, "required");
    assert_eq!(
        count(&pool, "SELECT count(*) FROM purchase_orders").await,
        0
    );
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn an_unknown_body_field_is_422_naming_it(pool: PgPool) {
    let api = start(&pool);
    let ann = Caller::owner(&api).await;
    let r = ann
        .post(
            "/api/products",
            json!({"sku": "BOLT-10", "name": "Bolt M10", "price": "0.40", "colour": "silver"}),
        )
        .await;
    assert_refused(&r, &["colour"]);
    assert_eq!(errors(&r)[0].1, "unknown_field");
    assert_eq!(count(&pool, "SELECT count(*) FROM products").await, 0);

    let (supplier, product) = supplier_and_product(&ann).await;
    let r = ann
        .post(
            "/api/purchase-orders",
            json!({"supplier_id": supplier, "lines": [{"product_id": product,
                   "quantity": 1, "unit_cost": "0.25", "discount": "0.05"}]}),
        )
        .await;
    assert_refused(&r, &["lines[0].discount"]);
    assert_eq!(errors(&r)[0].1, "unknown_field");
    assert_eq!(
        count(&pool, "SELECT count(*) FROM purchase_orders").await,
        0
    );
}

// 7. Money strings.

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn money_strings_outside_the_pattern_are_422_on_price_and_store_nothing(pool: PgPool) {
    let api = start(&pool);
    let ann = Caller::owner(&api).await;
    for price in ["1e3", "+5", "5.", ".5", "1_000", "1_00"] {
        let r = ann
            .post(
                "/api/products",
                json!({"sku": "BOLT-10", "name": "Bolt M10", "price": price}),
            )
            .await;
        assert_eq!(r.status, 422, "{price}: {}", r.body);
        assert_refused(&r, &["price"]);
    }
    assert_eq!(count(&pool, "SELECT count(*) FROM products").await, 0);
    assert_eq!(count(&pool, "SELECT count(*) FROM price_history").await, 0);
}
