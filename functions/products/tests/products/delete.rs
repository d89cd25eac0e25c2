//! `DELETE /api/products/{id}`: a soft delete.
//!
//! Routes: `DELETE /api/products/{id}`.

use super::*;

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_soft_deleted_product_leaves_the_list_but_stays_readable(pool: PgPool) {
    let app = app(pool);
    let org = app.register("ann@example.com").await;
    let p = app
        .by(&org)
        .post("/api/products", product("GONE", "1.00"))
        .await
        .assert(201);
    let id = p["id"].as_str().unwrap();
    let r = app
        .by(&org.token)
        .delete(&format!("/api/products/{id}"))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(
        app.by(&org.token).get("/api/products").await.body["items"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    let inactive = app.by(&org.token).get("/api/products?active=false").await;
    assert_eq!(inactive.body["items"][0]["sku"], "GONE");
    let by_id = app.by(&org.token).get(&format!("/api/products/{id}")).await;
    assert_eq!(by_id.body["is_active"], false);
}
