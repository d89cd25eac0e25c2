//! A frontend on one base URL: health, unknown routes, CORS, sign-up and sign-in, and the
//! problem answers of the event path (malformed JSON, a body over the limit).

use super::*;

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn health_answers_at_the_base_url(pool: PgPool) {
    let api = start(&pool).await;
    let response = reqwest::get(format!("{}/health", api.base)).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    assert_eq!(response.headers()["x-frame-options"], "DENY");
    assert!(response.headers().contains_key("strict-transport-security"));
    assert!(response.headers().contains_key("x-request-id"));
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        serde_json::json!({"status": "ok"})
    );
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn health_db_reaches_the_test_database(pool: PgPool) {
    let api = start(&pool).await;
    let response = reqwest::get(format!("{}/health/db", api.base))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().await.unwrap()["database"], "ok");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn unknown_routes_are_404_problems_with_the_lambda_request_id(pool: PgPool) {
    let api = start(&pool).await;
    let response = reqwest::get(format!("{}/api/does-not-exist", api.base))
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let header_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "not_found");
    assert_eq!(body["request_id"], header_id.as_str());
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn cors_preflight_is_answered_for_the_default_origin(pool: PgPool) {
    let api = start(&pool).await;
    let response = reqwest::Client::new()
        .request(reqwest::Method::OPTIONS, format!("{}/health", api.base))
        .header("origin", "http://localhost:3000")
        .header("access-control-request-method", "GET")
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());
    assert_eq!(
        response.headers()["access-control-allow-origin"],
        "http://localhost:3000"
    );
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_frontend_registers_logs_in_and_reads_me_through_one_base_url(pool: PgPool) {
    // A real mail server: the confirmation goes out from the function binary after its answer
    // (the runtime sends deferred mail between posting the response and asking for the next
    // event), and the link in it confirms the address.
    let smtp = shared::testing::SmtpServer::start();
    let api = start_with(&pool, &[("SMTP_URL", &smtp.url())]).await;
    let client = reqwest::Client::new();
    let register = client
        .post(format!("{}/api/auth/register", api.base))
        .json(
            &serde_json::json!({"organization_name": "Acme", "name": "Ann",
            "email": "ann@example.com", "password": "Corr3ct-horse"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(register.status(), 202);
    let mail = smtp.wait_for(1).await;
    assert_eq!(mail.len(), 1, "the confirmation mail arrived");
    assert_eq!(mail[0].subject, "Confirm your Stockroom account");
    let (_, link) = mail[0]
        .body
        .split_once("/confirm-registration?token=")
        .unwrap();
    let token = link.split_whitespace().next().unwrap();
    let confirmed = client
        .post(format!("{}/api/auth/register/confirm", api.base))
        .json(&serde_json::json!({ "token": token }))
        .send()
        .await
        .unwrap();
    assert_eq!(confirmed.status(), 200);

    let login: Value = client
        .post(format!("{}/api/auth/login", api.base))
        .json(&serde_json::json!({"email": "ann@example.com", "password": "Corr3ct-horse"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access = login["access_token"].as_str().expect("an access token");

    let me: Value = get_json(&client, format!("{}/api/auth/me", api.base), access).await;
    assert_eq!(me["user"]["email"], "ann@example.com");
    assert_eq!(me["organization"]["name"], "Acme");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn malformed_json_is_a_400_problem_through_the_event_path(pool: PgPool) {
    let api = start(&pool).await;
    let response = reqwest::Client::new()
        .post(format!("{}/api/auth/login", api.base))
        .header("content-type", "application/json")
        .body(r#"{"email": "#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    assert_eq!(
        response.json::<Value>().await.unwrap()["code"],
        "malformed_json"
    );
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_body_over_the_limit_is_a_413_problem_through_the_event_path(pool: PgPool) {
    let api = start(&pool).await;
    let response = reqwest::Client::new()
        .post(format!("{}/api/auth/login", api.base))
        .header("content-type", "application/json")
        .body(format!(
            r#"{{"email": "{}", "password": "x"}}"#,
            "a".repeat(2 * 1024 * 1024)
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    assert_eq!(
        response.json::<Value>().await.unwrap()["code"],
        "payload_too_large"
    );
}
