//! `POST /api/users/{id}/deactivate` and `/reactivate`: at once, sessions ended.
//!
//! Routes: `POST /api/users/{id}/deactivate`, `POST /api/users/{id}/reactivate`.

use super::*;

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn deactivation_applies_at_once_and_ends_sessions(pool: PgPool) {
    let apps = apps(pool.clone());
    let ann = apps.users.register("ann@example.com").await;
    let bob = apps
        .users
        .person(&ann.org_id, "bob@example.com", Role::Admin, json!({}))
        .await;
    let response = apps
        .users
        .by(&ann.token)
        .post(&format!("/api/users/{}/deactivate", bob.user_id), json!({}))
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    assert_eq!(response.body["is_active"], false);
    assert_problem(
        &apps.users.by(&bob.token).get("/api/users").await,
        StatusCode::UNAUTHORIZED,
        "account_deactivated",
    );
    // The session in this organization ended.
    let live: i64 = sqlx::query_scalar("SELECT count(*) FROM refresh_tokens t JOIN users u ON u.id = t.user_id WHERE u.email = 'bob@example.com' AND t.revoked_at IS NULL")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(live, 0);
    // What sign-in reads: inactive, so auth refuses the password (auth's
    // `login::a_deactivated_user_cannot_log_in`).
    assert_eq!(sign_in_state(&pool, "bob@example.com").await, (false, true));

    let back = apps
        .users
        .by(&ann.token)
        .post(&format!("/api/users/{}/reactivate", bob.user_id), json!({}))
        .await;
    assert_eq!(back.body["is_active"], true);
    // A token from before the deactivation stays dead: its session ended with it.
    assert_problem(
        &apps.users.by(&bob.token).get("/api/users").await,
        StatusCode::UNAUTHORIZED,
        "session_ended",
    );
    // Active again with the password kept: Bob signs in as before.
    assert_eq!(sign_in_state(&pool, "bob@example.com").await, (true, true));
}
