use http::StatusCode;
use serde_json::json;
use shared::testing::assert_problem;
use sqlx::PgPool;

use crate::support::*;

/// An invited user as the users function leaves one (`POST /api/users` without a password):
/// no password yet and an unused invitation whose token was emailed; returns the user's id and
/// the token. The users tests check that side (the email, the stored hash).
async fn invited(
    pool: &PgPool,
    org_id: &str,
    email: &str,
    expires_in: &str,
) -> (uuid::Uuid, String) {
    let user_id: uuid::Uuid = sqlx::query_scalar(
        "INSERT INTO users (org_id, email, name, role, permissions)
         VALUES ($1::uuid, $2, 'New', 'user', '{\"tasks\": \"write\"}') RETURNING id",
    )
    .bind(org_id)
    .bind(email)
    .fetch_one(pool)
    .await
    .unwrap();
    let (token, hash) = shared::auth::tokens::generate("inv");
    sqlx::query(
        "INSERT INTO user_invitations (user_id, token_hash, expires_at)
         VALUES ($1, $2, now() + $3::interval)",
    )
    .bind(user_id)
    .bind(hash)
    .bind(expires_in)
    .execute(pool)
    .await
    .unwrap();
    (user_id, token)
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn an_invitation_is_accepted_once_and_its_user_then_signs_in(pool: PgPool) {
    let app = app(pool.clone());
    let owner = shared::testing::register(&app, "ann@example.com").await;
    let (user_id, invitation) = invited(&pool, &owner.org_id, "new@example.com", "7 days").await;

    // Invited users cannot sign in before accepting.
    assert_problem(
        &login(&app, "new@example.com", PASSWORD).await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    );
    let accept = app
        .post(
            "/api/auth/invitation/accept",
            json!({"token": invitation, "password": PASSWORD}),
        )
        .await;
    assert_eq!(accept.status, StatusCode::OK, "{}", accept.body);
    assert_eq!(accept.body["user"]["id"], user_id.to_string());
    assert_eq!(
        accept.body["user"]["effective_permissions"]["tasks"],
        "write"
    );
    let me = app
        .get_with("/api/auth/me", &token(&accept.body, "access_token"))
        .await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.body);
    assert!(
        audit_actions(&pool, &user_id.to_string())
            .await
            .contains(&"invitation_accepted".to_owned())
    );

    let again = app
        .post(
            "/api/auth/invitation/accept",
            json!({"token": invitation, "password": "Other-passw0rd"}),
        )
        .await;
    assert_problem(&again, StatusCode::UNAUTHORIZED, "invalid_invitation");
    assert_eq!(
        login(&app, "new@example.com", PASSWORD).await.status,
        StatusCode::OK
    );
    assert_eq!(
        login(&app, "new@example.com", "Other-passw0rd")
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn an_expired_invitation_is_refused(pool: PgPool) {
    let app = app(pool.clone());
    let owner = shared::testing::register(&app, "ann@example.com").await;
    let (_, invitation) = invited(&pool, &owner.org_id, "late@example.com", "-1 second").await;
    let accept = app
        .post(
            "/api/auth/invitation/accept",
            json!({"token": invitation, "password": PASSWORD}),
        )
        .await;
    assert_problem(&accept, StatusCode::UNAUTHORIZED, "invalid_invitation");
    let password: Option<String> =
        sqlx::query_scalar("SELECT password_hash FROM users WHERE email = 'late@example.com'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(password.is_none(), "no password was set");
}
