//! People and organizations written straight to a test database, as the auth function leaves
//! them, without linking it or waiting for its rate limits.

use sqlx::PgPool;

use super::state::settings;

/// The password of everyone [`register`] and [`member`] create.
pub const PASSWORD: &str = "Corr3ct-horse";

/// A fresh client IP for each call, so the per-IP limits on the auth routes never interfere
/// with a test that signs in many times.
pub fn next_client_ip() -> String {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("10.{}.{}.{}", (n >> 16) & 255, (n >> 8) & 255, n & 255)
}

/// An organization and a person in it, as a test seeds them.
#[derive(Debug, Clone)]
pub struct Registered {
    pub org_id: String,
    pub user_id: String,
    pub token: String,
}

/// A new organization ("Org", USD) and its owner (`email`, [`PASSWORD`]) with a live session,
/// written straight to the test database, with the audit
/// row registration writes: what `POST /api/auth/register` leaves, without linking the auth
/// function or waiting for its rate limits.
pub async fn register(pool: &PgPool, email: &str) -> Registered {
    let org_id: uuid::Uuid = sqlx::query_scalar(
        "INSERT INTO organizations (name, default_currency) VALUES ('Org', 'USD') RETURNING id",
    )
    .fetch_one(pool)
    .await
    .expect("organization inserted");
    let owner = seed_person(pool, org_id, email, "Owner", crate::auth::Role::Owner, None).await;
    let registered = serde_json::json!({
        "organization": "Org", "owner": email, "default_currency": "USD",
    });
    let mut conn = pool.acquire().await.expect("a connection");
    crate::audit::Entry::new(crate::audit::Action::Register, org_id)
        .in_org(org_id)
        .by(crate::audit::Actor::User(owner.0))
        .change(crate::audit::Change::created(&registered))
        .record(&mut conn)
        .await
        .expect("audit row written");
    Registered {
        org_id: org_id.to_string(),
        user_id: owner.0.to_string(),
        token: owner.1,
    }
}

/// A `user`-role member of the organization `org_id` with module `permissions` (JSON such as
/// `{"tasks": "write"}`), signed in: written straight to the database of `app`.
pub async fn member(
    pool: &PgPool,
    org_id: &str,
    email: &str,
    permissions: serde_json::Value,
) -> Registered {
    person(pool, org_id, email, crate::auth::Role::User, permissions).await
}

/// As [`member`], with `role`.
pub async fn person(
    pool: &PgPool,
    org_id: &str,
    email: &str,
    role: crate::auth::Role,
    permissions: serde_json::Value,
) -> Registered {
    let org: uuid::Uuid = org_id.parse().expect("an organization id");
    let (user_id, token) = seed_person(pool, org, email, "Member", role, Some(permissions)).await;
    Registered {
        org_id: org_id.to_owned(),
        user_id: user_id.to_string(),
        token,
    }
}

/// Inserts a person with [`PASSWORD`], their membership of `org_id` and a session there (a
/// refresh-token family, as a login starts one); returns the person's id and the session's
/// access token, signed with the test keys.
async fn seed_person(
    pool: &PgPool,
    org_id: uuid::Uuid,
    email: &str,
    name: &str,
    role: crate::auth::Role,
    permissions: Option<serde_json::Value>,
) -> (uuid::Uuid, String) {
    let user_id: uuid::Uuid = sqlx::query_scalar(
        "INSERT INTO users (email, name, password_hash) VALUES ($1, $2, $3) RETURNING id",
    )
    .bind(email)
    .bind(name)
    .bind(password_hash().await)
    .fetch_one(pool)
    .await
    .expect("person inserted");
    let token = seed_membership(pool, org_id, user_id, role, permissions).await;
    (user_id, token)
}

/// Makes person `user_id` an active member of `org_id` and signs them in there (a session of
/// its own); the access token.
async fn seed_membership(
    pool: &PgPool,
    org_id: uuid::Uuid,
    user_id: uuid::Uuid,
    role: crate::auth::Role,
    permissions: Option<serde_json::Value>,
) -> String {
    sqlx::query(
        "INSERT INTO memberships (org_id, user_id, role, permissions, joined_at)
         VALUES ($1, $2, $3, coalesce($4, '{}'::jsonb), now())",
    )
    .bind(org_id)
    .bind(user_id)
    .bind(role)
    .bind(permissions)
    .execute(pool)
    .await
    .expect("membership inserted");
    session_token(pool, org_id, user_id, role).await
}

