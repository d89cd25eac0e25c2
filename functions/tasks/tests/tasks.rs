//! The tasks function's API tests: `/api/tasks` (the caller's own) and `/api/{user_id}/tasks`.
//!
//! Routes: `GET /api/tasks`, `POST /api/tasks`, `GET /api/tasks/{id}`, `PUT /api/tasks/{id}`,
//!  `DELETE /api/tasks/{id}`, `PATCH /api/tasks/{id}/complete`, `GET /api/{user_id}/tasks`,
//!  `POST /api/{user_id}/tasks`, `GET /api/{user_id}/tasks/{id}`, `PUT /api/{user_id}/tasks/{id}`,
//!  `DELETE /api/{user_id}/tasks/{id}`, `PATCH /api/{user_id}/tasks/{id}/complete`.

use http::{Method, StatusCode};
use serde_json::{Value, json};
use shared::testing::{TestApp, assert_problem};
use sqlx::PgPool;

fn app(pool: PgPool) -> TestApp {
    let state = shared::testing::state_as(pool.clone(), shared::db::Login::Tenant, &[]);
    TestApp::new(tasks::app(state), pool)
}

/// Registers an organization; returns its owner's (user id, token).
async fn user(app: &TestApp, email: &str) -> (String, String) {
    let owner = app.register(email).await;
    (owner.user_id, owner.token)
}

