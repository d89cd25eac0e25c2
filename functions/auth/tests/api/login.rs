//! Signing in: the right password from a known or unknown device, limits nobody can lock with.
//!
//! Routes: `POST /api/auth/login`.

use std::time::Instant;

use crate::support::*;
use http::StatusCode;
use serde_json::json;
use shared::testing::{TestApp, TestResponse, assert_problem};
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
        .by(token(&response.body, "access_token"))
        .get("/api/auth/me")
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

/// `POST /api/auth/login` from `ip`, with `device_token` when given.
async fn login_from(
    app: &TestApp,
    ip: &str,
    email: &str,
    password: &str,
    device_token: Option<&str>,
) -> TestResponse {
    let mut body = json!({"email": email, "password": password});
    if let Some(device) = device_token {
        body["device_token"] = json!(device);
    }
    app.anonymous()
        .from_ip(ip)
        .post("/api/auth/login", body)
        .await
}

/// Records `n` failed sign-ins under `key` (what `n` wrong passwords would leave), so a test
/// reaches a limit without waiting for `n` bcrypt checks.
async fn failures(pool: &PgPool, key: &str, n: i64) {
    sqlx::query("INSERT INTO rate_limit_hits (key) SELECT $1 FROM generate_series(1, $2)")
        .bind(key)
        .bind(n)
        .execute(pool)
        .await
        .unwrap();
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_flood_of_failures_never_keeps_the_owner_out_on_a_device_that_signed_in_before(
    pool: PgPool,
) {
    let app = app(pool.clone());
    signed_up(&app, "ann@example.com").await;
    // Ann signs in at the shop (198.51.100.1): the answer gives the device its token.
    let first = login_from(&app, "198.51.100.1", "ann@example.com", PASSWORD, None).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    let device = token(&first.body, "device_token");
    assert!(device.starts_with("dv_"), "{device}");

    // Someone guesses at her account from many addresses, the shop's included.
    for attempt in 1..=10 {
        let ip = if attempt % 2 == 0 {
            "198.51.100.1".to_owned()
        } else {
            format!("203.0.113.{attempt}")
        };
        let r = login_from(&app, &ip, "ann@example.com", "Wrong-passw0rd", None).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "attempt {attempt}");
    }
    // The account's limit for unknown devices is reached: even the right password from a device
    // it does not know is refused, before any bcrypt work...
    let started = Instant::now();
    let unknown = login_from(&app, "192.0.2.50", "ann@example.com", PASSWORD, None).await;
    assert_problem(&unknown, StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    assert!(
        started.elapsed() < std::time::Duration::from_millis(150),
        "hashed first?"
    );
    let retry_after: u64 = unknown.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=3600).contains(&retry_after), "{retry_after}");
    // ...but Ann, on her device, at the shop, signs in; and her device keeps its token.
    let owner = login_from(
        &app,
        "198.51.100.1",
        "ann@example.com",
        PASSWORD,
        Some(&device),
    )
    .await;
    assert_eq!(owner.status, StatusCode::OK, "{}", owner.body);
    assert_eq!(owner.body["device_token"], device.as_str());
    // A device token is for its account only: with another address it counts for nothing.
    let other = login_from(&app, "192.0.2.51", "bob@example.com", "x", Some(&device)).await;
    assert_problem(&other, StatusCode::UNAUTHORIZED, "invalid_credentials");

    // A known device has a limit of its own: a stolen device token buys 5 guesses.
    for attempt in 1..=5 {
        let r = login_from(
            &app,
            "192.0.2.60",
            "ann@example.com",
            "Wrong-1",
            Some(&device),
        )
        .await;
        assert_eq!(
            r.status,
            StatusCode::UNAUTHORIZED,
            "device attempt {attempt}"
        );
    }
    let stolen = login_from(
        &app,
        "192.0.2.60",
        "ann@example.com",
        PASSWORD,
        Some(&device),
    )
    .await;
    assert_problem(&stolen, StatusCode::TOO_MANY_REQUESTS, "rate_limited");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn an_office_behind_one_address_is_limited_as_an_office(pool: PgPool) {
    let app = app(pool.clone());
    signed_up(&app, "ann@example.com").await;
    // 59 failures from the shop's address in ten minutes (20 people, three typos each)...
    failures(&pool, "login:ip:203.0.113.7", 59).await;
    let one_more = login_from(&app, "203.0.113.7", "user@example.com", "x", None).await;
    assert_problem(&one_more, StatusCode::UNAUTHORIZED, "invalid_credentials");
    // ...then the address is at its limit for devices nobody there signed in with before.
    let limited = login_from(&app, "203.0.113.7", "ann@example.com", PASSWORD, None).await;
    assert_problem(&limited, StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    // Another client is unaffected.
    let elsewhere = login_from(&app, "203.0.113.8", "ann@example.com", PASSWORD, None).await;
    assert_eq!(elsewhere.status, StatusCode::OK, "{}", elsewhere.body);
    // And a colleague whose device signed in before is not held to the address's count.
    let device = token(&elsewhere.body, "device_token");
    let known = login_from(
        &app,
        "203.0.113.7",
        "ann@example.com",
        PASSWORD,
        Some(&device),
    )
    .await;
    assert_eq!(known.status, StatusCode::OK, "{}", known.body);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn registration_is_rate_limited_per_address(pool: PgPool) {
    let app = app(pool);
    for n in 1..=5 {
        let body = json!({"organization_name": "Org", "name": "N", "email": "u@example.com", "password": "weak"});
        let response = app
            .anonymous()
            .from_ip(&format!("192.0.2.{n}"))
            .post("/api/auth/register", body)
            .await;
        assert_eq!(response.status, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let body = json!({"organization_name": "Org", "name": "N", "email": "u@example.com", "password": PASSWORD});
    let response = app
        .anonymous()
        .from_ip("192.0.2.99")
        .post("/api/auth/register", body)
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
            .anonymous()
            .from_ip(&format!("192.0.2.{n}"))
            .post(
                "/api/auth/register",
                json!({"email": email, "password": PASSWORD}),
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
            .anonymous()
            .from_ip("198.51.100.20")
            .post(
                "/api/auth/login",
                json!({"email": email, "password": PASSWORD}),
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
            .anonymous()
            .from_ip("198.51.100.20")
            .post(
                "/api/auth/refresh",
                json!({ "refresh_token": refresh_token }),
            )
            .await;
        assert_eq!(
            response.status,
            StatusCode::OK,
            "refresh {n}: {}",
            response.body
        );
    }
    // Failures still count, per account: Staff1's tenth wrong password from devices it does not
    // know, and the account is held there for a while; Staff2, at the same address, is not.
    for _ in 1..=10 {
        let r = login_from(
            &app,
            "198.51.100.20",
            "staff1@example.com",
            "Wrong-passw0rd",
            None,
        )
        .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    let staff2 = login_from(&app, "198.51.100.20", "staff2@example.com", PASSWORD, None).await;
    assert_eq!(staff2.status, StatusCode::OK, "{}", staff2.body);
    let response = login_from(&app, "198.51.100.20", "staff1@example.com", PASSWORD, None).await;
    assert_problem(&response, StatusCode::TOO_MANY_REQUESTS, "rate_limited");
}
