//! `/api/tasks`: `completed` and `status` agree on create, update and in filters.

use super::*;

// 3. Tasks' `completed`.

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_task_is_completed_exactly_when_its_status_is_completed(pool: PgPool) {
    let api = start(&pool);
    let ann = Caller::owner(&api).await;
    let open = ann
        .created("/api/tasks", json!({"title": "Count bolts"}))
        .await;
    assert_eq!(
        (&open["status"], &open["completed"]),
        (&json!("Pending"), &json!(false))
    );
    let done = ann
        .created(
            "/api/tasks",
            json!({"title": "Order nuts", "status": "Completed"}),
        )
        .await;
    assert_eq!(
        (&done["status"], &done["completed"]),
        (&json!("Completed"), &json!(true))
    );

    let id = open["id"].as_str().unwrap();
    let toggled = ann
        .send(Method::PATCH, &format!("/api/tasks/{id}/complete"), None)
        .await;
    assert_eq!(toggled.status, 200, "{}", toggled.body);
    assert_eq!(
        (&toggled.body["status"], &toggled.body["completed"]),
        (&json!("Completed"), &json!(true))
    );
    let listed = ann.read("/api/tasks").await;
    for task in listed["items"].as_array().unwrap() {
        assert_eq!(task["completed"], task["status"] == "Completed", "{task}");
    }
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn completed_on_create_and_put_sets_the_status(pool: PgPool) {
    let api = start(&pool);
    let ann = Caller::owner(&api).await;
    let task = ann
        .created(
            "/api/tasks",
            json!({"title": "Count bolts", "completed": true}),
        )
        .await;
    assert_eq!(
        (&task["status"], &task["completed"]),
        (&json!("Completed"), &json!(true))
    );

    let path = format!("/api/tasks/{}", task["id"].as_str().unwrap());
    let reopened = ann.put(&path, json!({"completed": false})).await;
    assert_eq!(reopened.status, 200, "{}", reopened.body);
    assert_eq!(
        (&reopened.body["status"], &reopened.body["completed"]),
        (&json!("Pending"), &json!(false))
    );
    assert_eq!(
        reopened.body["title"], "Count bolts",
        "the title was not sent"
    );
    let stored: String = sqlx::query_scalar("SELECT status::text FROM tasks")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(stored, "Pending");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn tasks_are_filtered_by_completed(pool: PgPool) {
    let api = start(&pool);
    let ann = Caller::owner(&api).await;
    ann.created("/api/tasks", json!({"title": "Open"})).await;
    ann.created("/api/tasks", json!({"title": "Done", "completed": true}))
        .await;

    assert_eq!(
        titles(&ann.read("/api/tasks?completed=true").await),
        ["Done"]
    );
    assert_eq!(
        titles(&ann.read("/api/tasks?completed=false").await),
        ["Open"]
    );
    let agreeing = ann.read("/api/tasks?completed=true&status=Completed").await;
    assert_eq!(titles(&agreeing), ["Done"]);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn completed_contradicting_status_is_422_naming_completed(pool: PgPool) {
    let api = start(&pool);
    let ann = Caller::owner(&api).await;
    let r = ann
        .post(
            "/api/tasks",
            json!({"title": "Count bolts", "status": "Pending", "completed": true}),
        )
        .await;
    assert_refused(&r, &["completed"]);
    assert_eq!(count(&pool, "SELECT count(*) FROM tasks").await, 0);

    let task = ann
        .created("/api/tasks", json!({"title": "Order nuts"}))
        .await;
    let path = format!("/api/tasks/{}", task["id"].as_str().unwrap());
    let r = ann
        .put(
            &path,
            json!({"title": "Renamed", "status": "Completed", "completed": false}),
        )
        .await;
    assert_refused(&r, &["completed"]);

    let stored: (String, String) = sqlx::query_as("SELECT title, status::text FROM tasks")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(stored, ("Order nuts".into(), "Pending".into()));
    let audited = "SELECT count(*) FROM audit_log WHERE entity = 'task'";
    assert_eq!(count(&pool, audited).await, 1, "only the creation");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_completed_filter_that_is_not_a_boolean_is_422(pool: PgPool) {
    let api = start(&pool);
    let ann = Caller::owner(&api).await;
    let r = ann.get("/api/tasks?completed=yes").await;
    assert_refused(&r, &["completed"]);
}
