//! Stocktakes and cycle counts: a snapshot, counts (one or many, blind or not), one apply that
//! turns every difference into an adjustment, and the products due for counting.
//!
//! Routes: `GET /api/stocktakes`, `POST /api/stocktakes`, `GET /api/stocktakes/due`,
//!  `GET /api/stocktakes/{id}`, `GET /api/stocktakes/{id}/lines`,
//!  `POST /api/stocktakes/{id}/lines`, `PUT /api/stocktakes/{id}/lines/{product_id}`,
//!  `POST /api/stocktakes/{id}/apply`, `POST /api/stocktakes/{id}/cancel`.

use crate::support::*;
use http::StatusCode;
use serde_json::{Value, json};
use shared::testing::{Registered, TestApp, assert_problem};
use sqlx::PgPool;

async fn sell(app: &TestApp, org: &Registered, product: &str, quantity: i32) -> StatusCode {
    app.by(org)
        .post(
            "/api/inventory/movements",
            json!({"kind": "sell", "product_id": product, "quantity": quantity, "reason": "till"}),
        )
        .await
        .status
}

async fn start(app: &TestApp, org: &Registered, body: Value) -> Value {
    let r = app.by(org).post("/api/stocktakes", body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.body
}

async fn count(app: &TestApp, org: &Registered, id: &str, product: &str, counted: i32) -> Value {
    let r = app
        .by(org)
        .put(
            &format!("/api/stocktakes/{id}/lines/{product}"),
            json!({ "counted": counted }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body
}

async fn set_cost(app: &TestApp, product: &str, cost: &str) {
    sqlx::query("UPDATE products SET cost = $2::numeric WHERE id = $1::uuid")
        .bind(product)
        .bind(cost)
        .execute(&app.pool)
        .await
        .unwrap();
}

/// Fails unless every level equals the sum of its ledger lines.
async fn assert_ledger_matches_levels(app: &TestApp) {
    let wrong: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM stock_levels s
         LEFT JOIN (SELECT product_id, location_id, sum(quantity)::bigint AS q
                    FROM stock_movements GROUP BY product_id, location_id) m
           ON m.product_id = s.product_id AND m.location_id = s.location_id
         WHERE s.on_hand <> coalesce(m.q, 0)",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(wrong, 0, "levels that differ from their ledger");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn applying_turns_each_difference_into_one_adjustment_once(pool: PgPool) {
    let app = app(pool);
    let org = app.register("ann@example.com").await;
    let bolt = product(&app, &org, "BOLT", 0).await;
    let nut = product(&app, &org, "NUT", 0).await;
    let washer = product(&app, &org, "WASHER", 0).await;
    receive(&app, &org, &bolt, 10).await;
    receive(&app, &org, &nut, 4).await;
    set_cost(&app, &bolt, "2.50").await;

    let take = start(&app, &org, json!({})).await;
    let id = take["id"].as_str().unwrap();
    assert_eq!(take["status"], "open");
    assert_eq!(take["progress"]["lines"], 3, "every active product: {take}");
    let bolt_line = count(&app, &org, id, &bolt, 8).await;
    assert_eq!(
        (
            &bolt_line["expected"],
            &bolt_line["variance"],
            &bolt_line["variance_value"]
        ),
        (&json!(10), &json!(-2), &json!("-5.00"))
    );
    count(&app, &org, id, &nut, 4).await;
    let seen = app.by(&org).get(&format!("/api/stocktakes/{id}")).await;
    assert_eq!(seen.body["progress"]["counted"], 2);
    assert_eq!(seen.body["progress"]["variance_units"], -2);
    assert_eq!(
        seen.body["progress"]["variance_value"],
        json!([{"currency": "EUR", "amount": "-5.00"}])
    );
    let open = app
        .by(&org)
        .get(&format!("/api/stocktakes/{id}/lines?counted=false"))
        .await;
    assert_eq!(open.body["items"][0]["product_id"], washer.as_str());

    let applied = app
        .by(&org)
        .post(&format!("/api/stocktakes/{id}/apply"), json!({}))
        .await;
    assert_eq!(applied.status, StatusCode::OK, "{}", applied.body);
    assert_eq!(
        (
            &applied.body["adjusted_lines"],
            &applied.body["unchanged_lines"],
            &applied.body["not_counted_lines"],
            &applied.body["variance_units"]
        ),
        (&json!(1), &json!(1), &json!(1), &json!(-2))
    );
    assert_eq!(on_hand_and_reserved(&app, &bolt).await, (8, 0));
    let ledger: Vec<(String, i32, String)> = sqlx::query_as(
        "SELECT kind::text, quantity, reason FROM stock_movements
         WHERE product_id = $1::uuid ORDER BY id",
    )
    .bind(&bolt)
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        ledger.last().unwrap(),
        &("adjust".into(), -2, format!("stocktake {id}"))
    );

    // Applying again changes nothing and answers the same.
    let again = app
        .by(&org)
        .post(&format!("/api/stocktakes/{id}/apply"), json!({}))
        .await;
    assert_eq!(again.body, applied.body);
    assert_eq!(on_hand_and_reserved(&app, &bolt).await, (8, 0));
    let late = app
        .by(&org)
        .put(
            &format!("/api/stocktakes/{id}/lines/{washer}"),
            json!({"counted": 1}),
        )
        .await;
    assert_problem(&late, StatusCode::CONFLICT, "stocktake_not_open");
    let cancel = app
        .by(&org)
        .post(&format!("/api/stocktakes/{id}/cancel"), json!({}))
        .await;
    assert_problem(&cancel, StatusCode::CONFLICT, "stocktake_not_open");

    let counted: Vec<(String, bool)> =
        sqlx::query_as("SELECT sku, last_counted_at IS NOT NULL FROM products ORDER BY sku")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(
        counted,
        [
            ("BOLT".into(), true),
            ("NUT".into(), true),
            ("WASHER".into(), false)
        ]
    );
    let events: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE type = 'stocktake.applied' AND object ->> 'id' = $1",
    )
    .bind(id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(events, 1);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn stock_that_moves_during_the_count_is_neither_lost_nor_counted_twice(pool: PgPool) {
    let app = app(pool);
    let org = app.register("ann@example.com").await;
    let (a, b, c) = (
        product(&app, &org, "A", 0).await,
        product(&app, &org, "B", 0).await,
        product(&app, &org, "C", 0).await,
    );
    for p in [&a, &b, &c] {
        receive(&app, &org, p, 10).await;
    }
    let take = start(&app, &org, json!({"product_ids": [a, b, c]})).await;
    let id = take["id"].as_str().unwrap();
    // A: two sold before the counter reached the shelf, which then held 8: nothing missing.
    assert_eq!(sell(&app, &org, &a, 2).await, StatusCode::CREATED);
    count(&app, &org, id, &a, 8).await;
    // B: counted right (10), then one sold before the apply: still nothing missing.
    count(&app, &org, id, &b, 10).await;
    assert_eq!(sell(&app, &org, &b, 1).await, StatusCode::CREATED);
    // C: three really missing.
    count(&app, &org, id, &c, 7).await;

    let applied = app
        .by(&org)
        .post(&format!("/api/stocktakes/{id}/apply"), json!({}))
        .await;
    assert_eq!(applied.status, StatusCode::OK, "{}", applied.body);
    assert_eq!(on_hand_and_reserved(&app, &a).await, (8, 0));
    assert_eq!(on_hand_and_reserved(&app, &b).await, (9, 0));
    assert_eq!(on_hand_and_reserved(&app, &c).await, (7, 0));
    let mut moved: Vec<&str> = applied.body["moved_meanwhile"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["sku"].as_str().unwrap())
        .collect();
    moved.sort_unstable();
    assert_eq!(moved, ["A", "B"], "{}", applied.body);
    assert_eq!(applied.body["adjusted_lines"], 1);
    assert_ledger_matches_levels(&app).await;
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_blind_count_hides_the_expected_figures_from_counters_only(pool: PgPool) {
    let app = app(pool);
    let org = app.register("ann@example.com").await;
    let bolt = product(&app, &org, "BOLT", 0).await;
    receive(&app, &org, &bolt, 6).await;
    let counter = app
        .member(&org.org_id, "cy@example.com", json!({"inventory": "read"}))
        .await;
    let take = start(&app, &org, json!({"blind": true})).await;
    let id = take["id"].as_str().unwrap();

    let line = count(&app, &counter, id, &bolt, 5).await;
    assert_eq!(
        (&line["counted"], &line["expected"], &line["variance"]),
        (&json!(5), &Value::Null, &Value::Null),
        "{line}"
    );
    let seen = app.by(&counter).get(&format!("/api/stocktakes/{id}")).await;
    assert_eq!(seen.body["progress"]["variance_units"], Value::Null);
    let lines = app
        .by(&counter)
        .get(&format!("/api/stocktakes/{id}/lines"))
        .await;
    assert_eq!(lines.body["items"][0]["expected"], Value::Null);
    let by_owner = app
        .by(&org)
        .get(&format!("/api/stocktakes/{id}/lines"))
        .await;
    assert_eq!(by_owner.body["items"][0]["expected"], 6);
    assert_eq!(by_owner.body["items"][0]["variance"], -1);
    let apply = app
        .by(&counter)
        .post(&format!("/api/stocktakes/{id}/apply"), json!({}))
        .await;
    assert_eq!(
        apply.status,
        StatusCode::FORBIDDEN,
        "counting is not applying"
    );
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_batch_keeps_each_products_last_count_and_says_which_were_recounted(pool: PgPool) {
    let app = app(pool);
    let org = app.register("ann@example.com").await;
    let bolt = product(&app, &org, "BOLT", 0).await;
    let nut = product(&app, &org, "NUT", 0).await;
    let take = start(&app, &org, json!({})).await;
    let id = take["id"].as_str().unwrap();
    count(&app, &org, id, &bolt, 1).await;
    let path = format!("/api/stocktakes/{id}/lines");
    let send = || {
        app.by(&org).header("Idempotency-Key", "batch-1").post(
            &path,
            json!({"lines": [{"product_id": bolt, "counted": 2}, {"product_id": nut, "counted": 3},
                             {"product_id": bolt, "counted": 4}]}),
        )
    };
    let batch = send().await;
    assert_eq!(batch.status, StatusCode::OK, "{}", batch.body);
    assert_eq!(batch.body, json!({"counted": 2, "recounted": [bolt]}));
    // A retry is answered, not counted again (`times_counted` stays 2 below).
    assert_eq!(send().await.body, batch.body);
    let lines = app
        .by(&org)
        .get(&format!("/api/stocktakes/{id}/lines"))
        .await;
    let bolt_line = lines.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["sku"] == "BOLT")
        .unwrap()
        .clone();
    assert_eq!(
        (&bolt_line["counted"], &bolt_line["times_counted"]),
        (&json!(4), &json!(2))
    );
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn bad_counts_and_foreign_ids_are_refused_and_change_nothing(pool: PgPool) {
    let app = app(pool);
    let org = app.register("ann@example.com").await;
    let other = app.register("bo@example.com").await;
    let bolt = product(&app, &org, "BOLT", 0).await;
    let theirs = product(&app, &other, "THEIRS", 0).await;
    let their_location: uuid::Uuid =
        sqlx::query_scalar("SELECT id FROM locations WHERE org_id = $1::uuid")
            .bind(&other.org_id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    let foreign = app
        .by(&org)
        .post("/api/stocktakes", json!({"location_id": their_location}))
        .await;
    assert_problem(&foreign, StatusCode::NOT_FOUND, "unknown_location");
    let both = app
        .by(&org)
        .post(
            "/api/stocktakes",
            json!({"supplier_id": supplier(&app, &org).await, "product_ids": [bolt]}),
        )
        .await;
    assert_problem(&both, StatusCode::NOT_FOUND, "unknown_product");
    assert_eq!(
        both.body["errors"][0]["field"], "product_ids",
        "not that supplier's"
    );
    let not_ours = app
        .by(&org)
        .post("/api/stocktakes", json!({"product_ids": [theirs]}))
        .await;
    assert_problem(&not_ours, StatusCode::NOT_FOUND, "unknown_product");

    let take = start(&app, &org, json!({"product_ids": [bolt]})).await;
    let id = take["id"].as_str().unwrap();
    let negative = app
        .by(&org)
        .put(
            &format!("/api/stocktakes/{id}/lines/{bolt}"),
            json!({"counted": -1}),
        )
        .await;
    assert_problem(
        &negative,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    let batch = app
        .by(&org)
        .post(
            &format!("/api/stocktakes/{id}/lines"),
            json!({"lines": [{"product_id": bolt, "counted": 3}, {"product_id": theirs, "counted": 1}]}),
        )
        .await;
    assert_problem(
        &batch,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    assert_eq!(
        batch.body["errors"][0]["code"], "not_in_stocktake",
        "{}",
        batch.body
    );
    let untouched: Option<i32> =
        sqlx::query_scalar("SELECT counted FROM stocktake_lines WHERE stocktake_id = $1::uuid")
            .bind(id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(untouched, None, "the batch's good line was not kept either");
    let theirs_seen = app.by(&other).get(&format!("/api/stocktakes/{id}")).await;
    assert_problem(&theirs_seen, StatusCode::NOT_FOUND, "not_found");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_count_below_what_is_reserved_is_refused_whole(pool: PgPool) {
    let app = app(pool);
    let org = app.register("ann@example.com").await;
    let bolt = product(&app, &org, "BOLT", 0).await;
    let nut = product(&app, &org, "NUT", 0).await;
    receive(&app, &org, &bolt, 5).await;
    receive(&app, &org, &nut, 5).await;
    let held = app
        .by(&org)
        .post(
            "/api/inventory/reservations",
            json!({"product_id": bolt, "quantity": 4, "expires_in_seconds": 600}),
        )
        .await;
    assert_eq!(held.status, StatusCode::CREATED);
    let take = start(&app, &org, json!({})).await;
    let id = take["id"].as_str().unwrap();
    count(&app, &org, id, &bolt, 2).await;
    count(&app, &org, id, &nut, 1).await;
    let apply = app
        .by(&org)
        .post(&format!("/api/stocktakes/{id}/apply"), json!({}))
        .await;
    assert_problem(&apply, StatusCode::CONFLICT, "stocktake_below_reserved");
    assert_eq!(
        apply.body["errors"].as_array().unwrap().len(),
        1,
        "{}",
        apply.body
    );
    assert_eq!(
        on_hand_and_reserved(&app, &nut).await,
        (5, 0),
        "nothing applied"
    );
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn an_apply_during_fifty_sales_leaves_the_ledger_and_levels_in_step(pool: PgPool) {
    let app = app_with(pool, &[("DB_MAX_CONNECTIONS", "8")]);
    let org = app.register("ann@example.com").await;
    let mut products = Vec::new();
    for sku in ["A", "B", "C", "D", "E"] {
        let p = product(&app, &org, sku, 0).await;
        receive(&app, &org, &p, 100).await;
        products.push(p);
    }
    let take = start(&app, &org, json!({})).await;
    let id = take["id"].as_str().unwrap().to_owned();
    for p in &products {
        count(&app, &org, &id, p, 90).await;
    }
    let apply_path = format!("/api/stocktakes/{id}/apply");
    let sales = (0..50).map(|i| sell(&app, &org, &products[i % products.len()], 1));
    let (applied, sold) = tokio::join!(
        app.by(&org).post(&apply_path, json!({})),
        futures_util::future::join_all(sales)
    );
    assert_eq!(applied.status, StatusCode::OK, "{}", applied.body);
    assert!(sold.iter().all(|s| *s == StatusCode::CREATED), "{sold:?}");
    assert_ledger_matches_levels(&app).await;
    for p in &products {
        // 100 received, 10 sold each, 10 missing at the count.
        assert_eq!(on_hand_and_reserved(&app, p).await, (80, 0));
    }
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn products_are_due_for_counting_until_an_applied_stocktake_counts_them(pool: PgPool) {
    let app = app(pool);
    let org = app.register("ann@example.com").await;
    let bolt = product(&app, &org, "BOLT", 0).await;
    let nut = product(&app, &org, "NUT", 0).await;
    sqlx::query("UPDATE products SET count_interval_days = 7 WHERE id = $1::uuid")
        .bind(&nut)
        .execute(&app.pool)
        .await
        .unwrap();
    let due = app.by(&org).get("/api/stocktakes/due").await;
    assert_eq!(
        due.body["items"].as_array().unwrap().len(),
        2,
        "never counted: {}",
        due.body
    );

    let take = start(&app, &org, json!({"product_ids": [bolt, nut]})).await;
    let id = take["id"].as_str().unwrap();
    count(&app, &org, id, &bolt, 0).await;
    count(&app, &org, id, &nut, 0).await;
    let applied = app
        .by(&org)
        .post(&format!("/api/stocktakes/{id}/apply"), json!({}))
        .await;
    assert_eq!(applied.status, StatusCode::OK, "{}", applied.body);
    let due = app.by(&org).get("/api/stocktakes/due").await;
    assert_eq!(due.body["items"], json!([]));

    // Eight days on: the nut (every 7 days) is due again, the bolt (every 90) is not.
    sqlx::query("UPDATE products SET last_counted_at = now() - interval '8 days'")
        .execute(&app.pool)
        .await
        .unwrap();
    let due = app.by(&org).get("/api/stocktakes/due").await;
    let skus: Vec<&str> = due.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["sku"].as_str().unwrap())
        .collect();
    assert_eq!(skus, ["NUT"]);
    assert_eq!(due.body["items"][0]["count_interval_days"], 7);
}
