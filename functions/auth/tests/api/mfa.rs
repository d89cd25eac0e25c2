//! Authenticator codes: setting MFA up and off, signing in with a code, and step-ups.
//!
//! Routes: `POST /api/auth/login/mfa`, `POST /api/auth/mfa/setup`, `POST /api/auth/mfa/verify`,
//!  `POST /api/auth/mfa/disable`, `POST /api/auth/step-up`.

use crate::support::*;
use http::StatusCode;
use serde_json::json;
use shared::testing::{TestApp, TestResponse, assert_problem};
use sqlx::PgPool;

/// Signs up, sets up and verifies MFA with pyotp; returns (access token, secret, recovery codes).
async fn with_mfa(app: &TestApp) -> (String, String, Vec<String>) {
    let (access, secret, codes, _) = with_mfa_code(app).await;
    (access, secret, codes)
}

/// [`with_mfa`], and the code that turned MFA on.
async fn with_mfa_code(app: &TestApp) -> (String, String, Vec<String>, String) {
    let session = signed_up(app, "ann@example.com").await;
    let access = token(&session, "access_token");
    let setup = app
        .by(&access)
        .stepped_up()
        .post("/api/auth/mfa/setup", json!({}))
        .await;
    assert_eq!(setup.status, StatusCode::OK, "{}", setup.body);
    let secret = token(&setup.body, "secret");
    let code = totp_code(&secret, 0);
    let verify = app
        .by(&access)
        .post("/api/auth/mfa/verify", json!({"code": code}))
        .await;
    assert_eq!(verify.status, StatusCode::OK, "{}", verify.body);
    let codes = verify.body["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    (access, secret, codes, code)
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
        .by(token(&session, "access_token"))
        .stepped_up()
        .post("/api/auth/mfa/setup", json!({}))
        .await;
    assert_eq!(setup.status, StatusCode::OK, "{}", setup.body);
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
    let me = app.by(&access).get("/api/auth/me").await;
    assert_eq!(me.body["user"]["mfa_enabled"], true);
    let actions = audit_actions(&pool, me.body["user"]["id"].as_str().unwrap()).await;
    assert!(actions.contains(&"mfa_enabled".to_owned()), "{actions:?}");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_wrong_code_does_not_turn_mfa_on(pool: PgPool) {
    let app = app(pool);
    let session = signed_up(&app, "ann@example.com").await;
    let access = token(&session, "access_token");
    let setup = app
        .by(&access)
        .stepped_up()
        .post("/api/auth/mfa/setup", json!({}))
        .await;
    assert_eq!(setup.status, StatusCode::OK, "{}", setup.body);
    let verify = app
        .by(&access)
        .post("/api/auth/mfa/verify", json!({"code": "000000"}))
        .await;
    // A wrong proof is 403: the session itself is fine (a 401 would sign a frontend out).
    assert_problem(&verify, StatusCode::FORBIDDEN, "incorrect_code");
    assert_eq!(
        app.by(&access).get("/api/auth/me").await.body["user"]["mfa_enabled"],
        false
    );
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn login_with_mfa_needs_the_second_step(pool: PgPool) {
    let app = app(pool);
    let (_, secret, _, used) = with_mfa_code(&app).await;
    let mfa_token = challenge(&app).await;
    // The code used to turn MFA on cannot be replayed (the very code: a fresh `totp_code(.., 0)`
    // would be the next one if a 30-second step ended meanwhile); the next one from the app works.
    let replay = app
        .post(
            "/api/auth/login/mfa",
            json!({"mfa_token": mfa_token, "code": used}),
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
        .by(&access)
        .post(
            "/api/auth/mfa/disable",
            json!({"password": "Wrong-passw0rd", "code": "123456"}),
        )
        .await;
    assert_problem(&wrong, StatusCode::FORBIDDEN, "incorrect_password");
    let wrong = app
        .by(&access)
        .post(
            "/api/auth/mfa/disable",
            json!({"password": PASSWORD, "code": "123456"}),
        )
        .await;
    assert_problem(&wrong, StatusCode::FORBIDDEN, "incorrect_code");

    let response = app
        .by(&access)
        .post(
            "/api/auth/mfa/disable",
            json!({"password": PASSWORD, "code": totp_code(&secret, 30)}),
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

/// The request the MFA tests step up for.
const SETUP: &str = "POST /api/auth/mfa/setup";

/// `POST /api/auth/step-up` with `body` (for [`SETUP`] unless it names an action), signed in as
/// `access`.
async fn step_up(app: &TestApp, access: &str, mut body: serde_json::Value) -> TestResponse {
    if body.get("action").is_none() {
        body["action"] = json!(SETUP);
    }
    app.by(access).post("/api/auth/step-up", body).await
}

/// `POST /api/auth/mfa/setup` carrying `step_up` as `X-Step-Up-Token`.
async fn setup_with(app: &TestApp, access: &str, step_up: &str) -> TestResponse {
    app.by(access)
        .header("X-Step-Up-Token", step_up)
        .post("/api/auth/mfa/setup", json!({}))
        .await
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_password_step_up_unlocks_mfa_setup_and_is_audited(pool: PgPool) {
    let app = app(pool.clone());
    let session = signed_up(&app, "ann@example.com").await;
    let access = token(&session, "access_token");
    let proved = step_up(&app, &access, json!({"password": PASSWORD})).await;
    assert_eq!(proved.status, StatusCode::OK, "{}", proved.body);
    assert_eq!(proved.body["expires_in"], 300);
    assert_eq!(proved.body["method"], "password");
    assert_eq!(proved.body["action"], SETUP);
    let step_up_token = token(&proved.body, "step_up_token");

    let setup = setup_with(&app, &access, &step_up_token).await;
    assert_eq!(setup.status, StatusCode::OK, "{}", setup.body);
    assert!(setup.body["secret"].is_string(), "{}", setup.body);
    // Good once: setting up again needs a new proof.
    let again = setup_with(&app, &access, &step_up_token).await;
    assert_problem(&again, StatusCode::UNAUTHORIZED, "step_up_used");
    // And for the one request it names.
    let for_keys = step_up(
        &app,
        &access,
        json!({"password": PASSWORD, "action": "POST /api/api-keys"}),
    )
    .await;
    let elsewhere = setup_with(&app, &access, &token(&for_keys.body, "step_up_token")).await;
    assert_problem(&elsewhere, StatusCode::UNAUTHORIZED, "step_up_required");
    for action in [
        json!(null),
        json!("GET /api/users"),
        json!("POST /health"),
        json!("POST"),
    ] {
        let r = step_up(
            &app,
            &access,
            json!({"password": PASSWORD, "action": action}),
        )
        .await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{action}: {}",
            r.body
        );
    }

    let user_id = session["user"]["id"].as_str().unwrap();
    assert!(
        audit_actions(&pool, user_id)
            .await
            .contains(&"step_up".to_owned())
    );
    let after: serde_json::Value = sqlx::query_scalar(
        "SELECT after FROM audit_log WHERE action = 'step_up' AND entity_id = $1::uuid",
    )
    .bind(user_id)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(after["method"], "password", "{after}");
    assert_eq!(
        after["session_id"],
        shared::testing::claims_of(&access)["sid"],
        "{after}"
    );
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn mfa_setup_without_a_step_up_is_refused(pool: PgPool) {
    let app = app(pool.clone());
    let session = signed_up(&app, "ann@example.com").await;
    let access = token(&session, "access_token");
    let setup = app.by(&access).post("/api/auth/mfa/setup", json!({})).await;
    assert_problem(&setup, StatusCode::UNAUTHORIZED, "step_up_required");
    let secret: Option<Vec<u8>> = sqlx::query_scalar("SELECT mfa_secret FROM users")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(secret.is_none(), "no secret is stored without a step-up");
    // The session itself is fine: a 401 step_up_required is not a signed-out session.
    let me = app.by(&access).get("/api/auth/me").await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.body);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn with_mfa_on_a_step_up_needs_an_authenticator_code(pool: PgPool) {
    let app = app(pool);
    let (access, secret, _) = with_mfa(&app).await;
    let password_only = step_up(&app, &access, json!({"password": PASSWORD})).await;
    assert_eq!(
        password_only.status,
        StatusCode::FORBIDDEN,
        "{}",
        password_only.body
    );
    assert!(
        password_only.body.to_string().contains("code"),
        "{}",
        password_only.body
    );
    let wrong = step_up(&app, &access, json!({"code": "000000"})).await;
    assert_problem(&wrong, StatusCode::FORBIDDEN, "incorrect_code");

    // The code that turned MFA on was used; the next one from the app proves it is Ann.
    let code = totp_code(&secret, 30);
    let proved = step_up(&app, &access, json!({"code": code})).await;
    assert_eq!(proved.status, StatusCode::OK, "{}", proved.body);
    assert_eq!(proved.body["method"], "totp");
    assert_eq!(proved.body["expires_in"], 300);
    // The token is accepted: past the step-up check, setup refuses only because MFA is on.
    let setup = setup_with(&app, &access, &token(&proved.body, "step_up_token")).await;
    assert_problem(&setup, StatusCode::CONFLICT, "mfa_already_enabled");
    // A code proves once.
    let replay = step_up(&app, &access, json!({"code": code})).await;
    assert_problem(&replay, StatusCode::FORBIDDEN, "incorrect_code");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_wrong_password_is_no_step_up_and_failures_are_limited(pool: PgPool) {
    let app = app(pool.clone());
    let session = signed_up(&app, "ann@example.com").await;
    let access = token(&session, "access_token");
    for _ in 0..5 {
        let wrong = step_up(&app, &access, json!({"password": "Wrong-passw0rd"})).await;
        // 403, not 401: the session is fine, only the proof is wrong.
        assert_problem(&wrong, StatusCode::FORBIDDEN, "incorrect_password");
    }
    // Five failures a minute, then even the right password waits.
    let limited = step_up(&app, &access, json!({"password": PASSWORD})).await;
    assert_problem(&limited, StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    let user_id = session["user"]["id"].as_str().unwrap();
    assert!(
        !audit_actions(&pool, user_id)
            .await
            .contains(&"step_up".to_owned())
    );
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_step_up_token_counts_only_for_its_user_session_and_five_minutes(pool: PgPool) {
    let app = app(pool.clone());
    let session = signed_up(&app, "ann@example.com").await;
    let access = token(&session, "access_token");
    let org_id = session["organization"]["id"].as_str().unwrap();
    let bob = app
        .person(
            org_id,
            "bob@example.com",
            shared::auth::Role::Admin,
            json!({}),
        )
        .await;
    let anns = token(
        &step_up(&app, &access, json!({"password": PASSWORD}))
            .await
            .body,
        "step_up_token",
    );

    // Another user of the same organization cannot use Ann's proof.
    let foreign = setup_with(&app, &bob.token, &anns).await;
    assert_problem(&foreign, StatusCode::UNAUTHORIZED, "step_up_required");
    assert!(
        foreign.body["detail"]
            .as_str()
            .unwrap()
            .contains("another user or session"),
        "{}",
        foreign.body
    );

    // Nor can Ann's other session (signed in a second time).
    let again = login(&app, "ann@example.com", PASSWORD).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    let other_session = token(&again.body, "access_token");
    assert_ne!(
        shared::testing::claims_of(&other_session)["sid"],
        shared::testing::claims_of(&access)["sid"]
    );
    let elsewhere = setup_with(&app, &other_session, &anns).await;
    assert_problem(&elsewhere, StatusCode::UNAUTHORIZED, "step_up_required");

    // One of Ann's own session, ten minutes old, has expired.
    let ten_minutes_ago = chrono::Utc::now().timestamp() - 600;
    let expired = shared::testing::step_up_token_at(&access, SETUP, ten_minutes_ago);
    let late = setup_with(&app, &access, &expired).await;
    assert_problem(&late, StatusCode::UNAUTHORIZED, "step_up_required");
    assert!(
        late.body["detail"]
            .as_str()
            .unwrap()
            .contains("invalid or expired"),
        "{}",
        late.body
    );
    // Garbage is no token either.
    let garbage = setup_with(&app, &access, "not-a-token").await;
    assert_problem(&garbage, StatusCode::UNAUTHORIZED, "step_up_required");

    let stored: Option<Vec<u8>> =
        sqlx::query_scalar("SELECT mfa_secret FROM users WHERE email = 'ann@example.com'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(stored.is_none());
    // The fresh one, in its own session, works.
    let setup = setup_with(&app, &access, &anns).await;
    assert_eq!(setup.status, StatusCode::OK, "{}", setup.body);
}
