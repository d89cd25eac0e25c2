//! Query strings: an undocumented parameter is a 422 naming it; an empty value is absent.

use super::*;

// 5. Query parameters.

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn unknown_query_parameters_are_422_naming_each(pool: PgPool) {
    let api = start(&pool);
    let ann = Caller::owner(&api).await;
    let r = ann.get("/api/products?colour=red&q=bolt&size=L").await;
    assert_refused(&r, &["colour", "size"]);
    assert!(
        errors(&r)
            .iter()
            .all(|(_, code)| *code == "unknown_parameter"),
        "{}",
        r.body
    );

    // On a write, the refusal comes before anything is stored.
    let r = ann
        .post(
            "/api/products?draft=true",
            json!({"sku": "BOLT-10", "name": "Bolt M10", "price": "0.40"}),
        )
        .await;
    assert_refused(&r, &["draft"]);
    assert_eq!(errors(&r)[0].1, "unknown_parameter");
    assert_eq!(count(&pool, "SELECT count(*) FROM products").await, 0);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn routes_without_query_parameters_refuse_any(pool: PgPool) {
    let api = start(&pool);
    let ann = Caller::owner(&api).await;
    for path in [
        "/api/auth/me?x=1",
        "/api/organization?x=1",
        "/api/dashboard/summary?x=1",
    ] {
        let r = ann.get(path).await;
        assert_refused(&r, &["x"]);
        assert_eq!(errors(&r)[0].1, "unknown_parameter", "{path}");
    }
    let r = ann
        .patch("/api/organization?x=1", json!({"default_currency": "EUR"}))
        .await;
    assert_refused(&r, &["x"]);
    assert_eq!(stored_default_currency(&pool).await, "USD");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn an_empty_query_value_means_the_parameter_is_absent(pool: PgPool) {
    let api = start(&pool);
    let ann = Caller::owner(&api).await;
    ann.created("/api/tasks", json!({"title": "Open"})).await;
    ann.created("/api/tasks", json!({"title": "Done", "completed": true}))
        .await;
    ann.created(
        "/api/products",
        json!({"sku": "BOLT-10", "name": "Bolt M10", "price": "0.40"}),
    )
    .await;

    let tasks = ann
        .read("/api/tasks?status=&completed=&q=&cursor=&limit=")
        .await;
    let mut listed = titles(&tasks);
    listed.sort();
    assert_eq!(listed, ["Done", "Open"]);
    let products = ann
        .read("/api/products?cursor=&active=&sort=&supplier_id=")
        .await;
    assert_eq!(products["items"].as_array().unwrap().len(), 1);
}
