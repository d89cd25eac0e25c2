use std::time::Instant;

use crate::support::*;
use http::{Method, StatusCode};
use serde_json::json;
use shared::testing::assert_problem;
use sqlx::PgPool;

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn login_returns_a_token_pair_and_the_user(pool: PgPool) {
    let app = app(pool.clone());
    signed_up(&app, "ann@example.com").await;
    let response = login(&app, "ANN@example.com ", PASSWORD).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    assert_eq!(response.body["mfa_required"], false);
    assert_eq!(response.body["user"]["email"], "ann@example.com");
    let me = app
        .get_with("/api/auth/me", &token(&response.body, "access_token"))
        .await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.body["organization"]["name"], "Acme Tools");
    let user_id = me.body["user"]["id"].as_str().unwrap();
    // Confirming the registration signed in first.
    assert_eq!(audit_actions(&pool, user_id).await, ["login", "login"]);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn wrong_password_and_unknown_email_look_the_same(pool: PgPool) {
    let app = app(pool.clone());
    signed_up(&app, "ann@example.com").await;

    let started = Instant::now();
    let wrong = login(&app, "ann@example.com", "Wrong-passw0rd").await;
    let wrong_time = started.elapsed();
    let started = Instant::now();
    let unknown = login(&app, "nobody@example.com", "Wrong-passw0rd").await;
    let unknown_time = started.elapsed();

    assert_problem(&wrong, StatusCode::UNAUTHORIZED, "invalid_credentials");
    assert_problem(&unknown, StatusCode::UNAUTHORIZED, "invalid_credentials");
    assert_eq!(wrong.body["detail"], unknown.body["detail"]);
    // Both run one bcrypt-12 verification; only a gross difference (no bcrypt at all on one
    // path) would fail this, not scheduling noise.
    let ratio = unknown_time.as_secs_f64() / wrong_time.as_secs_f64();
    assert!(
        (0.33..3.0).contains(&ratio),
        "wrong {wrong_time:?} vs unknown {unknown_time:?}"
    );
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_failed_login_is_audited(pool: PgPool) {
    let app = app(pool.clone());
    let body = signed_up(&app, "ann@example.com").await;
    login(&app, "ann@example.com", "Wrong-passw0rd").await;
    let actions = audit_actions(&pool, body["user"]["id"].as_str().unwrap()).await;
    assert!(actions.contains(&"login_failed".to_owned()), "{actions:?}");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_deactivated_user_cannot_log_in(pool: PgPool) {
    let app = app(pool.clone());
    signed_up(&app, "ann@example.com").await;
    // Deactivated in their only organization: nowhere to sign in to.
    sqlx::query("UPDATE memberships SET is_active = false")
        .execute(&pool)
        .await
        .unwrap();
    assert_problem(
        &login(&app, "ann@example.com", PASSWORD).await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    );
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn the_sixth_attempt_on_an_account_in_a_minute_is_refused(pool: PgPool) {
    let app = app(pool.clone());
    signed_up(&app, "ann@example.com").await;
    for attempt in 1..=5 {
        let ip = format!("198.51.100.{attempt}");
        let response = app
            .request_from(
                Method::POST,
                "/api/auth/login",
                Some(json!({"email": "ann@example.com", "password": "Wrong-passw0rd"})),
                None,
                Some(&ip),
            )
            .await;
        assert_eq!(
            response.status,
            StatusCode::UNAUTHORIZED,
            "attempt {attempt}"
        );
    }
    // Even the right password, from yet another address: the account is locked for the window,
    // and the refusal comes before any bcrypt work.
    let started = Instant::now();
    let response = app
        .request_from(
            Method::POST,
            "/api/auth/login",
            Some(json!({"email": "ann@example.com", "password": PASSWORD})),
            None,
            Some("198.51.100.99"),
        )
        .await;
    assert_problem(&response, StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    let retry_after: u64 = response.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert!(
        started.elapsed() < std::time::Duration::from_millis(150),
        "{:?}: hashed before refusing?",
        started.elapsed()
    );
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn the_sixth_attempt_from_one_ip_in_a_minute_is_refused(pool: PgPool) {
    let app = app(pool);
    for attempt in 1..=5 {
        let email = format!("user{attempt}@example.com");
        let response = app
            .request_from(
                Method::POST,
                "/api/auth/login",
                Some(json!({"email": email, "password": "x"})),
                None,
                Some("203.0.113.7"),
            )
            .await;
        assert_eq!(
            response.status,
            StatusCode::UNAUTHORIZED,
            "attempt {attempt}"
        );
    }
    let response = app
        .request_from(
            Method::POST,
            "/api/auth/login",
            Some(json!({"email": "other@example.com", "password": "x"})),
            None,
            Some("203.0.113.7"),
        )
        .await;
    assert_problem(&response, StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    // Another client is unaffected.
    let response = app
        .request_from(
            Method::POST,
            "/api/auth/login",
            Some(json!({"email": "other@example.com", "password": "x"})),
            None,
            Some("203.0.113.8"),
        )
        .await;
    assert_eq!(response.status, StatusCode::UNAUTHORIZED);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn registration_is_rate_limited_per_ip(pool: PgPool) {
    let app = app(pool);
    for n in 1..=5 {
        let body = json!({"organization_name": "Org", "name": "N", "email": format!("u{n}@example.com"), "password": "weak"});
        let response = app
            .request_from(
                Method::POST,
                "/api/auth/register",
                Some(body),
                None,
                Some("192.0.2.1"),
            )
            .await;
        assert_eq!(response.status, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let body = json!({"organization_name": "Org", "name": "N", "email": "u6@example.com", "password": PASSWORD});
    let response = app
        .request_from(
            Method::POST,
            "/api/auth/register",
            Some(body),
            None,
            Some("192.0.2.1"),
        )
        .await;
    assert_problem(&response, StatusCode::TOO_MANY_REQUESTS, "rate_limited");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn empty_credentials_are_a_422(pool: PgPool) {
    let app = app(pool);
    let response = login(&app, "", "").await;
    assert_problem(
        &response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    assert_eq!(response.body["errors"].as_array().unwrap().len(), 2);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_team_signing_in_from_one_address_is_not_limited(pool: PgPool) {
    // Opening time: eight people behind the shop's one address sign in, and refresh, within a
    // minute. Only failures count towards the limit.
    let app = app(pool.clone());
    let mut sessions = Vec::new();
    for n in 1..=8 {
        let email = format!("staff{n}@example.com");
        // Registered elsewhere (registering counts every attempt).
        let registered = app
            .request_from(
                Method::POST,
                "/api/auth/register",
                Some(json!({"email": email, "password": PASSWORD})),
                None,
                Some(&format!("192.0.2.{n}")),
            )
            .await;
        assert_eq!(
            registered.status,
            StatusCode::ACCEPTED,
            "{}",
            registered.body
        );
        let confirmed = confirm(&app, &email).await;
        assert_eq!(confirmed.status, StatusCode::OK, "{}", confirmed.body);
        let response = app
            .request_from(
                Method::POST,
                "/api/auth/login",
                Some(json!({"email": email, "password": PASSWORD})),
                None,
                Some("198.51.100.20"),
            )
            .await;
        assert_eq!(
            response.status,
            StatusCode::OK,
            "login {n}: {}",
            response.body
        );
        sessions.push(token(&response.body, "refresh_token"));
    }
    for (n, refresh_token) in sessions.iter().enumerate() {
        let response = app
            .request_from(
                Method::POST,
                "/api/auth/refresh",
                Some(json!({ "refresh_token": refresh_token })),
                None,
                Some("198.51.100.20"),
            )
            .await;
        assert_eq!(
            response.status,
            StatusCode::OK,
            "refresh {n}: {}",
            response.body
        );
    }
    // Failures still do: five wrong passwords and the address is refused.
    for _ in 1..=5 {
        let response = app
            .request_from(
                Method::POST,
                "/api/auth/login",
                Some(json!({"email": "staff1@example.com", "password": "Wrong-passw0rd"})),
                None,
                Some("198.51.100.20"),
            )
            .await;
        assert_eq!(response.status, StatusCode::UNAUTHORIZED);
    }
    let response = app
        .request_from(
            Method::POST,
            "/api/auth/login",
            Some(json!({"email": "staff2@example.com", "password": PASSWORD})),
            None,
            Some("198.51.100.20"),
        )
        .await;
    assert_problem(&response, StatusCode::TOO_MANY_REQUESTS, "rate_limited");
}
