//! Who reaches products: module permissions, and nothing of another organization.

use super::*;

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn module_permissions_are_enforced(pool: PgPool) {
    let app = app(pool.clone());
    let org = app.register("ann@example.com").await;
    let reader = app
        .member(
            &org.org_id,
            "reader@example.com",
            json!({"products": "read"}),
        )
        .await
        .token;
    let nobody = app
        .member(&org.org_id, "nobody@example.com", json!({"tasks": "write"}))
        .await
        .token;
    assert_eq!(
        app.by(&reader).get("/api/products").await.status,
        StatusCode::OK
    );
    let write = app
        .by(&reader)
        .post("/api/products", product("NOPE", "1.00"))
        .await;
    assert_problem(&write, StatusCode::FORBIDDEN, "missing_permission");
    assert_problem(
        &app.by(&nobody).get("/api/products").await,
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
    let a = app.register("a@example.com").await;
    let b = app.register("b@example.com").await;
    let theirs = app
        .by(&b)
        .post("/api/products", product("B-ONLY", "1.00"))
        .await
        .assert(201);
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
        let r = app.by(&a.token).send(method.clone(), &path, body).await;
        assert_problem(&r, StatusCode::NOT_FOUND, "not_found");
        assert_eq!(snapshot().await, before, "{method} {path}");
    }
    assert_eq!(
        app.by(&a.token).get("/api/products").await.body["items"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
}
