//! The organization's own settings: who reads and who changes them.
//!
//! Routes: `GET /api/organization`, `PATCH /api/organization`.

use http::StatusCode;
use serde_json::json;
use shared::auth::Role;
use shared::testing::assert_problem;
use sqlx::PgPool;

use crate::support::*;

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn every_member_reads_the_organization(pool: PgPool) {
    let apps = apps(pool);
    let ann = apps.users.register("ann@example.com").await;
    let bob = apps
        .users
        .member(&ann.org_id, "bob@example.com", json!({}))
        .await;
    for token in [&ann.token, &bob.token] {
        let r = apps.users.by(token).get("/api/organization").await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(r.body["id"], ann.org_id.as_str());
        assert_eq!(r.body["default_currency"], "USD");
    }
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn owners_and_admins_change_the_default_currency_and_it_is_audited(pool: PgPool) {
    let apps = apps(pool.clone());
    let ann = apps.users.register("ann@example.com").await;
    let r = apps
        .users
        .by(&ann.token)
        .patch("/api/organization", json!({"default_currency": "EUR"}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["default_currency"], "EUR");
    assert_eq!(r.body["name"], "Org", "unsent fields keep their value");
    let admin = apps
        .users
        .person(&ann.org_id, "ada@example.com", Role::Admin, json!({}))
        .await;
    let r = apps
        .users
        .by(&admin.token)
        .patch("/api/organization", json!({"name": "Acme"}))
        .await;
    assert_eq!(
        (r.status, &r.body["name"]),
        (StatusCode::OK, &json!("Acme"))
    );
    let audited: Vec<(serde_json::Value, serde_json::Value)> = sqlx::query_as(
        "SELECT before, after FROM audit_log WHERE action = 'organization_updated' ORDER BY id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(audited.len(), 2);
    assert_eq!(audited[0].0["default_currency"], "USD");
    assert_eq!(audited[0].1["default_currency"], "EUR");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn the_count_interval_and_selling_expired_stock_are_the_organizations_to_set(pool: PgPool) {
    let apps = apps(pool);
    let ann = apps.users.register("ann@example.com").await;
    let r = apps.users.by(&ann.token).get("/api/organization").await;
    assert_eq!(
        (&r.body["count_interval_days"], &r.body["sell_expired"]),
        (&json!(90), &json!(false)),
        "{}",
        r.body
    );
    let r = apps
        .users
        .by(&ann.token)
        .patch(
            "/api/organization",
            json!({"count_interval_days": 30, "sell_expired": true}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["count_interval_days"], 30);
    assert_eq!(r.body["sell_expired"], true);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_user_cannot_change_the_organization(pool: PgPool) {
    let apps = apps(pool);
    let ann = apps.users.register("ann@example.com").await;
    let bob = apps
        .users
        .member(&ann.org_id, "bob@example.com", json!({"products": "write"}))
        .await;
    let r = apps
        .users
        .by(&bob.token)
        .patch("/api/organization", json!({"default_currency": "EUR"}))
        .await;
    assert_problem(&r, StatusCode::FORBIDDEN, "admin_required");
    let r = apps.users.by(&ann.token).get("/api/organization").await;
    assert_eq!(r.body["default_currency"], "USD");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn bad_values_are_refused_and_change_nothing(pool: PgPool) {
    let apps = apps(pool);
    let ann = apps.users.register("ann@example.com").await;
    let cases = [
        (json!({"default_currency": "eur"}), "default_currency"),
        (json!({"default_currency": "EURO"}), "default_currency"),
        (json!({"default_currency": null}), "default_currency"),
        (json!({"name": "  "}), "name"),
        (json!({"name": null}), "name"),
        (json!({"name": "Acme", "plan": "gold"}), "plan"),
        (json!({"count_interval_days": 0}), "count_interval_days"),
        (json!({"count_interval_days": null}), "count_interval_days"),
        (json!({"sell_expired": "yes"}), "sell_expired"),
    ];
    for (body, field) in cases {
        let r = apps
            .users
            .by(&ann.token)
            .patch("/api/organization", body.clone())
            .await;
        assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(r.body["errors"][0]["field"], field, "{body}: {}", r.body);
    }
    let r = apps.users.by(&ann.token).get("/api/organization").await;
    assert_eq!(r.body["default_currency"], "USD");
    assert_eq!(r.body["name"], "Org");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn an_api_key_reads_but_never_changes_the_organization(pool: PgPool) {
    let apps = apps(pool);
    let ann = apps.users.register("ann@example.com").await;
    let key = apps
        .users
        .by(&ann.token)
        .stepped_up()
        .post(
            "/api/api-keys",
            json!({"name": "till", "scopes": ["products:read"]}),
        )
        .await;
    assert_eq!(key.status, StatusCode::CREATED, "{}", key.body);
    let key = key.body["key"].as_str().unwrap().to_owned();
    let r = apps.users.by(&key).get("/api/organization").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = apps
        .users
        .by(&key)
        .patch("/api/organization", json!({"name": "Mine"}))
        .await;
    assert_problem(&r, StatusCode::FORBIDDEN, "admin_required");
}
