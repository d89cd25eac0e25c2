//! `/api/suppliers`: create, list, update, deactivate and reactivate; who may, and nothing of
//! another organization.
//!
//! Routes: `GET /api/suppliers`, `POST /api/suppliers`, `GET /api/suppliers/{id}`,
//!  `PATCH /api/suppliers/{id}`, `POST /api/suppliers/{id}/deactivate`,
//!  `POST /api/suppliers/{id}/reactivate`.

use super::*;

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn deactivated_suppliers_leave_the_list(pool: PgPool) {
    let app = app(pool);
    let org = app.register("ann@example.com").await;
    let a = create(&app, &org, json!({"name": "Bravo"})).await;
    create(&app, &org, json!({"name": "alpha"})).await;
    let names = |r: &shared::testing::TestResponse| -> Vec<String> {
        r.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        names(&app.by(&org.token).get("/api/suppliers").await),
        ["alpha", "Bravo"]
    );
    let off = app
        .by(&org.token)
        .post(
            &format!("/api/suppliers/{}/deactivate", a["id"].as_str().unwrap()),
            json!({}),
        )
        .await;
    assert_eq!(off.body["is_active"], false);
    assert_eq!(
        names(&app.by(&org.token).get("/api/suppliers").await),
        ["alpha"]
    );
    assert_eq!(
        names(&app.by(&org.token).get("/api/suppliers?active=false").await),
        ["Bravo"]
    );
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn an_update_changes_only_what_was_sent(pool: PgPool) {
    let app = app(pool);
    let org = app.register("ann@example.com").await;
    let s = create(
        &app,
        &org,
        json!({"name": "Acme", "phone": "123", "payment_details": iban_details()}),
    )
    .await;
    let path = format!("/api/suppliers/{}", s["id"].as_str().unwrap());
    let r = app
        .by(&org.token)
        .stepped_up()
        .patch(
            &path,
            json!({"notes": "Closed in August", "payment_details": null}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["phone"], "123");
    assert_eq!(r.body["notes"], "Closed in August");
    assert!(r.body["payment_details"].is_null());
    let bad = app
        .by(&org.token)
        .patch(&path, json!({"website": "ftp://x"}))
        .await;
    assert_problem(&bad, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn creating_twice_with_one_idempotency_key_creates_one_supplier(pool: PgPool) {
    let app = app(pool.clone());
    let org = app.register("ann@example.com").await;
    let send = || {
        let request = http::Request::post("/api/suppliers")
            .header("authorization", format!("Bearer {}", org.token))
            .header("content-type", "application/json")
            .header("idempotency-key", "supplier-1")
            .body(axum::body::Body::from(json!({"name": "Acme"}).to_string()))
            .unwrap();
        shared::testing::send(&app.router, request)
    };
    let first = send().await;
    let second = send().await;
    assert_eq!(first.body["id"], second.body["id"]);
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM suppliers")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(count, 1);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn read_access_cannot_write(pool: PgPool) {
    let app = app(pool.clone());
    let org = app.register("ann@example.com").await;
    let reader = app
        .member(&org.org_id, "r@example.com", json!({"suppliers": "read"}))
        .await
        .token;
    assert_eq!(
        app.by(&reader).get("/api/suppliers").await.status,
        StatusCode::OK
    );
    let r = app
        .by(&reader)
        .post("/api/suppliers", json!({"name": "Nope"}))
        .await;
    assert_problem(&r, StatusCode::FORBIDDEN, "missing_permission");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn another_organizations_supplier_is_404_everywhere_and_unchanged(pool: PgPool) {
    let app = app(pool.clone());
    let a = app.register("a@example.com").await;
    let b = app.register("b@example.com").await;
    let theirs = create(&app, &b, json!({"name": "B Supplies"})).await;
    let id = theirs["id"].as_str().unwrap();
    let contact = app
        .by(&b.token)
        .post(
            &format!("/api/suppliers/{id}/contacts"),
            json!({"name": "Bea"}),
        )
        .await;
    let contact_id = contact.body["id"].as_str().unwrap();
    let snapshot = || async {
        sqlx::query_as::<_, (String, bool, i64)>(
            "SELECT name, is_active, (SELECT count(*) FROM supplier_contacts) FROM suppliers",
        )
        .fetch_all(&pool)
        .await
        .unwrap()
    };
    let before = snapshot().await;
    for (method, path, body) in [
        (Method::GET, format!("/api/suppliers/{id}"), None),
        (
            Method::PATCH,
            format!("/api/suppliers/{id}"),
            Some(json!({"name": "Mine"})),
        ),
        (
            Method::POST,
            format!("/api/suppliers/{id}/deactivate"),
            None,
        ),
        (
            Method::POST,
            format!("/api/suppliers/{id}/reactivate"),
            None,
        ),
        (Method::GET, format!("/api/suppliers/{id}/contacts"), None),
        (
            Method::POST,
            format!("/api/suppliers/{id}/contacts"),
            Some(json!({"name": "Spy"})),
        ),
        (
            Method::PATCH,
            format!("/api/suppliers/{id}/contacts/{contact_id}"),
            Some(json!({"name": "Spy"})),
        ),
        (
            Method::DELETE,
            format!("/api/suppliers/{id}/contacts/{contact_id}"),
            None,
        ),
    ] {
        let r = app.by(&a.token).send(method.clone(), &path, body).await;
        assert_problem(&r, StatusCode::NOT_FOUND, "not_found");
        assert_eq!(snapshot().await, before, "{method} {path}");
    }
    assert_eq!(
        app.by(&a.token).get("/api/suppliers").await.body["items"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
}
