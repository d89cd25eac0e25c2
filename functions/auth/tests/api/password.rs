//! Passwords: changing one, and a reset by mail that nobody can use to probe or lock out.
//!
//! Routes: `POST /api/auth/password/change`, `POST /api/auth/password/forgot`,
//!  `POST /api/auth/password/reset`.

use crate::support::*;
use http::StatusCode;
use serde_json::json;
use shared::testing::{SmtpServer, TestApp, assert_problem};
use sqlx::PgPool;

fn app_with_smtp(pool: PgPool, smtp: &SmtpServer) -> TestApp {
    app_with(
        pool,
        &[
            ("SMTP_URL", &smtp.url()),
            ("APP_URL", "https://app.example.com"),
        ],
    )
}

/// The reset token from the link in the received email.
fn token_from(body: &str) -> String {
    let start = body.find("token=").expect("a reset link in the email") + "token=".len();
    body[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .collect()
}

/// The reset mails received, once there are `count` (or after 5 s): mail goes out after the
/// response.
async fn wait_for_mail(smtp: &SmtpServer, count: usize) -> Vec<shared::testing::ReceivedEmail> {
    let resets = || {
        let mut messages = smtp.messages();
        messages.retain(|m| m.subject == "Reset your Stockroom password");
        messages
    };
    for _ in 0..50 {
        let messages = resets();
        if messages.len() >= count {
            return messages;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    resets()
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_reset_link_is_emailed_and_sets_a_new_password_once(pool: PgPool) {
    let smtp = SmtpServer::start();
    let app = app_with_smtp(pool.clone(), &smtp);
    let session = signed_up(&app, "ann@example.com").await;

    let response = app
        .post(
            "/api/auth/password/forgot",
            json!({"email": "Ann@example.com"}),
        )
        .await;
    assert_eq!(response.status, StatusCode::ACCEPTED);
    let mail = wait_for_mail(&smtp, 1).await;
    assert_eq!(mail.len(), 1);
    assert!(mail[0].to.contains("ann@example.com"), "{:?}", mail[0]);
    assert_eq!(mail[0].subject, "Reset your Stockroom password");
    assert!(
        mail[0]
            .body
            .contains("https://app.example.com/reset-password?token=pr_"),
        "{}",
        mail[0].body
    );
    let reset_token = token_from(&mail[0].body);

    let reset = app
        .post(
            "/api/auth/password/reset",
            json!({"token": reset_token, "new_password": "N3w-password!"}),
        )
        .await;
    assert_eq!(reset.status, StatusCode::NO_CONTENT, "{}", reset.body);
    assert_eq!(
        login(&app, "ann@example.com", "N3w-password!").await.status,
        StatusCode::OK
    );
    assert_eq!(
        login(&app, "ann@example.com", PASSWORD).await.status,
        StatusCode::UNAUTHORIZED
    );
    // Single use.
    let again = app
        .post(
            "/api/auth/password/reset",
            json!({"token": reset_token, "new_password": "Other-passw0rd"}),
        )
        .await;
    assert_problem(&again, StatusCode::UNAUTHORIZED, "invalid_reset_token");
    // Every session from before the reset is gone.
    let refresh = app
        .post(
            "/api/auth/refresh",
            json!({"refresh_token": token(&session, "refresh_token")}),
        )
        .await;
    assert_eq!(refresh.status, StatusCode::UNAUTHORIZED);
    let actions = audit_actions(&pool, session["user"]["id"].as_str().unwrap()).await;
    assert!(
        actions.contains(&"password_reset".to_owned()),
        "{actions:?}"
    );
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn forgot_answers_the_same_for_an_unknown_email_and_sends_nothing(pool: PgPool) {
    let smtp = SmtpServer::start();
    let app = app_with_smtp(pool.clone(), &smtp);
    signed_up(&app, "ann@example.com").await;
    let known = app
        .post(
            "/api/auth/password/forgot",
            json!({"email": "ann@example.com"}),
        )
        .await;
    let unknown = app
        .post(
            "/api/auth/password/forgot",
            json!({"email": "nobody@example.com"}),
        )
        .await;
    assert_eq!(known.status, unknown.status);
    assert_eq!(known.body, unknown.body);
    assert_eq!(wait_for_mail(&smtp, 1).await.len(), 1);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(
        wait_for_mail(&smtp, 2).await.len(),
        1,
        "nothing sent for the unknown address"
    );
    assert!(
        smtp.messages().iter().all(|m| !m.to.contains("nobody")),
        "{:?}",
        smtp.messages()
    );
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn an_expired_reset_token_is_refused(pool: PgPool) {
    let smtp = SmtpServer::start();
    let app = app_with_smtp(pool.clone(), &smtp);
    signed_up(&app, "ann@example.com").await;
    app.post(
        "/api/auth/password/forgot",
        json!({"email": "ann@example.com"}),
    )
    .await;
    let reset_token = token_from(&wait_for_mail(&smtp, 1).await[0].body);
    sqlx::query("UPDATE password_reset_tokens SET expires_at = now() - interval '1 second'")
        .execute(&pool)
        .await
        .unwrap();
    let response = app
        .post(
            "/api/auth/password/reset",
            json!({"token": reset_token, "new_password": "N3w-password!"}),
        )
        .await;
    assert_problem(&response, StatusCode::UNAUTHORIZED, "invalid_reset_token");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn the_reset_token_expires_after_30_minutes_and_is_stored_hashed(pool: PgPool) {
    let smtp = SmtpServer::start();
    let app = app_with_smtp(pool.clone(), &smtp);
    signed_up(&app, "ann@example.com").await;
    app.post(
        "/api/auth/password/forgot",
        json!({"email": "ann@example.com"}),
    )
    .await;
    let reset_token = token_from(&wait_for_mail(&smtp, 1).await[0].body);
    let (minutes, hash): (f64, Vec<u8>) = sqlx::query_as(
        "SELECT extract(epoch FROM expires_at - created_at)::float8 / 60, token_hash FROM password_reset_tokens",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!((29.9..=30.1).contains(&minutes), "{minutes}");
    assert_eq!(hash, shared::auth::tokens::hash(&reset_token));
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_weak_new_password_is_refused_and_the_token_survives(pool: PgPool) {
    let smtp = SmtpServer::start();
    let app = app_with_smtp(pool, &smtp);
    signed_up(&app, "ann@example.com").await;
    app.post(
        "/api/auth/password/forgot",
        json!({"email": "ann@example.com"}),
    )
    .await;
    let reset_token = token_from(&wait_for_mail(&smtp, 1).await[0].body);
    let weak = app
        .post(
            "/api/auth/password/reset",
            json!({"token": reset_token, "new_password": "weak"}),
        )
        .await;
    assert_problem(&weak, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(weak.body["errors"][0]["field"], "new_password");
    let ok = app
        .post(
            "/api/auth/password/reset",
            json!({"token": reset_token, "new_password": "N3w-password!"}),
        )
        .await;
    assert_eq!(ok.status, StatusCode::NO_CONTENT);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn change_needs_the_current_password_and_ends_other_sessions(pool: PgPool) {
    let app = app(pool);
    let session = signed_up(&app, "ann@example.com").await;
    let access = token(&session, "access_token");
    let wrong = app
        .by(&access)
        .post(
            "/api/auth/password/change",
            json!({"current_password": "Wrong-passw0rd", "new_password": "N3w-password!"}),
        )
        .await;
    assert_problem(&wrong, StatusCode::FORBIDDEN, "incorrect_password");

    let changed = app
        .by(&access)
        .post(
            "/api/auth/password/change",
            json!({"current_password": PASSWORD, "new_password": "N3w-password!"}),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    assert!(changed.body["refresh_token"].is_string());
    let old = app
        .post(
            "/api/auth/refresh",
            json!({"refresh_token": token(&session, "refresh_token")}),
        )
        .await;
    assert_eq!(old.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        login(&app, "ann@example.com", "N3w-password!").await.status,
        StatusCode::OK
    );
}
