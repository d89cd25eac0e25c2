//! Events: written with each change, listed and read back as the caller may see them.
//!
//! Routes: `GET /api/events`, `GET /api/events/{id}`.

use serde_json::{Value, json};
use shared::testing::assert_problem;
use sqlx::PgPool;

use crate::support::*;

fn types(events: &[Value]) -> Vec<&str> {
    events.iter().filter_map(|e| e["type"].as_str()).collect()
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_change_is_an_event_with_its_object_and_request(pool: PgPool) {
    let apps = apps(pool);
    let ann = apps.products.register("ann@example.com").await;
    let product = apps
        .products
        .by(&ann)
        .header("x-request-id", "req-create-1")
        .header("idempotency-key", "create-apple-1")
        .post(
            "/api/products",
            json!({"sku": "APL", "name": "Apple", "price": "1.00"}),
        )
        .await
        .assert(201);
    let id = product["id"].as_str().unwrap();
    apps.products
        .by(&ann)
        .patch(
            &format!("/api/products/{id}"),
            json!({"name": "Green apple"}),
        )
        .await
        .assert(200);

    let events = apps.events(&ann, "").await;
    assert_eq!(types(&events), ["product.updated", "product.created"]);
    let (updated, created) = (&events[0], &events[1]);
    assert_eq!(created["organization_id"], ann.org_id.as_str());
    assert_eq!(created["data"]["object"]["id"], id);
    assert_eq!(created["data"]["object"]["sku"], "APL");
    assert_eq!(created["data"]["previous_attributes"], Value::Null);
    assert_eq!(created["request"]["id"], "req-create-1");
    assert_eq!(created["request"]["idempotency_key"], "create-apple-1");
    assert!(created["created"].as_str().unwrap().ends_with('Z'));
    assert_eq!(updated["data"]["object"]["name"], "Green apple");
    assert_eq!(updated["data"]["previous_attributes"]["name"], "Apple");
    assert!(updated["data"]["previous_attributes"].get("sku").is_none());
    assert_eq!(updated["request"]["idempotency_key"], Value::Null);

    let one = apps
        .events
        .by(&ann)
        .get(&format!("/api/events/{}", created["id"].as_str().unwrap()))
        .await
        .assert(200);
    assert_eq!(&one, created);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_refused_change_leaves_no_event(pool: PgPool) {
    let apps = apps(pool);
    let ann = apps.products.register("ann@example.com").await;
    apps.product(&ann, "APL", 0).await;
    let before = apps.events(&ann, "").await.len();
    // Invalid (422), then a SKU taken (409): both roll back, events included.
    let bad = apps
        .products
        .by(&ann)
        .post(
            "/api/products",
            json!({"sku": "", "name": "x", "price": "1"}),
        )
        .await;
    assert_problem(
        &bad,
        http::StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    let taken = apps
        .products
        .by(&ann)
        .post(
            "/api/products",
            json!({"sku": "apl", "name": "x", "price": "1"}),
        )
        .await;
    assert_eq!(taken.status, http::StatusCode::CONFLICT, "{}", taken.body);
    assert_eq!(apps.events(&ann, "").await.len(), before);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn stock_changes_are_events_and_a_fall_below_the_reorder_point_is_one_per_fall(pool: PgPool) {
    let apps = apps(pool);
    let ann = apps.products.register("ann@example.com").await;
    let product = apps.product(&ann, "BOLT", 5).await;
    let id = product["id"].as_str().unwrap();
    let moves = [
        ("receive", 10),
        ("sell", 6),
        ("sell", 1),
        ("receive", 10),
        ("sell", 12),
    ];
    for (kind, quantity) in moves {
        apps.movement(
            &ann,
            json!({"kind": kind, "product_id": id, "quantity": quantity, "reason": "test"}),
        )
        .await;
    }
    let changed = apps.events(&ann, "?type=stock.changed").await;
    assert_eq!(changed.len(), 5);
    let first = &changed[4]["data"]["object"];
    assert_eq!(first["product_id"], id);
    assert_eq!(first["kind"], "receive");
    assert_eq!(first["quantity"], 10);
    assert_eq!(first["on_hand"], 10);
    assert_eq!(changed[3]["data"]["object"]["available"], 4);
    // 10 → 4 (low), → 3 (still low), → 13 (not), → 1 (low again).
    let low = apps.events(&ann, "?type=stock.low").await;
    let available: Vec<&Value> = low
        .iter()
        .map(|e| &e["data"]["object"]["available"])
        .collect();
    assert_eq!(available, [&json!(1), &json!(4)]);
    assert_eq!(low[0]["data"]["object"]["sku"], "BOLT");
    assert_eq!(low[0]["data"]["object"]["reorder_point"], 5);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn the_type_filter_takes_a_type_a_prefix_or_everything(pool: PgPool) {
    let apps = apps(pool);
    let ann = apps.products.register("ann@example.com").await;
    let product = apps.product(&ann, "NUT", 0).await;
    apps.movement(
        &ann,
        json!({"kind": "receive", "product_id": product["id"], "quantity": 3, "reason": "in"}),
    )
    .await;
    assert_eq!(
        types(&apps.events(&ann, "?type=product.*").await),
        ["product.created"]
    );
    assert_eq!(
        types(&apps.events(&ann, "?type=stock.changed").await),
        ["stock.changed"]
    );
    assert_eq!(apps.events(&ann, "?type=*").await.len(), 2);
    for unknown in ["product.exploded", "prod.*", "stock"] {
        let r = apps
            .events
            .by(&ann)
            .get(&format!("/api/events?type={unknown}"))
            .await;
        assert_problem(
            &r,
            http::StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        );
        assert!(
            r.body.to_string().contains("unknown_event_type"),
            "{}",
            r.body
        );
    }
    // Pages go on by the cursor.
    let first = apps
        .events
        .by(&ann)
        .get("/api/events?limit=1")
        .await
        .assert(200);
    let cursor = first["next_cursor"].as_str().unwrap();
    let second = apps
        .events
        .by(&ann)
        .get(&format!("/api/events?limit=1&cursor={cursor}"))
        .await
        .assert(200);
    assert_eq!(second["items"][0]["type"], "product.created");
    assert_eq!(second["next_cursor"], Value::Null);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_member_sees_the_events_of_what_they_may_read(pool: PgPool) {
    let apps = apps(pool);
    let ann = apps.products.register("ann@example.com").await;
    let bob = apps.bob(&ann, json!({"inventory": "read"})).await;
    let product = apps.product(&ann, "PEG", 0).await;
    apps.movement(
        &ann,
        json!({"kind": "receive", "product_id": product["id"], "quantity": 1, "reason": "in"}),
    )
    .await;
    apps.tasks
        .by(&ann)
        .post("/api/tasks", json!({"title": "Ann's"}))
        .await
        .assert(201);
    apps.tasks
        .by(&bob)
        .post("/api/tasks", json!({"title": "Bob's"}))
        .await
        .assert(201);
    // A change of Bob's role, as the users function audits one.
    sqlx::query(
        "INSERT INTO audit_log (org_id, action, entity, entity_id, before, after)
         VALUES ($1::uuid, 'user_updated', 'user', $2::uuid, '{\"role\": \"user\"}',
                 '{\"role\": \"admin\"}')",
    )
    .bind(&ann.org_id)
    .bind(&bob.user_id)
    .execute(&apps.pool)
    .await
    .unwrap();

    let bobs = apps.events(&bob, "").await;
    assert_eq!(types(&bobs), ["task.created", "stock.changed"]);
    assert_eq!(bobs[0]["data"]["object"]["title"], "Bob's");
    let anns = apps.events(&ann, "").await;
    assert_eq!(
        types(&anns),
        [
            "member.role_changed",
            "task.created",
            "task.created",
            "stock.changed",
            "product.created"
        ]
    );
    assert_eq!(anns[0]["data"]["object"]["email"], "bob@example.com");
    let hidden = anns[4]["id"].as_str().unwrap();
    let r = apps
        .events
        .by(&bob)
        .get(&format!("/api/events/{hidden}"))
        .await;
    assert_problem(&r, http::StatusCode::NOT_FOUND, "not_found");

    // Another organization sees none of it.
    let cat = apps.products.register("cat@example.com").await;
    assert!(apps.events(&cat, "").await.is_empty());
    let r = apps
        .events
        .by(&cat)
        .get(&format!("/api/events/{hidden}"))
        .await;
    assert_problem(&r, http::StatusCode::NOT_FOUND, "not_found");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn the_database_makes_exactly_the_catalogues_types(pool: PgPool) {
    use shared::audit::Action;
    use shared::events::catalogue::{self, TYPES};
    // Each action with rows that take every branch of the mapping.
    let sides = [
        (Value::Null, json!({})),
        (
            json!({"completed": false, "role": "user", "status": "submitted"}),
            json!({"completed": true, "role": "admin", "status": "received"}),
        ),
        (
            json!({"completed": true, "role": "user", "status": "submitted"}),
            json!({"completed": true, "role": "user", "status": "partially_received"}),
        ),
    ];
    let mut made = std::collections::BTreeSet::new();
    for action in Action::ALL {
        for (before, after) in &sides {
            let made_type: Option<String> =
                sqlx::query_scalar("SELECT stockroom_event_type($1, $2, $3)")
                    .bind(action.name())
                    .bind(before)
                    .bind(after)
                    .fetch_one(&pool)
                    .await
                    .unwrap();
            made.extend(made_type);
        }
    }
    // Made by triggers and the scheduler, not from audit rows.
    made.extend(["stock.changed", "stock.low", "lot.expiring"].map(str::to_owned));
    let catalogued: std::collections::BTreeSet<String> =
        TYPES.iter().map(|t| t.name.to_owned()).collect();
    assert_eq!(made, catalogued);
    for t in TYPES {
        let module: Option<String> = sqlx::query_scalar("SELECT stockroom_event_module($1)")
            .bind(t.name)
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(module.as_deref(), Some(t.module), "{}", t.name);
        assert_eq!(catalogue::find(t.name), Some(t));
    }
}
