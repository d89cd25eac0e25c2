//! Accepting an invitation, with and without an account.
//!
//! Routes: `POST /api/auth/invitation/accept`.

use http::StatusCode;
use serde_json::json;
use shared::auth::Role;
use shared::testing::{assert_problem, invited};
use sqlx::PgPool;

use crate::support::*;

fn tasks_writer() -> serde_json::Value {
    json!({"tasks": "write"})
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn an_invitation_is_accepted_once_and_its_user_then_signs_in(pool: PgPool) {
    let app = app(pool.clone());
    let owner = app.register("ann@example.com").await;
    let email = "new@example.com";
    let perms = tasks_writer();
    let (user_id, invitation) =
        invited(&app.pool, &owner.org_id, email, Role::User, perms, "7 days").await;

    // Invited people cannot sign in before accepting.
    assert_problem(
        &login(&app, email, PASSWORD).await,
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
    assert_eq!(accept.body["organization"]["id"], owner.org_id);
    assert_eq!(
        accept.body["user"]["effective_permissions"]["tasks"],
        "write"
    );
    let me = app
        .by(token(&accept.body, "access_token"))
        .get("/api/auth/me")
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
    assert_eq!(login(&app, email, PASSWORD).await.status, StatusCode::OK);
    assert_eq!(
        login(&app, email, "Other-passw0rd").await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn an_expired_invitation_is_refused(pool: PgPool) {
    let app = app(pool.clone());
    let owner = app.register("ann@example.com").await;
    let email = "late@example.com";
    let perms = tasks_writer();
    let (_, invitation) = invited(
        &app.pool,
        &owner.org_id,
        email,
        Role::User,
        perms,
        "-1 second",
    )
    .await;
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

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn someone_with_an_account_accepts_signed_in_and_their_session_moves_there(pool: PgPool) {
    let app = app(pool.clone());
    let shop = app.register("ann@shop.example").await;
    let books = app.register("bea@books.example").await;
    let perms = json!({"reports": "read"});
    let (bea, invitation) = invited(
        &app.pool,
        &shop.org_id,
        "bea@books.example",
        Role::User,
        perms,
        "7 days",
    )
    .await;
    assert_eq!(
        bea.to_string(),
        books.user_id,
        "the address's person, not a new one"
    );

    // Without signing in, the address's owner is told to sign in (only they hold the link).
    let anonymous = app
        .post(
            "/api/auth/invitation/accept",
            json!({"token": invitation, "password": "An0ther-password"}),
        )
        .await;
    assert_problem(&anonymous, StatusCode::CONFLICT, "account_exists");
    // Someone else signed in cannot take it.
    let other = app
        .by(&shop.token)
        .post("/api/auth/invitation/accept", json!({"token": invitation}))
        .await;
    assert_problem(
        &other,
        StatusCode::FORBIDDEN,
        "invitation_for_another_account",
    );

    let accept = app
        .by(&books.token)
        .post("/api/auth/invitation/accept", json!({"token": invitation}))
        .await;
    assert_eq!(accept.status, StatusCode::OK, "{}", accept.body);
    assert_eq!(accept.body["organization"]["id"], shop.org_id);
    assert_eq!(accept.body["user"]["role"], "user");
    let claims = shared::testing::claims_of(&token(&accept.body, "access_token"));
    assert_eq!(claims["org"], shop.org_id.as_str());
    let before = shared::testing::claims_of(&books.token);
    assert_eq!(
        claims["sid"], before["sid"],
        "the same session (device), now in the shop"
    );
    // The password stays theirs.
    assert_eq!(
        login(&app, "bea@books.example", PASSWORD).await.status,
        StatusCode::OK
    );
    let orgs = app
        .by(token(&accept.body, "access_token"))
        .get("/api/auth/organizations")
        .await;
    let mut ids: Vec<&str> = orgs.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap())
        .collect();
    ids.sort();
    let mut expected = vec![shop.org_id.as_str(), books.org_id.as_str()];
    expected.sort();
    assert_eq!(ids, expected);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn an_admin_joining_is_mailed_to_every_owner(pool: PgPool) {
    let app = app(pool.clone());
    let owner = app.register("ann@example.com").await;
    let second = app
        .person(&owner.org_id, "otto@example.com", Role::Owner, json!({}))
        .await;
    let _ = second;
    let (_, invitation) = invited(
        &app.pool,
        &owner.org_id,
        "eve@example.com",
        Role::Admin,
        json!({}),
        "7 days",
    )
    .await;
    let accept = app
        .post(
            "/api/auth/invitation/accept",
            json!({"token": invitation, "password": PASSWORD}),
        )
        .await;
    assert_eq!(accept.status, StatusCode::OK, "{}", accept.body);
    for owner in ["ann@example.com", "otto@example.com"] {
        let mail = shared::testing::queued_mail(&pool, owner).await;
        assert_eq!(mail.len(), 1, "{owner}: {mail:?}");
        assert!(mail[0].subject.contains("is now an admin"), "{mail:?}");
        assert!(mail[0].body.contains("72 hours"), "{mail:?}");
    }
}