async fn create(app: &TestApp, base: &str, token: &str, body: Value) -> Value {
    let r = app.by(token).post(base, body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.body
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn both_contracts_manage_the_same_tasks(pool: PgPool) {
    let app = app(pool);
    let (me, token) = user(&app, "ann@example.com").await;
    let scoped = format!("/api/{me}/tasks");
    let a = create(&app, "/api/tasks", &token, json!({"title": "Count bolts"})).await;
    assert_eq!(a["status"], "Pending");
    assert_eq!(a["user_id"], me.as_str());
    let b = create(
        &app,
        &scoped,
        &token,
        json!({"title": "Call supplier", "description": "About the delay"}),
    )
    .await;
    for base in ["/api/tasks", scoped.as_str()] {
        let list = app.by(&token).get(base).await;
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
    let done = app
        .by(&token)
        .send(Method::PATCH, &format!("{scoped}/{id}/complete"), None)
        .await;
    assert_eq!(done.body["status"], "Completed");
    let undone = app
        .by(&token)
        .send(Method::PATCH, &format!("/api/tasks/{id}/complete"), None)
        .await;
    assert_eq!(undone.body["status"], "Pending");
    let updated = app
        .by(&token)
        .put(&format!("/api/tasks/{id}"), json!({"description": null}))
        .await;
    assert_eq!(updated.body["title"], "Call supplier");
    assert!(updated.body["description"].is_null());
    let filtered = app.by(&token).get("/api/tasks?status=Pending&q=call").await;
    assert_eq!(filtered.body["items"].as_array().unwrap().len(), 1);
    let deleted = app.by(&token).delete(&format!("{scoped}/{id}")).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_problem(
        &app.by(&token).get(&format!("/api/tasks/{id}")).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn another_organizations_task_is_404_and_its_owners_path_403(pool: PgPool) {
    let app = app(pool);
    let (_, ann) = user(&app, "ann@example.com").await;
    let (bob_id, bob) = user(&app, "bob@example.com").await;
    let theirs = create(&app, "/api/tasks", &bob, json!({"title": "Bob's"})).await;
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
            &app.by(&ann).send(method, &path, body).await,
            StatusCode::NOT_FOUND,
            "not_found",
        );
    }
    // Ann owns another organization: Bob is nobody she may manage, so his path is refused as
    // any id she may not manage is, existing or not.
    let elsewhere = app.by(&ann).get(&format!("/api/{bob_id}/tasks")).await;
    assert_problem(&elsewhere, StatusCode::FORBIDDEN, "other_user");
    let write = app
        .by(&ann)
        .post(&format!("/api/{bob_id}/tasks"), json!({"title": "x"}))
        .await;
    assert_problem(&write, StatusCode::FORBIDDEN, "other_user");
    // Not an id at all: a path that does not exist, as for any malformed id.
    let malformed = app.by(&ann).get("/api/not-a-user/tasks").await;
    assert_problem(&malformed, StatusCode::NOT_FOUND, "not_found");
    let bobs = app.by(&bob).get("/api/tasks").await;
    assert_eq!(bobs.body["items"][0]["title"], "Bob's", "unchanged");
    assert_eq!(
        app.by(&ann).get("/api/tasks").await.body["items"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn invalid_fields_are_422_naming_the_field(pool: PgPool) {
    let app = app(pool);
    let (_, token) = user(&app, "ann@example.com").await;
    for (body, field) in [
        (json!({"title": ""}), "title"),
        (json!({"title": "x".repeat(201)}), "title"),
        (
            json!({"title": "ok", "description": "d".repeat(1001)}),
            "description",
        ),
        (json!({"title": "ok", "status": "Done"}), "status"),
    ] {
        let r = app.by(&token).post("/api/tasks", body).await;
        assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(r.body["errors"][0]["field"], field, "{}", r.body);
    }
    // 200 characters exactly is fine, multi-byte included.
    create(
        &app,
        "/api/tasks",
        &token,
        json!({"title": "é".repeat(200)}),
    )
    .await;
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_colleague_cannot_reach_someone_elses_tasks_and_the_owner_only_by_their_path(
    pool: PgPool,
) {
    let app = app(pool);
    let owner = app.register("ann@example.com").await;
    let clerk = app
        .member(&owner.org_id, "clerk@example.com", json!({}))
        .await;
    let colleague = app
        .member(&owner.org_id, "col@example.com", json!({}))
        .await;
    let theirs = create(&app, "/api/tasks", &clerk.token, json!({"title": "Mine"})).await;
    let id = theirs["id"].as_str().unwrap();
    // A colleague: 404 on the task, 403 on the path.
    assert_problem(
        &app.by(&colleague.token)
            .get(&format!("/api/tasks/{id}"))
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_problem(
        &app.by(&colleague.token)
            .get(&format!("/api/{}/tasks", clerk.user_id))
            .await,
        StatusCode::FORBIDDEN,
        "other_user",
    );
    // The owner's own list stays their own; the clerk's is reached by naming the clerk.
    let list = app.by(&owner.token).get("/api/tasks").await;
    assert_eq!(list.body["items"], json!([]));
    assert_problem(
        &app.by(&owner.token).get(&format!("/api/tasks/{id}")).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    let team = app
        .by(&owner.token)
        .get(&format!("/api/{}/tasks/{id}", clerk.user_id))
        .await;
    assert_eq!(team.status, StatusCode::OK, "{}", team.body);
    // No module grant is needed for one's own list.
    let mine = app.by(&colleague.token).get("/api/tasks").await;
    assert_eq!(
        (mine.status, &mine.body["items"]),
        (StatusCode::OK, &json!([]))
    );
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn the_list_pages_newest_first_with_a_cursor_and_a_total(pool: PgPool) {
    let app = app(pool);
    let (_, token) = user(&app, "ann@example.com").await;
    for n in 1..=5 {
        create(
            &app,
            "/api/tasks",
            &token,
            json!({"title": format!("Task {n}")}),
        )
        .await;
    }
    let mut titles = Vec::new();
    let mut path = "/api/tasks?limit=2&include_total=true".to_owned();
    loop {
        let page = app.by(&token).get(&path).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        assert_eq!(page.body["total"], 5);
        titles.extend(
            page.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["title"].as_str().unwrap().to_owned()),
        );
        match page.body["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/tasks?limit=2&include_total=true&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(titles, ["Task 5", "Task 4", "Task 3", "Task 2", "Task 1"]);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_retried_create_with_the_same_idempotency_key_creates_one_task(pool: PgPool) {
    let app = app(pool);
    let (_, token) = user(&app, "ann@example.com").await;
    let send = |title: &'static str| {
        let request = http::Request::post("/api/tasks")
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "application/json")
            .header("idempotency-key", "retry-1")
            .body(axum::body::Body::from(json!({"title": title}).to_string()))
            .unwrap();
        shared::testing::send(&app.router, request)
    };
    let first = send("Count bolts").await;
    let again = send("Count bolts").await;
    assert_eq!(first.status, StatusCode::CREATED);
    assert_eq!(again.status, StatusCode::CREATED);
    assert_eq!(first.body["id"], again.body["id"]);
    let other_body = send("Something else").await;
    assert_problem(&other_body, StatusCode::CONFLICT, "idempotency_key_reused");
    let list = app.by(&token).get("/api/tasks").await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 1);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn bad_updates_and_filters_are_422_and_change_nothing(pool: PgPool) {
    let app = app(pool);
    let (_, token) = user(&app, "ann@example.com").await;
    let task = create(&app, "/api/tasks", &token, json!({"title": "Count bolts"})).await;
    let path = format!("/api/tasks/{}", task["id"].as_str().unwrap());
    for (body, field) in [
        (json!({"title": ""}), "title"),
        (json!({"status": "Done"}), "status"),
        (json!({"description": "d".repeat(1001)}), "description"),
    ] {
        let r = app.by(&token).put(&path, body).await;
        assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(r.body["errors"][0]["field"], field, "{}", r.body);
    }
    assert_eq!(app.by(&token).get(&path).await.body, task, "unchanged");
    let nul = app.by(&token).get("/api/tasks?q=a%00b").await;
    assert_problem(&nul, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(nul.body["errors"][0]["field"], "q", "{}", nul.body);
    let filter = app.by(&token).get("/api/tasks?status=Done").await;
    assert_problem(
        &filter,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    assert_eq!(
        filter.body["errors"][0]["field"], "status",
        "{}",
        filter.body
    );
    assert_problem(
        &app.by(&token).get("/api/tasks/not-a-uuid").await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
}

fn titles(list: &Value) -> Vec<&str> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["title"].as_str().unwrap())
        .collect()
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn completed_is_a_boolean_view_of_the_status(pool: PgPool) {
    // What the to-do clients read, set and filter by.
    let app = app(pool);
    let (_, token) = user(&app, "ann@example.com").await;
    let open = create(&app, "/api/tasks", &token, json!({"title": "Open"})).await;
    assert_eq!(
        (&open["completed"], &open["status"]),
        (&json!(false), &json!("Pending"))
    );
    let done = create(
        &app,
        "/api/tasks",
        &token,
        json!({"title": "Done", "completed": true}),
    )
    .await;
    assert_eq!(
        (&done["completed"], &done["status"]),
        (&json!(true), &json!("Completed"))
    );

    let completed = app.by(&token).get("/api/tasks?completed=true").await;
    assert_eq!(titles(&completed.body), ["Done"]);
    let pending = app.by(&token).get("/api/tasks?completed=false").await;
    assert_eq!(titles(&pending.body), ["Open"]);

    let path = format!("/api/tasks/{}", open["id"].as_str().unwrap());
    let r = app.by(&token).put(&path, json!({"completed": true})).await;
    assert_eq!(
        (&r.body["completed"], &r.body["status"]),
        (&json!(true), &json!("Completed"))
    );
    let r = app
        .by(&token)
        .send(Method::PATCH, &format!("{path}/complete"), None)
        .await;
    assert_eq!(r.body["completed"], false, "the toggle keeps both in step");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn completed_and_status_must_agree_and_bad_filters_are_refused(pool: PgPool) {
    let app = app(pool.clone());
    let (_, token) = user(&app, "ann@example.com").await;
    let r = app
        .by(&token)
        .post(
            "/api/tasks",
            json!({"title": "X", "status": "Pending", "completed": true}),
        )
        .await;
    assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(r.body["errors"][0]["field"], "completed");
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM tasks")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(count, 0);
    for (query, field) in [
        ("completed=yes", "completed"),
        ("status=Done", "status"),
        ("done=true", "done"),
        ("completed=true&sort=title", "sort"),
    ] {
        let r = app.by(&token).get(&format!("/api/tasks?{query}")).await;
        assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(r.body["errors"][0]["field"], field, "{query}: {}", r.body);
    }
    // Empty values are absent parameters (what URLSearchParams makes of empty variables).
    create(&app, "/api/tasks", &token, json!({"title": "Kept"})).await;
    // Both filters apply: a pending task that is completed does not exist.
    let r = app
        .by(&token)
        .get("/api/tasks?completed=true&status=Pending&include_total=true")
        .await;
    assert_eq!((r.status, &r.body["total"]), (StatusCode::OK, &json!(0)));
    let r = app
        .by(&token)
        .get("/api/tasks?completed=&status=&q=&cursor=&limit=")
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(titles(&r.body), ["Kept"]);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn owners_assign_and_follow_their_teams_to_dos(pool: PgPool) {
    let app = app(pool.clone());
    let owner = app.register("ann@example.com").await;
    // A cashier with no module grants at all still keeps their own list.
    let cashier = app.member(&owner.org_id, "cy@example.com", json!({})).await;
    let own = create(
        &app,
        "/api/tasks",
        &cashier.token,
        json!({"title": "Count the till"}),
    )
    .await;
    assert_eq!(own["created_by"], cashier.user_id.as_str());

    let team = format!("/api/{}/tasks", cashier.user_id);
    let assigned = create(&app, &team, &owner.token, json!({"title": "Restock paint"})).await;
    assert_eq!(
        assigned["user_id"],
        cashier.user_id.as_str(),
        "the cashier's task"
    );
    assert_eq!(
        assigned["created_by"],
        owner.user_id.as_str(),
        "made by the owner"
    );
    let seen = app.by(&owner.token).get(&team).await;
    assert_eq!(titles(&seen.body), ["Restock paint", "Count the till"]);
    let theirs = app.by(&cashier.token).get("/api/tasks").await;
    assert_eq!(titles(&theirs.body), ["Restock paint", "Count the till"]);
    let done = app
        .by(&cashier.token)
        .send(
            Method::PATCH,
            &format!("/api/tasks/{}/complete", assigned["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(done.body["completed"], true);

    // Staff do not reach each other's, nor the owner's.
    let other = app
        .by(&cashier.token)
        .get(&format!("/api/{}/tasks", owner.user_id))
        .await;
    assert_problem(&other, StatusCode::FORBIDDEN, "other_user");
    // Someone of another organization is someone the owner may not manage: the same 403 as an
    // id that is nobody anywhere, so the answer tells nothing about which ids exist.
    let stranger = app.register("zed@example.com").await;
    for id in [stranger.user_id, uuid::Uuid::new_v4().to_string()] {
        let r = app.by(&owner.token).get(&format!("/api/{id}/tasks")).await;
        assert_problem(&r, StatusCode::FORBIDDEN, "other_user");
        assert!(
            r.body["detail"]
                .as_str()
                .unwrap()
                .starts_with("User ID mismatch"),
            "{}",
            r.body
        );
    }
    let audited: Vec<Option<uuid::Uuid>> = sqlx::query_scalar(
        "SELECT actor_user_id FROM audit_log WHERE action = 'task_created' ORDER BY id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let owner_id: uuid::Uuid = owner.user_id.parse().unwrap();
    assert_eq!(
        audited.last().copied().flatten(),
        Some(owner_id),
        "the owner acted"
    );
}
