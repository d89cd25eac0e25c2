//! What a plain user reaches: no administration, only the modules granted.

use super::*;

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_plain_user_cannot_administer(pool: PgPool) {
    let apps = apps(pool.clone());
    let ann = apps.users.register("ann@example.com").await;
    let bob = apps
        .users
        .member(&ann.org_id, "bob@example.com", json!({"products": "write"}))
        .await;
    assert_problem(
        &apps.users.by(&bob.token).get("/api/users").await,
        StatusCode::FORBIDDEN,
        "admin_required",
    );
    let created = apps
        .users
        .by(&bob.token)
        .post("/api/users", json!({"email": "x@example.com", "name": "X"}))
        .await;
    assert_problem(&created, StatusCode::FORBIDDEN, "admin_required");
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(count, 2, "nothing was created");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_user_reaches_only_the_modules_granted(pool: PgPool) {
    let apps = apps(pool);
    let ann = apps.users.register("ann@example.com").await;
    let bob = apps
        .users
        .member(&ann.org_id, "bob@example.com", json!({"products": "read"}))
        .await;
    assert_eq!(
        apps.probe
            .by(&bob.token)
            .get("/probe/products/read")
            .await
            .status,
        StatusCode::OK
    );
    assert_problem(
        &apps.probe.by(&bob.token).get("/probe/products/write").await,
        StatusCode::FORBIDDEN,
        "missing_permission",
    );
    // Admins bypass module checks.
    assert_eq!(
        apps.probe
            .by(&ann.token)
            .get("/probe/products/write")
            .await
            .status,
        StatusCode::OK
    );
}
