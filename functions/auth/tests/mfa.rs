mod support;

use http::StatusCode;
use serde_json::json;
use shared::testing::{TestApp, assert_problem};
use sqlx::PgPool;
use support::*;

/// Signs up, sets up and verifies MFA with pyotp; returns (access token, secret, recovery codes).
async fn with_mfa(app: &TestApp) -> (String, String, Vec<String>) {
    let session = signed_up(app, "ann@example.com").await;
    let access = token(&session, "access_token");
    let setup = app
        .post_with("/api/auth/mfa/setup", json!({}), &access)
        .await;
    assert_eq!(setup.status, StatusCode::OK, "{}", setup.body);
    let secret = token(&setup.body, "secret");
    let verify = app
        .post_with(
            "/api/auth/mfa/verify",
            json!({"code": totp_code(&secret, 0)}),
            &access,
        )
        .await;
    assert_eq!(verify.status, StatusCode::OK, "{}", verify.body);
    let codes = verify.body["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    (access, secret, codes)
}

async fn challenge(app: &TestApp) -> String {
    let response = login(app, "ann@example.com", PASSWORD).await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.body["mfa_required"], true, "{}", response.body);
    assert!(response.body.get("access_token").is_none());
    token(&response.body, "mfa_token")
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn setup_returns_an_otpauth_uri_and_a_qr_code(pool: PgPool) {
    let app = app(pool.clone());
    let session = signed_up(&app, "ann@example.com").await;
    let setup = app
        .post_with(
            "/api/auth/mfa/setup",
            json!({}),
            &token(&session, "access_token"),
        )
        .await;
    let uri = setup.body["otpauth_uri"].as_str().unwrap();
    assert!(
        uri.starts_with("otpauth://totp/Stockroom:ann%40example.com?"),
        "{uri}"
    );
    assert!(
        uri.contains("algorithm=SHA1") || !uri.contains("algorithm="),
        "{uri}"
    );
    assert!(
        setup.body["qr_code"]
            .as_str()
            .unwrap()
            .starts_with("data:image/svg+xml;base64,")
    );
    // Stored encrypted: the base32 secret is nowhere in the row.
    let stored: Vec<u8> = sqlx::query_scalar("SELECT mfa_secret FROM users")
        .fetch_one(&pool)
        .await
        .unwrap();
    let secret = setup.body["secret"].as_str().unwrap();
    assert!(!String::from_utf8_lossy(&stored).contains(secret));
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn an_authenticator_app_code_turns_mfa_on_with_ten_recovery_codes(pool: PgPool) {
    let app = app(pool.clone());
    let (access, _, codes) = with_mfa(&app).await;
    assert_eq!(codes.len(), 10);
    let me = app.get_with("/api/auth/me", &access).await;
    assert_eq!(me.body["user"]["mfa_enabled"], true);
    let actions = audit_actions(&pool, me.body["user"]["id"].as_str().unwrap()).await;
    assert!(actions.contains(&"mfa_enabled".to_owned()), "{actions:?}");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_wrong_code_does_not_turn_mfa_on(pool: PgPool) {
    let app = app(pool);
    let session = signed_up(&app, "ann@example.com").await;
    let access = token(&session, "access_token");
    app.post_with("/api/auth/mfa/setup", json!({}), &access)
        .await;
    let verify = app
        .post_with("/api/auth/mfa/verify", json!({"code": "000000"}), &access)
        .await;
    // A wrong proof is 403: the session itself is fine (a 401 would sign a frontend out).
    assert_problem(&verify, StatusCode::FORBIDDEN, "incorrect_code");
    assert_eq!(
        app.get_with("/api/auth/me", &access).await.body["user"]["mfa_enabled"],
        false
    );
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn login_with_mfa_needs_the_second_step(pool: PgPool) {
    let app = app(pool);
    let (_, secret, _) = with_mfa(&app).await;
    let mfa_token = challenge(&app).await;
    // The code used to turn MFA on cannot be replayed; the next one from the app works.
    let replay = app
        .post(
            "/api/auth/login/mfa",
            json!({"mfa_token": mfa_token, "code": totp_code(&secret, 0)}),
        )
        .await;
    assert_problem(&replay, StatusCode::UNAUTHORIZED, "invalid_mfa_code");
    let response = app
        .post(
            "/api/auth/login/mfa",
            json!({"mfa_token": mfa_token, "code": totp_code(&secret, 30)}),
        )
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    assert!(response.body["access_token"].is_string());
    // The challenge is single-use.
    let again = app
        .post(
            "/api/auth/login/mfa",
            json!({"mfa_token": mfa_token, "code": totp_code(&secret, 30)}),
        )
        .await;
    assert_problem(&again, StatusCode::UNAUTHORIZED, "invalid_mfa_token");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_code_cannot_be_used_twice(pool: PgPool) {
    let app = app(pool);
    let (_, secret, _) = with_mfa(&app).await;
    let code = totp_code(&secret, 30);
    let first = app
        .post(
            "/api/auth/login/mfa",
            json!({"mfa_token": challenge(&app).await, "code": code}),
        )
        .await;
    assert_eq!(first.status, StatusCode::OK);
    let second = app
        .post(
            "/api/auth/login/mfa",
            json!({"mfa_token": challenge(&app).await, "code": code}),
        )
        .await;
    assert_problem(&second, StatusCode::UNAUTHORIZED, "invalid_mfa_code");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_recovery_code_signs_in_once(pool: PgPool) {
    let app = app(pool);
    let (_, _, codes) = with_mfa(&app).await;
    let code = codes[3].to_uppercase();
    let first = app
        .post(
            "/api/auth/login/mfa",
            json!({"mfa_token": challenge(&app).await, "recovery_code": code}),
        )
        .await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    let second = app
        .post(
            "/api/auth/login/mfa",
            json!({"mfa_token": challenge(&app).await, "recovery_code": code}),
        )
        .await;
    assert_problem(&second, StatusCode::UNAUTHORIZED, "invalid_mfa_code");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn an_expired_challenge_is_refused(pool: PgPool) {
    let app = app(pool.clone());
    let (_, secret, _) = with_mfa(&app).await;
    let mfa_token = challenge(&app).await;
    sqlx::query("UPDATE mfa_challenges SET expires_at = now() - interval '1 second'")
        .execute(&pool)
        .await
        .unwrap();
    let response = app
        .post(
            "/api/auth/login/mfa",
            json!({"mfa_token": mfa_token, "code": totp_code(&secret, 30)}),
        )
        .await;
    assert_problem(&response, StatusCode::UNAUTHORIZED, "invalid_mfa_token");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn disabling_needs_the_password_and_a_code(pool: PgPool) {
    let app = app(pool.clone());
    let (access, secret, _) = with_mfa(&app).await;
    let wrong = app
        .post_with(
            "/api/auth/mfa/disable",
            json!({"password": "Wrong-passw0rd", "code": "123456"}),
            &access,
        )
        .await;
    assert_problem(&wrong, StatusCode::FORBIDDEN, "incorrect_password");
    let wrong = app
        .post_with(
            "/api/auth/mfa/disable",
            json!({"password": PASSWORD, "code": "123456"}),
            &access,
        )
        .await;
    assert_problem(&wrong, StatusCode::FORBIDDEN, "incorrect_code");

    let response = app
        .post_with(
            "/api/auth/mfa/disable",
            json!({"password": PASSWORD, "code": totp_code(&secret, 30)}),
            &access,
        )
        .await;
    assert_eq!(response.status, StatusCode::NO_CONTENT, "{}", response.body);
    let signed_in = login(&app, "ann@example.com", PASSWORD).await;
    assert_eq!(signed_in.body["mfa_required"], false);
    let recovery: i64 = sqlx::query_scalar("SELECT count(*) FROM mfa_recovery_codes")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(recovery, 0);
    let user_id = signed_in.body["user"]["id"].as_str().unwrap();
    assert!(
        audit_actions(&pool, user_id)
            .await
            .contains(&"mfa_disabled".to_owned())
    );
}
