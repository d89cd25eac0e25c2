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
async fn a_taken_email_is_a_conflict_and_creates_nothing(pool: PgPool) {
    let app = app(pool.clone());
    signed_up(&app, "ann@example.com").await;
    let response = register(&app, "ANN@example.com").await;
    assert_problem(&response, StatusCode::CONFLICT, "email_taken");
    let orgs: i64 = sqlx::query_scalar("SELECT count(*) FROM organizations")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(orgs, 1, "the second organization was rolled back");
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
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.body);
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
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.body);
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