/// A new session of `user_id` in `org_id` (as a sign-in there starts one), as `role`; its access
/// token.
pub async fn session_token(
    pool: &PgPool,
    org_id: uuid::Uuid,
    user_id: uuid::Uuid,
    role: crate::auth::Role,
) -> String {
    let (_, refresh_hash) = crate::auth::tokens::generate("rt");
    let (session, family, issued_at): (uuid::Uuid, uuid::Uuid, chrono::DateTime<chrono::Utc>) =
        sqlx::query_as(
            "INSERT INTO refresh_tokens (user_id, org_id, family_id, token_hash, expires_at)
             VALUES ($1, $2, gen_random_uuid(), $3, now() + interval '7 days')
             RETURNING id, family_id, created_at",
        )
        .bind(user_id)
        .bind(org_id)
        .bind(refresh_hash)
        .fetch_one(pool)
        .await
        .expect("session inserted");
    crate::auth::jwt::issue_at(
        &settings(&[]).keys.snapshot(),
        crate::domain::UserId(user_id),
        crate::domain::OrgId(org_id),
        role,
        crate::domain::SessionId(family),
        issued_at.timestamp(),
        session,
    )
    .expect("signed")
}

/// An invitation of `email` to `org_id` with `role` and `permissions`, as `POST /api/users`
/// leaves one: the address's person (found, or made without a password), an invited membership
/// and an invitation link valid for `expires_in` (an SQL interval: `7 days`, `-1 second`).
/// Returns the person's id and the link's token.
pub async fn invited(
    pool: &PgPool,
    org_id: &str,
    email: &str,
    role: crate::auth::Role,
    permissions: serde_json::Value,
    expires_in: &str,
) -> (uuid::Uuid, String) {
    let org: uuid::Uuid = org_id.parse().expect("an organization id");
    let user_id: uuid::Uuid = sqlx::query_scalar(
        "INSERT INTO users (email, name) VALUES ($1, 'New') ON CONFLICT ((lower(email)))
         DO UPDATE SET email = users.email RETURNING id",
    )
    .bind(email)
    .fetch_one(pool)
    .await
    .expect("person found or made");
    sqlx::query(
        "INSERT INTO memberships (org_id, user_id, role, permissions, invited_at, invited_name,
                                  invited_email, admin_granted_at)
         VALUES ($1, $2, $3, $4, now(), 'New', $5, CASE WHEN $3 <> 'user' THEN now() END)",
    )
    .bind(org)
    .bind(user_id)
    .bind(role)
    .bind(permissions)
    .bind(email)
    .execute(pool)
    .await
    .expect("invited membership inserted");
    let (token, hash) = crate::auth::tokens::generate("inv");
    sqlx::query(
        "INSERT INTO user_invitations (user_id, org_id, token_hash, expires_at)
         VALUES ($1, $2, $3, now() + $4::interval)",
    )
    .bind(user_id)
    .bind(org)
    .bind(hash)
    .bind(expires_in)
    .execute(pool)
    .await
    .expect("invitation inserted");
    (user_id, token)
}

/// Makes the person of `someone` (seeded in another organization) also a member of `org_id`
/// with `role` and `permissions`, signed in there: one person in two organizations.
pub async fn also_member(
    pool: &PgPool,
    org_id: &str,
    someone: &Registered,
    role: crate::auth::Role,
    permissions: serde_json::Value,
) -> Registered {
    let org: uuid::Uuid = org_id.parse().expect("an organization id");
    let user: uuid::Uuid = someone.user_id.parse().expect("a person id");
    let token = seed_membership(pool, org, user, role, Some(permissions)).await;
    Registered {
        org_id: org_id.to_owned(),
        user_id: someone.user_id.clone(),
        token,
    }
}

/// The bcrypt hash of [`PASSWORD`], made once per test binary (a hash takes a while).
async fn password_hash() -> String {
    static HASH: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
    HASH.get_or_init(|| async {
        crate::auth::password::Password::new(PASSWORD.into(), "password")
            .expect("a strong password")
            .hash()
            .await
            .expect("bcrypt hashes")
    })
    .await
    .clone()
}

/// The current TOTP code of a base32 secret, `offset` seconds from now, computed by pyotp (an
/// authenticator app's implementation, not ours; `make test` installs it).
pub fn totp_code(secret_base32: &str, offset: i64) -> String {
    let output = std::process::Command::new("python3")
        .args([
            "-c",
            "import sys, time, pyotp; print(pyotp.TOTP(sys.argv[1]).at(time.time() + int(sys.argv[2])))",
            secret_base32,
            &offset.to_string(),
        ])
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "pyotp failed (run the tests with `make test`, which installs it): {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .expect("a code")
        .trim()
        .to_owned()
}
