//! `PUT` on products and suppliers changes only the fields sent, as `PATCH` does.
//!
//! Routes: `PUT /api/suppliers/{id}`.

use super::*;

// 1. PUT on products and suppliers is PATCH.

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn put_on_a_product_changes_only_the_fields_sent(pool: PgPool) {
    let api = start(&pool);
    let ann = Caller::owner(&api).await;
    let product = ann
        .created(
            "/api/products",
            json!({"sku": "BOLT-10", "name": "Bolt M10", "description": "Zinc plated",
                   "price": "10.00", "currency": "EUR", "reorder_point": 20}),
        )
        .await;
    let path = format!("/api/products/{}", product["id"].as_str().unwrap());

    let put = ann.put(&path, json!({"price": "12.50"})).await;
    assert_eq!(put.status, 200, "{}", put.body);
    let after = ann.read(&path).await;
    assert_eq!(after["price"], "12.50");
    for kept in ["sku", "name", "description", "currency", "reorder_point"] {
        assert_eq!(after[kept], product[kept], "{kept} was not sent");
    }
    let stored: (String, String, String, Option<String>) = sqlx::query_as(
        "SELECT sku, name, price::text, description FROM products WHERE id = $1::uuid",
    )
    .bind(product["id"].as_str().unwrap())
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        stored,
        (
            "BOLT-10".into(),
            "Bolt M10".into(),
            "12.50".into(),
            Some("Zinc plated".into())
        )
    );
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn put_on_a_supplier_changes_only_the_fields_sent(pool: PgPool) {
    let api = start(&pool);
    let ann = Caller::owner(&api).await;
    let supplier = ann
        .created(
            "/api/suppliers",
            json!({"name": "Bolt Works", "email": "sales@boltworks.example",
                   "notes": "Ships on Mondays"}),
        )
        .await;
    let path = format!("/api/suppliers/{}", supplier["id"].as_str().unwrap());

    let put = ann.put(&path, json!({"notes": "Ships on Tuesdays"})).await;
    assert_eq!(put.status, 200, "{}", put.body);
    let after = ann.read(&path).await;
    assert_eq!(after["notes"], "Ships on Tuesdays");
    for kept in ["name", "email", "is_active"] {
        assert_eq!(after[kept], supplier[kept], "{kept} was not sent");
    }
    let stored: (String, Option<String>, Option<String>) =
        sqlx::query_as("SELECT name, email, notes FROM suppliers WHERE id = $1::uuid")
            .bind(supplier["id"].as_str().unwrap())
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(
        stored,
        (
            "Bolt Works".into(),
            Some("sales@boltworks.example".into()),
            Some("Ships on Tuesdays".into())
        )
    );
}
