//! People of the release before memberships keep what they had after the migration that
//! brings them (`20261206000001_people_and_memberships`): each user becomes a person with one
//! membership, sessions stay signed in, and an invitation still open can be accepted.

use http::StatusCode;
use serde_json::json;
use sqlx::PgPool;

use crate::support::*;

/// The first migration of the memberships release.
const MEMBERSHIPS: i64 = 20261206000001;

/// Applies the migrations before [`MEMBERSHIPS`], as the previous release's database has them.
async fn previous_release(pool: &PgPool) {
    let dir =
        std::env::temp_dir().join(format!("stockroom-old-migrations-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let all = concat!(env!("CARGO_MANIFEST_DIR"), "/../../migrations");
    for entry in std::fs::read_dir(all).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        let version: i64 = name.split('_').next().unwrap().parse().unwrap();
        if version < MEMBERSHIPS {
            std::fs::copy(&path, dir.join(&name)).unwrap();
        }
    }
    let old = sqlx::migrate::Migrator::new(dir.as_path()).await.unwrap();
    old.run(pool).await.unwrap();
    std::fs::remove_dir_all(&dir).ok();
}

#[sqlx::test(migrations = false)]
async fn people_of_the_previous_release_keep_signing_in_after_the_migration(pool: PgPool) {
    previous_release(&pool).await;
    // The previous release's rows: an organization, its owner, a clerk with one module, an
    // invitation still open, and a signed-in session of the owner.
    let hash = shared::auth::password::Password::new(PASSWORD.into(), "password")
        .unwrap()
        .hash()
        .await
        .unwrap();
    let org: uuid::Uuid =
        sqlx::query_scalar("INSERT INTO organizations (name) VALUES ('Old shop') RETURNING id")
            .fetch_one(&pool)
            .await
            .unwrap();
    let insert = "INSERT INTO users (org_id, email, name, password_hash, role, permissions)
                  VALUES ($1, $2, $3, $4, $5::user_role, $6) RETURNING id";
    let mut ids = Vec::new();
    for (email, name, password, role, permissions) in [
        (
            "owner@old.example",
            "Olga",
            Some(hash.as_str()),
            "owner",
            json!({}),
        ),
        (
            "clerk@old.example",
            "Carl",
            Some(hash.as_str()),
            "user",
            json!({"products": "write"}),
        ),
        ("new@old.example", "Nina", None, "user", json!({})),
    ] {
        let id: uuid::Uuid = sqlx::query_scalar(insert)
            .bind(org)
            .bind(email)
            .bind(name)
            .bind(password)
            .bind(role)
            .bind(permissions)
            .fetch_one(&pool)
            .await
            .unwrap();
        ids.push(id);
    }
    let (invitation, invitation_hash) = shared::auth::tokens::generate("inv");
    sqlx::query("INSERT INTO user_invitations (user_id, token_hash, expires_at) VALUES ($1, $2, now() + interval '7 days')")
        .bind(ids[2])
        .bind(invitation_hash)
        .execute(&pool)
        .await
        .unwrap();
    let (refresh, refresh_hash) = shared::auth::tokens::generate("rt");
    sqlx::query("INSERT INTO refresh_tokens (user_id, family_id, token_hash, expires_at) VALUES ($1, gen_random_uuid(), $2, now() + interval '7 days')")
        .bind(ids[0])
        .bind(refresh_hash)
        .execute(&pool)
        .await
        .unwrap();

    shared::MIGRATOR.run(&pool).await.unwrap();
    let app = app(pool.clone());

    // The session of before refreshes, in its organization.
    let refreshed = app
        .post("/api/auth/refresh", json!({"refresh_token": refresh}))
        .await;
    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.body);
    let claims = shared::testing::claims_of(&token(&refreshed.body, "access_token"));
    assert_eq!(claims["org"], org.to_string());
    // Everyone with a password signs in, with the role and permissions they had.
    let owner = login(&app, "owner@old.example", PASSWORD).await;
    assert_eq!(owner.status, StatusCode::OK, "{}", owner.body);
    assert_eq!(owner.body["user"]["role"], "owner");
    assert_eq!(owner.body["organization"]["id"], org.to_string());
    let clerk = login(&app, "clerk@old.example", PASSWORD).await;
    assert_eq!(clerk.status, StatusCode::OK, "{}", clerk.body);
    assert_eq!(
        clerk.body["user"]["permissions"],
        json!({"products": "write"})
    );
    // The invitation still open is accepted as before.
    let accepted = app
        .post(
            "/api/auth/invitation/accept",
            json!({"token": invitation, "password": PASSWORD}),
        )
        .await;
    assert_eq!(accepted.status, StatusCode::OK, "{}", accepted.body);
    assert_eq!(accepted.body["organization"]["id"], org.to_string());
    // And the columns the previous release reads stay in step (a rollback's code signs in too).
    let legacy: Vec<(Option<uuid::Uuid>, String)> =
        sqlx::query_as("SELECT org_id, role::text FROM users ORDER BY email")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert!(legacy.iter().all(|(o, _)| *o == Some(org)), "{legacy:?}");
}
