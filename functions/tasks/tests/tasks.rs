use std::sync::atomic::{AtomicU32, Ordering};

use http::{Method, StatusCode};
use serde_json::{Value, json};
use shared::testing::{TestApp, assert_problem};
use sqlx::PgPool;

struct Apps {
    auth: TestApp,
    tasks: TestApp,
}

fn apps(pool: PgPool) -> Apps {
    let state = shared::testing::state(pool.clone());
    Apps {
        auth: TestApp::new(auth::app(state.clone()), pool.clone()),
        tasks: TestApp::new(tasks::app(state), pool),
    }
}

fn next_ip() -> String {
    static N: AtomicU32 = AtomicU32::new(1);
    format!("10.9.0.{}", N.fetch_add(1, Ordering::Relaxed))
}

/// Registers an organization; returns (user id, token).
async fn user(apps: &Apps, email: &str) -> (String, String) {
    let body = json!({"organization_name": "Org", "name": "U", "email": email, "password": "Corr3ct-horse"});
    let r = apps
        .auth
        .request_from(
            Method::POST,
            "/api/auth/register",
            Some(body),
            None,
            Some(&next_ip()),
        )
        .await;
    (
        r.body["user"]["id"].as_str().unwrap().into(),
        r.body["access_token"].as_str().unwrap().into(),
    )
}

async fn create(apps: &Apps, base: &str, token: &str, body: Value) -> Value {
    let r = apps.tasks.post_with(base, body, token).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.body
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn both_contracts_manage_the_same_tasks(pool: PgPool) {
    let apps = apps(pool);
    let (me, token) = user(&apps, "ann@example.com").await;
    let scoped = format!("/api/{me}/tasks");
    let a = create(&apps, "/api/tasks", &token, json!({"title": "Count bolts"})).await;
    assert_eq!(a["status"], "Pending");
    assert_eq!(a["user_id"], me.as_str());
    let b = create(
        &apps,
        &scoped,
        &token,
        json!({"title": "Call supplier", "description": "About the delay"}),
    )
    .await;
    for base in ["/api/tasks", scoped.as_str()] {
        let list = apps.tasks.get_with(base, &token).await;
        let titles: Vec<&str> = list.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["title"].as_str().unwrap())
            .collect();
        assert_eq!(
            titles,
            ["Call supplier", "Count bolts"],
            "newest first at {base}"
        );
    }
    let id = b["id"].as_str().unwrap();
    let done = apps
        .tasks
        .request(
            Method::PATCH,
            &format!("{scoped}/{id}/complete"),
            None,
            Some(&token),
        )
        .await;
    assert_eq!(done.body["status"], "Completed");
    let undone = apps
        .tasks
        .request(
            Method::PATCH,
            &format!("/api/tasks/{id}/complete"),
            None,
            Some(&token),
        )
        .await;
    assert_eq!(undone.body["status"], "Pending");
    let updated = apps
        .tasks
        .request(
            Method::PUT,
            &format!("/api/tasks/{id}"),
            Some(json!({"description": null})),
            Some(&token),
        )
        .await;
    assert_eq!(updated.body["title"], "Call supplier");
    assert!(updated.body["description"].is_null());
    let filtered = apps
        .tasks
        .get_with("/api/tasks?status=Pending&q=call", &token)
        .await;
    assert_eq!(filtered.body["items"].as_array().unwrap().len(), 1);
    let deleted = apps
        .tasks
        .request(
            Method::DELETE,
            &format!("{scoped}/{id}"),
            None,
            Some(&token),
        )
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_problem(
        &apps
            .tasks
            .get_with(&format!("/api/tasks/{id}"), &token)
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn another_users_task_is_404_and_their_path_is_403(pool: PgPool) {
    let apps = apps(pool);
    let (_, ann) = user(&apps, "ann@example.com").await;
    let (bob_id, bob) = user(&apps, "bob@example.com").await;
    let theirs = create(&apps, "/api/tasks", &bob, json!({"title": "Bob's"})).await;
    let id = theirs["id"].as_str().unwrap();
    for (method, path, body) in [
        (Method::GET, format!("/api/tasks/{id}"), None),
        (
            Method::PUT,
            format!("/api/tasks/{id}"),
            Some(json!({"title": "Mine"})),
        ),
        (Method::DELETE, format!("/api/tasks/{id}"), None),
        (Method::PATCH, format!("/api/tasks/{id}/complete"), None),
    ] {
        assert_problem(
            &apps.tasks.request(method, &path, body, Some(&ann)).await,
            StatusCode::NOT_FOUND,
            "not_found",
        );
    }
    let forbidden = apps
        .tasks
        .get_with(&format!("/api/{bob_id}/tasks"), &ann)
        .await;
    assert_problem(&forbidden, StatusCode::FORBIDDEN, "other_user");
    let write = apps
        .tasks
        .post_with(&format!("/api/{bob_id}/tasks"), json!({"title": "x"}), &ann)
        .await;
    assert_problem(&write, StatusCode::FORBIDDEN, "other_user");
    let bobs = apps.tasks.get_with("/api/tasks", &bob).await;
    assert_eq!(bobs.body["items"][0]["title"], "Bob's", "unchanged");
    assert_eq!(
        apps.tasks.get_with("/api/tasks", &ann).await.body["items"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn invalid_fields_are_422_naming_the_field(pool: PgPool) {
    let apps = apps(pool);
    let (_, token) = user(&apps, "ann@example.com").await;
    for (body, field) in [
        (json!({"title": ""}), "title"),
        (json!({"title": "x".repeat(201)}), "title"),
        (
            json!({"title": "ok", "description": "d".repeat(1001)}),
            "description",
        ),
        (json!({"title": "ok", "status": "Done"}), "status"),
    ] {
        let r = apps.tasks.post_with("/api/tasks", body, &token).await;
        assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(r.body["errors"][0]["field"], field, "{}", r.body);
    }
    // 200 characters exactly is fine, multi-byte included.
    create(
        &apps,
        "/api/tasks",
        &token,
        json!({"title": "é".repeat(200)}),
    )
    .await;
}
