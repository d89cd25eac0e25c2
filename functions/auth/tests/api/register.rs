//! Registration: a confirmed address makes the organization and its owner; nothing tells whether
//! an address has an account.
//!
//! Routes: `POST /api/auth/register`, `POST /api/auth/register/confirm`.

use crate::support::*;
use http::StatusCode;
use serde_json::json;
use shared::testing::assert_problem;
use sqlx::PgPool;

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn register_creates_the_organization_and_its_owner_signed_in(pool: PgPool) {
    let app = app(pool.clone());
    let body = signed_up(&app, "Ann@Example.com").await;
    assert_eq!(body["user"]["email"], "ann@example.com");
    assert_eq!(body["user"]["role"], "owner");
    assert_eq!(body["organization"]["name"], "Acme Tools");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    assert!(token(&body, "refresh_token").starts_with("rt_"));
    assert_eq!(body["user"]["effective_permissions"]["inventory"], "write");
    // Granted and effective are two names: an owner is granted nothing and reaches everything.
    assert_eq!(body["user"]["permissions"], serde_json::json!({}));
    // Never a hash or secret in a response.
    let text = body.to_string();
    assert!(
        !text.contains("$2b$") && !text.contains("password"),
        "{text}"
    );
    let actions = audit_actions(&pool, body["organization"]["id"].as_str().unwrap()).await;
    assert_eq!(actions, ["register"]);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn the_password_is_stored_as_a_bcrypt_12_hash(pool: PgPool) {
    let app = app(pool.clone());
    signed_up(&app, "ann@example.com").await;
    let hash: String = sqlx::query_scalar("SELECT password_hash FROM users")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(hash.starts_with("$2b$12$"), "{hash}");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn an_address_with_an_account_is_answered_alike_and_mailed_a_note_not_a_link(pool: PgPool) {
    let app = app(pool.clone());
    signed_up(&app, "ann@example.com").await;
    let taken = register(&app, "ANN@example.com").await;
    let free = register(&app, "bob@example.com").await;
    assert_eq!((taken.status, &taken.body), (free.status, &free.body));
    assert_eq!(taken.status, StatusCode::ACCEPTED);
    // What each address is mailed is decided when it is sent, by the outbox.
    let ann = shared::testing::queued_mail(&pool, "ann@example.com").await;
    assert_eq!(ann.len(), 2, "{ann:?}");
    assert_eq!(ann[1].subject, "You already have a Stockroom account");
    assert!(!ann[1].body.contains("token="), "no link: {}", ann[1].body);
    let bob = shared::testing::queued_mail(&pool, "bob@example.com").await;
    assert_eq!(bob[0].subject, "Confirm your Stockroom account");
    let orgs: i64 = sqlx::query_scalar("SELECT count(*) FROM organizations")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(orgs, 1, "nothing exists before a confirmation");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_confirmation_link_works_once_and_not_for_an_address_that_got_an_account(pool: PgPool) {
    let app = app(pool.clone());
    assert_eq!(
        register(&app, "ann@example.com").await.status,
        StatusCode::ACCEPTED
    );
    let first =
        shared::testing::mailed_token(&pool, "ann@example.com", "/confirm-registration").await;
    assert_eq!(
        register(&app, "ann@example.com").await.status,
        StatusCode::ACCEPTED
    );
    let second =
        shared::testing::mailed_token(&pool, "ann@example.com", "/confirm-registration").await;
    assert_ne!(first, second);
    let confirm = |token: String| {
        let app = app.clone();
        async move {
            app.post("/api/auth/register/confirm", json!({"token": token}))
                .await
        }
    };
    let ok = confirm(first.clone()).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    assert_eq!(ok.body["mfa_required"], false);
    assert!(ok.body["access_token"].is_string());
    assert_problem(
        &confirm(first).await,
        StatusCode::UNAUTHORIZED,
        "invalid_confirmation",
    );
    // The second request's link: the address has an account now.
    assert_problem(
        &confirm(second).await,
        StatusCode::CONFLICT,
        "account_exists",
    );
    assert_problem(
        &confirm("reg_nonsense".into()).await,
        StatusCode::UNAUTHORIZED,
        "invalid_confirmation",
    );
    let orgs: i64 = sqlx::query_scalar("SELECT count(*) FROM organizations")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(orgs, 1);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn an_expired_confirmation_is_refused(pool: PgPool) {
    let app = app(pool.clone());
    register(&app, "ann@example.com").await;
    let token =
        shared::testing::mailed_token(&pool, "ann@example.com", "/confirm-registration").await;
    sqlx::query("UPDATE registrations SET expires_at = now() - interval '1 second'")
        .execute(&pool)
        .await
        .unwrap();
    let r = app
        .post("/api/auth/register/confirm", json!({"token": token}))
        .await;
    assert_problem(&r, StatusCode::UNAUTHORIZED, "invalid_confirmation");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn an_invited_address_registers_and_its_invitation_waits_for_it(pool: PgPool) {
    let app = app(pool.clone());
    let shop = app.register("owner@shop.example").await;
    let (person, _) = shared::testing::invited(
        &app.pool,
        &shop.org_id,
        "cleo@example.com",
        shared::auth::Role::User,
        json!({}),
        "7 days",
    )
    .await;
    let body = signed_up(&app, "cleo@example.com").await;
    assert_eq!(
        body["user"]["id"],
        person.to_string(),
        "the invited person, now with an account"
    );
    assert_eq!(body["user"]["name"], "Ann Owner");
    assert_ne!(
        body["organization"]["id"],
        shop.org_id.as_str(),
        "their own organization"
    );
    let invited: Option<chrono::DateTime<chrono::Utc>> = sqlx::query_scalar(
        "SELECT joined_at FROM memberships WHERE org_id = $1::uuid AND user_id = $2",
    )
    .bind(&shop.org_id)
    .bind(person)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(invited.is_none(), "still to accept, signed in");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn every_invalid_field_is_reported_at_once(pool: PgPool) {
    let app = app(pool.clone());
    let response = app
        .post(
            "/api/auth/register",
            json!({"organization_name": " ", "name": "Ann", "email": "not-an-email", "password": "weak"}),
        )
        .await;
    assert_problem(
        &response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    let fields: Vec<&str> = response.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["organization_name", "email", "password"]);
    let users: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(users, 0);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_password_over_72_bytes_is_refused_with_a_clear_message(pool: PgPool) {
    let app = app(pool);
    let long = format!("Aa1!{}", "x".repeat(80));
    let response = app
        .post(
            "/api/auth/register",
            json!({"organization_name": "Acme", "name": "Ann", "email": "ann@example.com", "password": long}),
        )
        .await;
    assert_problem(
        &response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    assert_eq!(response.body["errors"][0]["code"], "too_long");
    assert!(
        response.body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("72 bytes")
    );
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_missing_field_is_a_422_naming_it(pool: PgPool) {
    let app = app(pool.clone());
    let response = app
        .post("/api/auth/register", json!({"email": "ann@example.com"}))
        .await;
    assert_problem(
        &response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    assert_eq!(response.body["errors"][0]["field"], "password");
    assert_eq!(response.body["errors"][0]["code"], "required");
    let orgs: i64 = sqlx::query_scalar("SELECT count(*) FROM organizations")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(orgs, 0);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn email_and_password_are_enough_to_register(pool: PgPool) {
    // What the to-do apps send: the names are made from the email, the currency is USD.
    let app = app(pool.clone());
    let response = app
        .post(
            "/api/auth/register",
            json!({"email": "ann.smith@example.com", "password": "Corr3ct-horse"}),
        )
        .await;
    assert_eq!(response.status, StatusCode::ACCEPTED, "{}", response.body);
    let response = confirm(&app, "ann.smith@example.com").await;
    let body = &response.body;
    assert_eq!(body["user"]["name"], "Ann Smith");
    assert_eq!(body["organization"]["name"], "Ann Smith's organization");
    assert_eq!(body["organization"]["default_currency"], "USD");
    assert!(body["access_token"].is_string());
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn the_default_currency_is_chosen_at_registration(pool: PgPool) {
    let app = app(pool.clone());
    let response = app
        .post(
            "/api/auth/register",
            json!({"email": "ann@example.com", "password": "Corr3ct-horse", "name": "Ann",
                   "currency": "EUR"}),
        )
        .await;
    assert_eq!(response.status, StatusCode::ACCEPTED, "{}", response.body);
    let response = confirm(&app, "ann@example.com").await;
    assert_eq!(response.body["organization"]["name"], "Ann's organization");
    assert_eq!(response.body["organization"]["default_currency"], "EUR");
    for bad in [json!("eur"), json!("EURO"), json!("E1R"), json!(978)] {
        let response = app
            .post(
                "/api/auth/register",
                json!({"email": "bob@example.com", "password": "Corr3ct-horse", "currency": bad}),
            )
            .await;
        assert_problem(
            &response,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        );
        assert_eq!(response.body["errors"][0]["field"], "currency", "{bad}");
    }
    let users: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(users, 1, "nothing written for a refused registration");
}
