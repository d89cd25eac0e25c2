//! Sessions: who `me` is, refresh-token rotation and reuse, signing out.
//!
//! Routes: `POST /api/auth/logout`, `GET /api/auth/me`, `POST /api/auth/refresh`.

use crate::support::*;
use http::StatusCode;
use serde_json::json;
use shared::testing::assert_problem;
use sqlx::PgPool;

async fn refresh(
    app: &shared::testing::TestApp,
    refresh_token: &str,
) -> shared::testing::TestResponse {
    app.post(
        "/api/auth/refresh",
        json!({ "refresh_token": refresh_token }),
    )
    .await
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn refresh_rotates_the_token(pool: PgPool) {
    let app = app(pool);
    let session = signed_up(&app, "ann@example.com").await;
    let first = token(&session, "refresh_token");
    let rotated = refresh(&app, &first).await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.body);
    let second = token(&rotated.body, "refresh_token");
    assert_ne!(first, second);
    let me = app
        .by(token(&rotated.body, "access_token"))
        .get("/api/auth/me")
        .await;
    assert_eq!(me.status, StatusCode::OK);
    // The new one works in turn.
    assert_eq!(refresh(&app, &second).await.status, StatusCode::OK);
}

/// The auth app with no grace window: any second use of a rotated token is a reuse.
fn strict_app(pool: PgPool) -> shared::testing::TestApp {
    app_with(pool, &[("REFRESH_REUSE_GRACE_SECONDS", "0")])
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn refresh_token_reuse_revokes_the_family(pool: PgPool) {
    let app = strict_app(pool.clone());
    let session = signed_up(&app, "ann@example.com").await;
    let stolen = token(&session, "refresh_token");
    let legit = token(&refresh(&app, &stolen).await.body, "refresh_token");

    let replay = refresh(&app, &stolen).await;
    assert_problem(&replay, StatusCode::UNAUTHORIZED, "refresh_token_reused");
    // Every token of that login is now dead, including the legitimate latest one.
    assert_problem(
        &refresh(&app, &legit).await,
        StatusCode::UNAUTHORIZED,
        "invalid_refresh_token",
    );
    let actions = audit_actions(&pool, session["user"]["id"].as_str().unwrap()).await;
    assert!(
        actions.contains(&"refresh_reuse_detected".to_owned()),
        "{actions:?}"
    );
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn reuse_detection_spares_other_logins(pool: PgPool) {
    let app = strict_app(pool);
    let session = signed_up(&app, "ann@example.com").await;
    let other_login = login(&app, "ann@example.com", PASSWORD).await.body;
    let stolen = token(&session, "refresh_token");
    refresh(&app, &stolen).await;
    refresh(&app, &stolen).await;
    assert_eq!(
        refresh(&app, &token(&other_login, "refresh_token"))
            .await
            .status,
        StatusCode::OK
    );
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_retry_within_the_grace_window_gets_the_same_pair(pool: PgPool) {
    let app = app(pool.clone());
    let session = signed_up(&app, "ann@example.com").await;
    let first = token(&session, "refresh_token");
    let rotated = refresh(&app, &first).await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.body);
    let retried = refresh(&app, &first).await;
    assert_eq!(retried.status, StatusCode::OK, "{}", retried.body);
    for name in ["access_token", "refresh_token"] {
        assert_eq!(retried.body[name], rotated.body[name], "{name}");
    }
    assert!(retried.body["expires_in"].as_u64().unwrap() <= 900);
    // Not a reuse: the session lives on and nothing was revoked or audited as theft.
    let next = token(&rotated.body, "refresh_token");
    assert_eq!(refresh(&app, &next).await.status, StatusCode::OK);
    let actions = audit_actions(&pool, session["user"]["id"].as_str().unwrap()).await;
    assert!(
        !actions.contains(&"refresh_reuse_detected".to_owned()),
        "{actions:?}"
    );
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn concurrent_refreshes_with_one_token_all_get_the_one_successor(pool: PgPool) {
    // A single-page app whose queries all got 401 at once, or two tabs waking up.
    let app = app(pool.clone());
    let session = signed_up(&app, "ann@example.com").await;
    let refresh_token = token(&session, "refresh_token");
    let (a, b, c, d) = tokio::join!(
        refresh(&app, &refresh_token),
        refresh(&app, &refresh_token),
        refresh(&app, &refresh_token),
        refresh(&app, &refresh_token)
    );
    for r in [&a, &b, &c, &d] {
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(r.body["refresh_token"], a.body["refresh_token"]);
        assert_eq!(r.body["access_token"], a.body["access_token"]);
    }
    let sessions: i64 = sqlx::query_scalar("SELECT count(*) FROM refresh_tokens")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(sessions, 2, "one login, one successor");
    let me = app
        .by(token(&a.body, "access_token"))
        .get("/api/auth/me")
        .await;
    assert_eq!(me.status, StatusCode::OK);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_replay_after_the_grace_window_revokes_the_family(pool: PgPool) {
    let app = app_with(pool.clone(), &[("REFRESH_REUSE_GRACE_SECONDS", "1")]);
    let session = signed_up(&app, "ann@example.com").await;
    let first = token(&session, "refresh_token");
    let next = token(&refresh(&app, &first).await.body, "refresh_token");
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_problem(
        &refresh(&app, &first).await,
        StatusCode::UNAUTHORIZED,
        "refresh_token_reused",
    );
    assert_problem(
        &refresh(&app, &next).await,
        StatusCode::UNAUTHORIZED,
        "invalid_refresh_token",
    );
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_replay_after_the_successor_moved_on_revokes_the_family(pool: PgPool) {
    // Within the window, but the successor was itself rotated: the old token is not a retry.
    let app = app(pool.clone());
    let session = signed_up(&app, "ann@example.com").await;
    let first = token(&session, "refresh_token");
    let second = token(&refresh(&app, &first).await.body, "refresh_token");
    let third = token(&refresh(&app, &second).await.body, "refresh_token");
    assert_problem(
        &refresh(&app, &first).await,
        StatusCode::UNAUTHORIZED,
        "refresh_token_reused",
    );
    assert_problem(
        &refresh(&app, &third).await,
        StatusCode::UNAUTHORIZED,
        "invalid_refresh_token",
    );
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn logout_revokes_the_family(pool: PgPool) {
    let app = app(pool);
    let session = signed_up(&app, "ann@example.com").await;
    let rotated = token(
        &refresh(&app, &token(&session, "refresh_token")).await.body,
        "refresh_token",
    );
    let response = app
        .post("/api/auth/logout", json!({ "refresh_token": rotated }))
        .await;
    assert_eq!(response.status, StatusCode::NO_CONTENT);
    assert_problem(
        &refresh(&app, &rotated).await,
        StatusCode::UNAUTHORIZED,
        "invalid_refresh_token",
    );
    // Logging out again is harmless.
    let again = app
        .post("/api/auth/logout", json!({ "refresh_token": rotated }))
        .await;
    assert_eq!(again.status, StatusCode::NO_CONTENT);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_deactivated_user_cannot_refresh_or_use_a_live_access_token(pool: PgPool) {
    let app = app(pool.clone());
    let session = signed_up(&app, "ann@example.com").await;
    sqlx::query("UPDATE memberships SET is_active = false")
        .execute(&pool)
        .await
        .unwrap();
    assert_problem(
        &refresh(&app, &token(&session, "refresh_token")).await,
        StatusCode::UNAUTHORIZED,
        "invalid_refresh_token",
    );
    let me = app
        .by(token(&session, "access_token"))
        .get("/api/auth/me")
        .await;
    assert_problem(&me, StatusCode::UNAUTHORIZED, "account_deactivated");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn an_expired_refresh_token_is_refused(pool: PgPool) {
    let app = app(pool.clone());
    let session = signed_up(&app, "ann@example.com").await;
    sqlx::query("UPDATE refresh_tokens SET expires_at = now() - interval '1 second'")
        .execute(&pool)
        .await
        .unwrap();
    assert_problem(
        &refresh(&app, &token(&session, "refresh_token")).await,
        StatusCode::UNAUTHORIZED,
        "invalid_refresh_token",
    );
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn me_needs_a_valid_access_token(pool: PgPool) {
    let app = app(pool);
    let session = signed_up(&app, "ann@example.com").await;
    let missing = app.anonymous().get("/api/auth/me").await;
    assert_problem(&missing, StatusCode::UNAUTHORIZED, "missing_token");
    // A refresh token is not an access token.
    let wrong_type = app
        .by(token(&session, "refresh_token"))
        .get("/api/auth/me")
        .await;
    assert_problem(&wrong_type, StatusCode::UNAUTHORIZED, "invalid_token");
    // A different character in the middle of the signature (the last one carries spare bits).
    let access = token(&session, "access_token");
    let at = access.len() - 10;
    let flipped = if &access[at..at + 1] == "A" { "B" } else { "A" };
    let tampered = format!("{}{}{}", &access[..at], flipped, &access[at + 1..]);
    assert_problem(
        &app.by(&tampered).get("/api/auth/me").await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
    );
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn refresh_tokens_are_stored_hashed(pool: PgPool) {
    let app = app(pool.clone());
    let session = signed_up(&app, "ann@example.com").await;
    let refresh_token = token(&session, "refresh_token");
    let stored: Vec<u8> = sqlx::query_scalar("SELECT token_hash FROM refresh_tokens")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(stored.len(), 32);
    assert!(
        !stored
            .windows(10)
            .any(|w| refresh_token.as_bytes().windows(10).any(|t| t == w))
    );
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn an_access_token_dies_with_its_session_at_logout(pool: PgPool) {
    let app = app(pool);
    let session = signed_up(&app, "ann@example.com").await;
    let access = token(&session, "access_token");
    let other = login(&app, "ann@example.com", PASSWORD).await.body;
    let logout = app
        .post(
            "/api/auth/logout",
            json!({ "refresh_token": token(&session, "refresh_token") }),
        )
        .await;
    assert_eq!(logout.status, StatusCode::NO_CONTENT);
    let me = app.by(&access).get("/api/auth/me").await;
    assert_problem(&me, StatusCode::UNAUTHORIZED, "session_ended");
    // Another login of the same person lives on.
    let me = app
        .by(token(&other, "access_token"))
        .get("/api/auth/me")
        .await;
    assert_eq!(me.status, StatusCode::OK);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_detected_reuse_ends_the_familys_access_tokens_too(pool: PgPool) {
    let app = strict_app(pool);
    let session = signed_up(&app, "ann@example.com").await;
    let stolen = token(&session, "refresh_token");
    let rotated = refresh(&app, &stolen).await.body;
    refresh(&app, &stolen).await;
    for access in [
        token(&session, "access_token"),
        token(&rotated, "access_token"),
    ] {
        let me = app.by(&access).get("/api/auth/me").await;
        assert_problem(&me, StatusCode::UNAUTHORIZED, "session_ended");
    }
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_password_change_ends_the_other_sessions_access_tokens(pool: PgPool) {
    let app = app(pool);
    let session = signed_up(&app, "ann@example.com").await;
    let other = login(&app, "ann@example.com", PASSWORD).await.body;
    let changed = app
        .by(token(&session, "access_token"))
        .post(
            "/api/auth/password/change",
            json!({"current_password": PASSWORD, "new_password": "N3w-password!"}),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    let me = app
        .by(token(&other, "access_token"))
        .get("/api/auth/me")
        .await;
    assert_problem(&me, StatusCode::UNAUTHORIZED, "session_ended");
    let me = app
        .by(token(&changed.body, "access_token"))
        .get("/api/auth/me")
        .await;
    assert_eq!(me.status, StatusCode::OK);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn an_api_key_on_me_is_told_the_route_is_for_people(pool: PgPool) {
    let app = app(pool);
    let me = app.by("sk_not-a-user-token").get("/api/auth/me").await;
    assert_problem(&me, StatusCode::FORBIDDEN, "user_required");
}

/// Refreshing is not a sign-in attempt: a shop's staff behind one address whose expired tokens
/// fail do not get a valid token refused (a refresh token cannot be guessed).
#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn failed_refreshes_never_block_a_valid_one_from_the_same_address(pool: PgPool) {
    let app = app(pool);
    let session = signed_up(&app, "ann@example.com").await;
    let ip = shared::testing::next_client_ip();
    for n in 0..8 {
        let failed = app
            .anonymous()
            .from_ip(&ip)
            .post(
                "/api/auth/refresh",
                json!({ "refresh_token": format!("rt_expired-or-unknown-{n}") }),
            )
            .await;
        assert_problem(&failed, StatusCode::UNAUTHORIZED, "invalid_refresh_token");
    }
    let valid = app
        .anonymous()
        .from_ip(&ip)
        .post(
            "/api/auth/refresh",
            json!({ "refresh_token": token(&session, "refresh_token") }),
        )
        .await;
    assert_eq!(valid.status, StatusCode::OK, "{}", valid.body);
}
