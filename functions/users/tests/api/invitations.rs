//! `POST /api/users` (an invitation) and `POST /api/users/{id}/invitation`. Accepting is the
//! auth function's (`auth`'s `invitation::...` tests).
//!
//! Routes: `POST /api/users`, `POST /api/users/{id}/invitation`.

use http::StatusCode;
use serde_json::json;
use shared::auth::Role;
use shared::testing::{SmtpServer, assert_problem};
use sqlx::PgPool;

use crate::support::*;

/// The token of the last invitation link mailed to `email`.
async fn link(pool: &PgPool, email: &str) -> String {
    shared::testing::mailed_token(pool, email, "/accept-invitation").await
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn an_invitation_is_mailed_after_the_answer_and_the_member_waits_invited(pool: PgPool) {
    let smtp = SmtpServer::start();
    let apps = apps_with(
        pool.clone(),
        &[
            ("SMTP_URL", &smtp.url()),
            ("APP_URL", "https://app.example.com"),
        ],
    );
    let ann = apps.users.register("ann@example.com").await;
    let created = apps
        .users
        .by(&ann.token)
        .post(
            "/api/users",
            json!({"email": "new@example.com", "name": "New", "permissions": {"tasks": "write"}}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.body["status"], "invited");
    assert_eq!(created.body["invitation_pending"], true);
    assert_eq!(created.body["invitation_sent"], true);
    assert_eq!(created.body["name"], "New");
    let mut mail = Vec::new();
    for _ in 0..50 {
        mail = smtp.messages();
        if !mail.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(mail.len(), 1, "{mail:?}");
    assert!(mail[0].to.contains("new@example.com"));
    assert_eq!(mail[0].subject, "Owner invited you to Org on Stockroom");
    assert!(
        mail[0]
            .body
            .contains("https://app.example.com/accept-invitation?token=inv_"),
        "{}",
        mail[0].body
    );
    // The mailed token is the one invitation stored for them, unused and live: what
    // `POST /api/auth/invitation/accept` takes, once.
    let token = link(&pool, "new@example.com").await;
    let stored: Vec<(String, bool, bool)> = sqlx::query_as(
        "SELECT u.email, i.used_at IS NULL, i.expires_at > now() + interval '6 days'
         FROM user_invitations i JOIN users u ON u.id = i.user_id WHERE i.token_hash = $1",
    )
    .bind(shared::auth::tokens::hash(&token))
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(stored, [("new@example.com".to_owned(), true, true)]);
    // Nobody chose a password for them.
    assert_eq!(
        crate::people::sign_in_state(&pool, "new@example.com").await,
        (true, false)
    );
    let invited = apps
        .users
        .by(&ann.token)
        .get(&format!(
            "/api/users/{}",
            created.body["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(invited.body["status"], "invited", "{}", invited.body);
    assert_eq!(invited.body["effective_permissions"]["tasks"], "write");
    let sent: Vec<String> =
        sqlx::query_scalar("SELECT outcome FROM mail_outbox WHERE kind = 'invitation'")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(sent, ["sent"]);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn members_choose_their_own_password(pool: PgPool) {
    let apps = apps(pool.clone());
    let ann = apps.users.register("ann@example.com").await;
    let r = apps
        .users
        .by(&ann.token)
        .post(
            "/api/users",
            json!({"email": "bob@example.com", "name": "Bob", "password": "Corr3ct-horse"}),
        )
        .await;
    assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(r.body["errors"][0]["field"], "password");
    assert!(
        r.body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("choose their own password")
    );
    let people: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(people, 1, "nothing written");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn an_address_with_an_account_is_invited_exactly_like_a_new_one(pool: PgPool) {
    let apps = apps(pool.clone());
    let ann = apps.users.register("ann@a.example").await;
    // Someone of another organization, with MFA on and their own name.
    let zed = apps.users.register("zed@z.example").await;
    sqlx::query("UPDATE users SET mfa_enabled = true, name = 'Zed Private' WHERE id = $1::uuid")
        .bind(&zed.user_id)
        .execute(&pool)
        .await
        .unwrap();
    let invite = |email: &str| {
        let body = json!({"email": email, "name": "Invitee"});
        let apps = &apps;
        let token = ann.token.clone();
        async move { apps.users.by(&token).post("/api/users", body).await }
    };
    let known = invite("Zed@z.example").await;
    let unknown = invite("nobody@n.example").await;
    assert_eq!(known.status, StatusCode::CREATED, "{}", known.body);
    assert_eq!(known.status, unknown.status);
    let shape = |body: &serde_json::Value| {
        let mut body = body.clone();
        for field in ["id", "email", "created_at", "updated_at"] {
            body[field] = json!(null);
        }
        body
    };
    assert_eq!(
        shape(&known.body),
        shape(&unknown.body),
        "nothing tells them apart"
    );
    assert_eq!(known.body["name"], "Invitee", "never the person's own name");
    assert_eq!(known.body["mfa_enabled"], false);
    assert_eq!(
        known.body["id"],
        zed.user_id.as_str(),
        "the address's one person"
    );
    // Which text each gets is the outbox's business, after the answer.
    let zeds = shared::testing::queued_mail(&pool, "zed@z.example").await;
    assert!(
        zeds[0]
            .body
            .contains("You already have a Stockroom account"),
        "{zeds:?}"
    );
    let news = shared::testing::queued_mail(&pool, "nobody@n.example").await;
    assert!(news[0].body.contains("To choose your password"), "{news:?}");
    // Inviting a member (or an invited address) again is this organization's own business.
    assert_problem(
        &invite("zed@z.example").await,
        StatusCode::CONFLICT,
        "already_member",
    );
    assert_problem(
        &invite("ann@a.example").await,
        StatusCode::CONFLICT,
        "already_member",
    );
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_retried_invitation_with_an_idempotency_key_invites_once(pool: PgPool) {
    let apps = apps(pool.clone());
    let ann = apps.users.register("ann@example.com").await;
    let send = |email: &'static str| {
        let request = http::Request::post("/api/users")
            .header("authorization", format!("Bearer {}", ann.token))
            .header("content-type", "application/json")
            .header("idempotency-key", "hire-bob")
            .body(axum::body::Body::from(
                json!({"email": email, "name": "Bob"}).to_string(),
            ))
            .unwrap();
        shared::testing::send(&apps.users.router, request)
    };
    let first = send("bob@example.com").await;
    let retry = send("bob@example.com").await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    assert_eq!(retry.status, StatusCode::CREATED);
    assert_eq!(first.body["id"], retry.body["id"]);
    assert_problem(
        &send("eve@example.com").await,
        StatusCode::CONFLICT,
        "idempotency_key_reused",
    );
    let mail = shared::testing::queued_mail(&pool, "bob@example.com").await;
    assert_eq!(mail.len(), 1, "one invitation mailed");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn inviting_an_owner_or_admin_needs_a_step_up_and_a_user_does_not(pool: PgPool) {
    let apps = apps(pool.clone());
    let ann = apps.users.register("ann@example.com").await;
    for role in ["admin", "owner"] {
        let created = apps
            .users
            .by(&ann.token)
            .post(
                "/api/users",
                json!({"email": format!("{role}@example.com"), "name": "New", "role": role}),
            )
            .await;
        assert_problem(&created, StatusCode::UNAUTHORIZED, "step_up_required");
    }
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM memberships")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(count, 1, "nobody was invited");
    let user = apps
        .users
        .by(&ann.token)
        .post(
            "/api/users",
            json!({"email": "user@example.com", "name": "New", "role": "user"}),
        )
        .await;
    assert_eq!(user.status, StatusCode::CREATED, "{}", user.body);
    let admin = apps
        .users
        .by(&ann.token)
        .stepped_up()
        .post(
            "/api/users",
            json!({"email": "admin@example.com", "name": "New", "role": "admin"}),
        )
        .await;
    assert_eq!(admin.status, StatusCode::CREATED, "{}", admin.body);
    assert_eq!(admin.body["role"], "admin");
    // The owners hear of an owner or admin invited, before it is accepted (and again when it is).
    let told: Vec<String> = shared::testing::queued_mail(&pool, "ann@example.com")
        .await
        .into_iter()
        .map(|m| m.subject)
        .collect();
    assert_eq!(
        told,
        ["Owner invited admin@example.com to be an admin of Org"]
    );
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn an_organization_sends_a_limited_number_of_invitations_an_hour(pool: PgPool) {
    let apps = apps_with(pool.clone(), &[("INVITATIONS_PER_HOUR", "3")]);
    let ann = apps.users.register("ann@example.com").await;
    for n in 1..=3 {
        let r = apps
            .users
            .by(&ann.token)
            .post(
                "/api/users",
                json!({"email": format!("p{n}@example.com"), "name": "P"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    }
    let fourth = apps
        .users
        .by(&ann.token)
        .post(
            "/api/users",
            json!({"email": "p4@example.com", "name": "P"}),
        )
        .await;
    assert_problem(&fourth, StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    let retry: u64 = fourth.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=3600).contains(&retry), "{retry}");
    // Sending one again counts too.
    let first = apps.users.by(&ann.token).get("/api/users?limit=100").await;
    let invited = first.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["status"] == "invited")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let again = apps
        .users
        .by(&ann.token)
        .post(&format!("/api/users/{invited}/invitation"), json!({}))
        .await;
    assert_problem(&again, StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    // Another organization has its own count.
    let bea = apps.users.register("bea@example.com").await;
    let theirs = apps
        .users
        .by(&bea.token)
        .post(
            "/api/users",
            json!({"email": "p4@example.com", "name": "P"}),
        )
        .await;
    assert_eq!(theirs.status, StatusCode::CREATED, "{}", theirs.body);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn cancelling_an_invitation_kills_its_link_and_sending_it_again_makes_a_new_one(
    pool: PgPool,
) {
    let apps = apps(pool.clone());
    let ann = apps.users.register("ann@example.com").await;
    let created = apps
        .users
        .by(&ann.token)
        .post(
            "/api/users",
            json!({"email": "cleo@example.com", "name": "Cleo"}),
        )
        .await;
    let id = created.body["id"].as_str().unwrap().to_owned();
    let first = link(&pool, "cleo@example.com").await;
    let live = |token: String| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, bool>(
                "SELECT used_at IS NULL FROM user_invitations WHERE token_hash = $1",
            )
            .bind(shared::auth::tokens::hash(&token))
            .fetch_one(&pool)
            .await
            .unwrap()
        }
    };
    let resent = apps
        .users
        .by(&ann.token)
        .post(&format!("/api/users/{id}/invitation"), json!({}))
        .await;
    assert_eq!(resent.status, StatusCode::OK, "{}", resent.body);
    let second = link(&pool, "cleo@example.com").await;
    assert_ne!(first, second);
    assert!(!live(first).await, "the old link died");
    assert!(live(second.clone()).await);

    let cancelled = apps
        .users
        .by(&ann.token)
        .post(&format!("/api/users/{id}/deactivate"), json!({}))
        .await;
    assert_eq!(
        cancelled.body["status"], "deactivated",
        "{}",
        cancelled.body
    );
    assert!(!live(second).await, "cancelled");
    let not_invited = apps
        .users
        .by(&ann.token)
        .post(&format!("/api/users/{id}/invitation"), json!({}))
        .await;
    assert_problem(&not_invited, StatusCode::CONFLICT, "not_invited");
    // A member who has joined is not invited again.
    let bob = apps
        .users
        .person(&ann.org_id, "bob@example.com", Role::User, json!({}))
        .await;
    let joined = apps
        .users
        .by(&ann.token)
        .post(&format!("/api/users/{}/invitation", bob.user_id), json!({}))
        .await;
    assert_problem(&joined, StatusCode::CONFLICT, "not_invited");
}
