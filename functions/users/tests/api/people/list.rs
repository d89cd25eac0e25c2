//! `GET /api/users` and `GET /api/users/{id}`: who lists people, page by page, filtered.
//!
//! Routes: `GET /api/users`, `GET /api/users/{id}`.

use super::*;

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn an_owner_lists_the_organizations_people_page_by_page(pool: PgPool) {
    let apps = apps(pool);
    let ann = apps.users.register("ann@example.com").await;
    for n in 0..3 {
        apps.users
            .member(&ann.org_id, &format!("u{n}@example.com"), json!({}))
            .await;
    }
    let first = apps
        .users
        .by(&ann.token)
        .get("/api/users?limit=2&include_total=true")
        .await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    assert_eq!(first.body["items"].as_array().unwrap().len(), 2);
    assert_eq!(first.body["total"], 4);
    let cursor = first.body["next_cursor"].as_str().unwrap();
    let second = apps
        .users
        .by(&ann.token)
        .get(&format!("/api/users?limit=2&cursor={cursor}"))
        .await;
    assert_eq!(second.body["items"].as_array().unwrap().len(), 2);
    assert!(second.body["next_cursor"].is_null());
    let emails: Vec<&str> = first.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .chain(second.body["items"].as_array().unwrap())
        .map(|u| u["email"].as_str().unwrap())
        .collect();
    assert_eq!(
        emails,
        [
            "ann@example.com",
            "u0@example.com",
            "u1@example.com",
            "u2@example.com"
        ]
    );
    assert!(!first.body.to_string().contains("$2b$"));
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn lists_filter_by_text_role_and_activity(pool: PgPool) {
    let apps = apps(pool);
    let ann = apps.users.register("ann@example.com").await;
    apps.users
        .person(&ann.org_id, "bob@example.com", Role::Admin, json!({}))
        .await;
    apps.users
        .member(&ann.org_id, "cat@example.com", json!({}))
        .await;
    let admins = apps.users.by(&ann.token).get("/api/users?role=admin").await;
    assert_eq!(admins.body["items"].as_array().unwrap().len(), 1);
    let search = apps.users.by(&ann.token).get("/api/users?q=CAT").await;
    assert_eq!(search.body["items"][0]["email"], "cat@example.com");
    let wildcard = apps.users.by(&ann.token).get("/api/users?q=%25").await;
    assert_eq!(
        wildcard.body["items"].as_array().unwrap().len(),
        0,
        "% is a literal, not a wildcard"
    );
    let bad = apps.users.by(&ann.token).get("/api/users?limit=500").await;
    assert_problem(&bad, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let bad_role = apps
        .users
        .by(&ann.token)
        .get("/api/users?role=superuser")
        .await;
    assert_problem(
        &bad_role,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn an_unknown_or_malformed_id_is_404(pool: PgPool) {
    let apps = apps(pool);
    let ann = apps.users.register("ann@example.com").await;
    assert_problem(
        &apps.users.by(&ann.token).get("/api/users/not-a-uuid").await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    let random = uuid::Uuid::new_v4();
    assert_problem(
        &apps
            .users
            .by(&ann.token)
            .get(&format!("/api/users/{random}"))
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
}
