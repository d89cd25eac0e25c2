//! Purchase orders: drafts, submission, cancellation and receiving into stock.
//!
//! Routes: `GET /api/purchase-orders`, `POST /api/purchase-orders`,
//!  `GET /api/purchase-orders/{id}`, `PATCH /api/purchase-orders/{id}`,
//!  `POST /api/purchase-orders/{id}/submit`, `POST /api/purchase-orders/{id}/cancel`,
//!  `POST /api/purchase-orders/{id}/receive`.

use crate::support::*;
use http::StatusCode;
use serde_json::{Value, json};
use shared::testing::{Registered, TestApp, assert_problem};
use sqlx::PgPool;

async fn draft(
    app: &TestApp,
    org: &Registered,
    supplier: &str,
    product: &str,
    quantity: i32,
) -> Value {
    let r = app
        .by(org)
        .post(
            "/api/purchase-orders",
            json!({"supplier_id": supplier, "currency": "EUR",
        "lines": [{"product_id": product, "quantity": quantity, "unit_cost": "2.50"}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.body
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_purchase_order_goes_from_draft_to_received_through_the_ledger(pool: PgPool) {
    let app = app(pool);
    let org = app.register("ann@example.com").await;
    let supplier = supplier(&app, &org).await;
    let bolt = product(&app, &org, "BOLT", 0).await;
    let po = draft(&app, &org, &supplier, &bolt, 10).await;
    assert_eq!(po["status"], "draft");
    assert_eq!(po["total"], "25.00");
    // Named for people: the supplier, and each line's product.
    assert_eq!(po["supplier_name"], "Acme");
    assert_eq!(
        (
            &po["lines"][0]["product_sku"],
            &po["lines"][0]["product_name"]
        ),
        (&json!("BOLT"), &json!("BOLT"))
    );
    let listed = app.by(&org.token).get("/api/purchase-orders").await;
    assert_eq!(listed.body["items"][0]["supplier_name"], "Acme");
    let id = po["id"].as_str().unwrap();
    let line = po["lines"][0]["id"].as_str().unwrap();

    let edited = app
        .by(&org.token)
        .patch(
            &format!("/api/purchase-orders/{id}"),
            json!({"notes": "urgent"}),
        )
        .await;
    assert_eq!(edited.body["notes"], "urgent");
    let early = app
        .by(&org)
        .post(
            &format!("/api/purchase-orders/{id}/receive"),
            json!({"lines": [{"line_id": line, "quantity": 1}]}),
        )
        .await;
    assert_problem(&early, StatusCode::CONFLICT, "invalid_status");

    assert_eq!(
        app.by(&org)
            .post(&format!("/api/purchase-orders/{id}/submit"), json!({}))
            .await
            .body["status"],
        "submitted"
    );
    let locked = app
        .by(&org.token)
        .patch(&format!("/api/purchase-orders/{id}"), json!({"notes": "x"}))
        .await;
    assert_problem(&locked, StatusCode::CONFLICT, "invalid_status");

    let part = app
        .by(&org)
        .post(
            &format!("/api/purchase-orders/{id}/receive"),
            json!({"lines": [{"line_id": line, "quantity": 4}]}),
        )
        .await;
    assert_eq!(part.body["status"], "partially_received", "{}", part.body);
    assert_eq!(on_hand_and_reserved(&app, &bolt).await, (4, 0));
    let rest = app
        .by(&org)
        .post(
            &format!("/api/purchase-orders/{id}/receive"),
            json!({"lines": [{"line_id": line, "quantity": 6}]}),
        )
        .await;
    assert_eq!(rest.body["status"], "received");
    assert_eq!(on_hand_and_reserved(&app, &bolt).await, (10, 0));
    let ledger = app
        .by(&org.token)
        .get(&format!(
            "/api/inventory/movements?kind=receive&product_id={bolt}"
        ))
        .await;
    assert_eq!(ledger.body["items"].as_array().unwrap().len(), 2);
    assert_eq!(ledger.body["items"][0]["po_line_id"], line);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn receiving_more_than_ordered_is_422_and_adds_nothing(pool: PgPool) {
    let app = app(pool);
    let org = app.register("ann@example.com").await;
    let supplier = supplier(&app, &org).await;
    let bolt = product(&app, &org, "BOLT", 0).await;
    let po = draft(&app, &org, &supplier, &bolt, 5).await;
    let id = po["id"].as_str().unwrap();
    app.by(&org)
        .post(&format!("/api/purchase-orders/{id}/submit"), json!({}))
        .await;
    let r = app
        .by(&org)
        .post(
            &format!("/api/purchase-orders/{id}/receive"),
            json!({"lines": [{"line_id": po["lines"][0]["id"], "quantity": 6}]}),
        )
        .await;
    assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(r.body["errors"][0]["code"], "over_receipt");
    assert_eq!(on_hand_and_reserved(&app, &bolt).await, (0, 0));
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn receiving_the_same_line_twice_at_once_adds_stock_once(pool: PgPool) {
    let app = app(pool);
    let org = app.register("ann@example.com").await;
    let supplier = supplier(&app, &org).await;
    let bolt = product(&app, &org, "BOLT", 0).await;
    let po = draft(&app, &org, &supplier, &bolt, 5).await;
    let id = po["id"].as_str().unwrap();
    app.by(&org)
        .post(&format!("/api/purchase-orders/{id}/submit"), json!({}))
        .await;
    let body = json!({"lines": [{"line_id": po["lines"][0]["id"], "quantity": 5}]});
    let path = format!("/api/purchase-orders/{id}/receive");
    // Without a key: the order is locked; the second receipt finds it fully received.
    let (a, b) = tokio::join!(
        app.by(&org).post(&path, body.clone()),
        app.by(&org).post(&path, body.clone())
    );
    let statuses = [a.status, b.status];
    assert!(
        statuses.contains(&StatusCode::OK) && statuses.contains(&StatusCode::CONFLICT),
        "{statuses:?}"
    );
    assert_eq!(on_hand_and_reserved(&app, &bolt).await, (5, 0));
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_retried_receipt_with_an_idempotency_key_replays(pool: PgPool) {
    let app = app(pool);
    let org = app.register("ann@example.com").await;
    let supplier = supplier(&app, &org).await;
    let bolt = product(&app, &org, "BOLT", 0).await;
    let po = draft(&app, &org, &supplier, &bolt, 10).await;
    let id = po["id"].as_str().unwrap();
    app.by(&org)
        .post(&format!("/api/purchase-orders/{id}/submit"), json!({}))
        .await;
    let send = || {
        let request = http::Request::post(format!("/api/purchase-orders/{id}/receive"))
            .header("authorization", format!("Bearer {}", org.token))
            .header("content-type", "application/json")
            .header("idempotency-key", "delivery-note-77")
            .body(axum::body::Body::from(
                json!({"lines": [{"line_id": po["lines"][0]["id"], "quantity": 3}]}).to_string(),
            ))
            .unwrap();
        shared::testing::send(&app.router, request)
    };
    let (a, b) = tokio::join!(send(), send());
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(b.status, StatusCode::OK);
    assert_eq!(on_hand_and_reserved(&app, &bolt).await, (3, 0));
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn cancelling_is_allowed_until_goods_arrive(pool: PgPool) {
    let app = app(pool);
    let org = app.register("ann@example.com").await;
    let supplier = supplier(&app, &org).await;
    let bolt = product(&app, &org, "BOLT", 0).await;
    let po = draft(&app, &org, &supplier, &bolt, 5).await;
    let cancelled = app
        .by(&org)
        .post(
            &format!("/api/purchase-orders/{}/cancel", po["id"].as_str().unwrap()),
            json!({}),
        )
        .await;
    assert_eq!(cancelled.body["status"], "cancelled");
    let other = draft(&app, &org, &supplier, &bolt, 5).await;
    let oid = other["id"].as_str().unwrap();
    app.by(&org)
        .post(&format!("/api/purchase-orders/{oid}/submit"), json!({}))
        .await;
    app.by(&org)
        .post(
            &format!("/api/purchase-orders/{oid}/receive"),
            json!({"lines": [{"line_id": other["lines"][0]["id"], "quantity": 1}]}),
        )
        .await;
    let late = app
        .by(&org)
        .post(&format!("/api/purchase-orders/{oid}/cancel"), json!({}))
        .await;
    assert_problem(&late, StatusCode::CONFLICT, "invalid_status");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn invalid_lines_and_foreign_ids_are_refused(pool: PgPool) {
    let app = app(pool);
    let a = app.register("a@example.com").await;
    let b = app.register("b@example.com").await;
    let supplier = supplier(&app, &a).await;
    let theirs = product(&app, &b, "B", 0).await;
    let r = app
        .by(&a)
        .post(
            "/api/purchase-orders",
            json!({"supplier_id": supplier, "currency": "EUR",
        "lines": [{"product_id": theirs, "quantity": 1, "unit_cost": "1.00"}]}),
        )
        .await;
    assert_problem(&r, StatusCode::NOT_FOUND, "unknown_product");
    assert_eq!(r.body["errors"][0]["field"], "lines[0].product_id");
    let r = app
        .by(&a)
        .post(
            "/api/purchase-orders",
            json!({"supplier_id": supplier, "currency": "EUR",
        "lines": [{"product_id": theirs, "quantity": 0, "unit_cost": "1.00"},
                  {"product_id": theirs, "quantity": -1, "unit_cost": "1.00"}]}),
        )
        .await;
    let fields: Vec<&str> = r.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["lines[0].quantity", "lines[1].quantity"]);
    for cost in ["-1", "1e3", "1.005"] {
        let r = app
            .by(&a)
            .post(
                "/api/purchase-orders",
                json!({"supplier_id": supplier, "currency": "EUR",
            "lines": [{"product_id": theirs, "quantity": 1, "unit_cost": cost}]}),
            )
            .await;
        assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(r.body["errors"][0]["field"], "lines[0].unit_cost", "{cost}");
    }
    // Another organization's order is 404.
    let b_supplier = supplier_of(&app, &b).await;
    let b_product = product(&app, &b, "B2", 0).await;
    let theirs_po = app
        .by(&b)
        .post(
            "/api/purchase-orders",
            json!({"supplier_id": b_supplier, "currency": "EUR",
        "lines": [{"product_id": b_product, "quantity": 1, "unit_cost": "1.00"}]}),
        )
        .await;
    let pid = theirs_po.body["id"].as_str().unwrap();
    for path in [
        format!("/api/purchase-orders/{pid}/submit"),
        format!("/api/purchase-orders/{pid}/cancel"),
    ] {
        assert_problem(
            &app.by(&a).post(&path, json!({})).await,
            StatusCode::NOT_FOUND,
            "not_found",
        );
    }
    assert_problem(
        &app.by(&a.token)
            .get(&format!("/api/purchase-orders/{pid}"))
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
}

async fn supplier_of(app: &TestApp, org: &Registered) -> String {
    supplier(app, org).await
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn an_order_without_a_currency_takes_the_organization_default(pool: PgPool) {
    let app = app(pool);
    let org = app.register("ann@example.com").await;
    let supplier = supplier(&app, &org).await;
    let bolt = product(&app, &org, "BOLT", 0).await;
    let order = |currency: Option<&str>| {
        let mut body = json!({"supplier_id": supplier,
            "lines": [{"product_id": bolt, "quantity": 10, "unit_cost": "2.50"}]});
        if let Some(currency) = currency {
            body["currency"] = json!(currency);
        }
        body
    };
    let created = async |body: Value| {
        let r = app.by(&org).post("/api/purchase-orders", body).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        r.body
    };

    assert_eq!(created(order(None)).await["currency"], "USD");
    sqlx::query("UPDATE organizations SET default_currency = 'GBP' WHERE id = $1::uuid")
        .bind(&org.org_id)
        .execute(&app.pool)
        .await
        .unwrap();
    let gbp = created(order(None)).await;
    assert_eq!(gbp["currency"], "GBP");
    let eur = created(order(Some("EUR"))).await;
    assert_eq!(eur["currency"], "EUR", "an explicit currency is kept");

    let stored: String =
        sqlx::query_scalar("SELECT currency::text FROM purchase_orders WHERE id = $1::uuid")
            .bind(gbp["id"].as_str().unwrap())
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(stored, "GBP");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn orders_go_to_active_suppliers_for_active_products(pool: PgPool) {
    let app = app(pool.clone());
    let org = app.register("ann@example.com").await;
    let (active, gone) = (supplier(&app, &org).await, supplier(&app, &org).await);
    sqlx::query("UPDATE suppliers SET is_active = false WHERE id = $1::uuid")
        .bind(&gone)
        .execute(&pool)
        .await
        .unwrap();
    let (bolt, old) = (
        product(&app, &org, "BOLT", 0).await,
        product(&app, &org, "OLD", 0).await,
    );
    sqlx::query("UPDATE products SET is_active = false WHERE id = $1::uuid")
        .bind(&old)
        .execute(&pool)
        .await
        .unwrap();
    let line = |p: &str| json!([{"product_id": p, "quantity": 1, "unit_cost": "1.00"}]);
    let r = app
        .by(&org)
        .post(
            "/api/purchase-orders",
            json!({"supplier_id": gone, "lines": line(&bolt)}),
        )
        .await;
    assert_problem(&r, StatusCode::CONFLICT, "supplier_inactive");
    let r = app
        .by(&org)
        .post(
            "/api/purchase-orders",
            json!({"supplier_id": active, "lines": line(&old)}),
        )
        .await;
    assert_problem(&r, StatusCode::CONFLICT, "product_inactive");
    let draft = app
        .by(&org)
        .post(
            "/api/purchase-orders",
            json!({"supplier_id": active, "lines": line(&bolt)}),
        )
        .await;
    assert_eq!(draft.status, StatusCode::CREATED, "{}", draft.body);
    let moved = app
        .by(&org.token)
        .patch(
            &format!(
                "/api/purchase-orders/{}",
                draft.body["id"].as_str().unwrap()
            ),
            json!({"supplier_id": gone}),
        )
        .await;
    assert_problem(&moved, StatusCode::CONFLICT, "supplier_inactive");
    let orders: i64 = sqlx::query_scalar("SELECT count(*) FROM purchase_orders")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(orders, 1);
}
