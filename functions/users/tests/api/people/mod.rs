use http::StatusCode;
use serde_json::json;
use shared::auth::Role;
use shared::testing::{PASSWORD, assert_problem};
use sqlx::PgPool;

use crate::support::*;

mod access;
mod deactivate;
mod list;
mod update;

/// What sign-in checks of the person with `email`: an active membership (of their only
/// organization), and a password that is [`PASSWORD`].
pub async fn sign_in_state(pool: &PgPool, email: &str) -> (bool, bool) {
    let (active, hash): (bool, Option<String>) = sqlx::query_as(
        "SELECT m.is_active, u.password_hash FROM users u JOIN memberships m ON m.user_id = u.id
         WHERE u.email = $1",
    )
    .bind(email)
    .fetch_one(pool)
    .await
    .unwrap();
    let password = shared::auth::password::verify(PASSWORD, hash.as_deref())
        .await
        .unwrap();
    (active, password)
}
