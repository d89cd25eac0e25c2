//! Webhook endpoints: made with a step-up, their secret shown once and sealed at rest, checked
//! for where they may send, changed, rotated and deleted; owners and admins only.
//!
//! Routes: `POST /api/webhook-endpoints`, `GET /api/webhook-endpoints`,
//!  `GET /api/webhook-endpoints/{id}`, `PATCH /api/webhook-endpoints/{id}`,
//!  `DELETE /api/webhook-endpoints/{id}`, `POST /api/webhook-endpoints/{id}/rotate-secret`.

use http::StatusCode;
use serde_json::{Value, json};
use shared::testing::assert_problem;
use sqlx::PgPool;

use crate::support::*;

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn an_endpoint_is_made_with_a_step_up_and_its_secret_is_shown_once(pool: PgPool) {
    let apps = apps_with(pool, &[]);
    let ann = apps.events.register("ann@example.com").await;
    let body = json!({"url": "https://hooks.example.com/stockroom", "event_types": ["stock.low", "purchase_order.*"], "description": "Shop"});
    let refused = apps
        .events
        .by(&ann)
        .post("/api/webhook-endpoints", body.clone())
        .await;
    assert_problem(&refused, StatusCode::UNAUTHORIZED, "step_up_required");

    let made = apps
        .events
        .by(&ann)
        .stepped_up()
        .post("/api/webhook-endpoints", body)
        .await
        .assert(201);
    let secret = made["secret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_"), "{made}");
    assert_eq!(made["enabled"], true);
    assert_eq!(
        made["event_types"],
        json!(["stock.low", "purchase_order.*"])
    );
    let id = made["id"].as_str().unwrap();

    // Never again, and never in the clear at rest.
    let listed = apps
        .events
        .by(&ann)
        .get("/api/webhook-endpoints")
        .await
        .assert(200);
    assert_eq!(listed["items"][0]["id"], id);
    assert!(listed["items"][0].get("secret").is_none());
    let one = apps
        .events
        .by(&ann)
        .get(&format!("/api/webhook-endpoints/{id}"))
        .await
        .assert(200);
    assert!(one.get("secret").is_none());
    let stored: Vec<u8> = sqlx::query_scalar("SELECT secret FROM webhook_endpoints")
        .fetch_one(&apps.pool)
        .await
        .unwrap();
    assert!(!stored.windows(secret.len()).any(|w| w == secret.as_bytes()));
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn an_endpoint_may_send_only_to_public_https_urls_and_known_types(pool: PgPool) {
    let apps = apps_with(pool, &[]);
    let ann = apps.events.register("ann@example.com").await;
    for url in [
        "http://hooks.example.com/x",
        "https://127.0.0.1/x",
        "https://10.0.0.1/x",
        "https://[::1]/x",
        "https://169.254.169.254/latest/meta-data/",
        "https://user:secret@hooks.example.com/x",
        "https://hooks.example.com:6379/x",
        "https://localhost/x",
    ] {
        let r = apps
            .events
            .by(&ann)
            .stepped_up()
            .post(
                "/api/webhook-endpoints",
                json!({"url": url, "event_types": ["product.exploded", "*"]}),
            )
            .await;
        assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        let fields: Vec<&str> = r.body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| e["field"].as_str())
            .collect();
        assert_eq!(fields, ["url", "event_types[0]"], "{url}: {}", r.body);
    }
    let none: i64 = sqlx::query_scalar("SELECT count(*) FROM webhook_endpoints")
        .fetch_one(&apps.pool)
        .await
        .unwrap();
    assert_eq!(none, 0);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn only_owners_and_admins_manage_endpoints(pool: PgPool) {
    let apps = apps(pool);
    let ann = apps.events.register("ann@example.com").await;
    let bob = apps.bob(&ann, json!({"inventory": "write"})).await;
    let r = apps.events.by(&bob).get("/api/webhook-endpoints").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    let made = apps
        .endpoint(&ann, "https://hooks.example.com/a", json!(["*"]))
        .await;
    let id = made["id"].as_str().unwrap();
    let r = apps
        .events
        .by(&bob)
        .delete(&format!("/api/webhook-endpoints/{id}"))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    // Another organization's owner finds nothing there.
    let cat = apps.events.register("cat@example.com").await;
    let r = apps
        .events
        .by(&cat)
        .get(&format!("/api/webhook-endpoints/{id}"))
        .await;
    assert_problem(&r, StatusCode::NOT_FOUND, "not_found");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn an_endpoint_changes_and_a_new_destination_needs_a_step_up(pool: PgPool) {
    let apps = apps(pool);
    let ann = apps.events.register("ann@example.com").await;
    let made = apps
        .endpoint(&ann, "https://hooks.example.com/a", json!(["*"]))
        .await;
    let path = format!("/api/webhook-endpoints/{}", made["id"].as_str().unwrap());

    let quiet = apps
        .events
        .by(&ann)
        .patch(&path, json!({"description": "Till", "enabled": false}))
        .await
        .assert(200);
    assert_eq!(quiet["enabled"], false);
    assert_eq!(quiet["disabled_reason"], "by_request");
    assert_eq!(quiet["description"], "Till");
    let r = apps
        .events
        .by(&ann)
        .patch(&path, json!({"url": "https://elsewhere.example.com/b"}))
        .await;
    assert_problem(&r, StatusCode::UNAUTHORIZED, "step_up_required");
    let moved = apps
        .events
        .by(&ann)
        .stepped_up()
        .patch(
            &path,
            json!({"url": "https://elsewhere.example.com/b", "event_types": ["task.*"], "enabled": true}),
        )
        .await
        .assert(200);
    assert_eq!(moved["url"], "https://elsewhere.example.com/b");
    assert_eq!(moved["event_types"], json!(["task.*"]));
    assert_eq!(moved["disabled_reason"], Value::Null);
    let r = apps
        .events
        .by(&ann)
        .patch(&path, json!({"event_types": []}))
        .await;
    assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");

    apps.events.by(&ann).delete(&path).await.assert(204);
    let r = apps.events.by(&ann).get(&path).await;
    assert_problem(&r, StatusCode::NOT_FOUND, "not_found");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_rotated_secret_is_new_and_the_old_one_is_kept_a_day(pool: PgPool) {
    let apps = apps(pool);
    let ann = apps.events.register("ann@example.com").await;
    let made = apps
        .endpoint(&ann, "https://hooks.example.com/a", json!(["*"]))
        .await;
    let path = format!(
        "/api/webhook-endpoints/{}/rotate-secret",
        made["id"].as_str().unwrap()
    );
    let r = apps.events.by(&ann).post(&path, json!({})).await;
    assert_problem(&r, StatusCode::UNAUTHORIZED, "step_up_required");
    let rotated = apps
        .events
        .by(&ann)
        .stepped_up()
        .post(&path, json!({}))
        .await
        .assert(200);
    assert_ne!(rotated["secret"], made["secret"]);
    let until = chrono::DateTime::parse_from_rfc3339(
        rotated["previous_secret_expires_at"].as_str().unwrap(),
    )
    .unwrap();
    let hours =
        (until.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_minutes() as f64 / 60.0;
    assert!((23.9..=24.0).contains(&hours), "{hours}");
}
