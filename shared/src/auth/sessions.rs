//! Ending a person's sessions: the one way every function does it (a password change or reset
//! in auth, a deactivation in users). Their access tokens stop at the next request, since a
//! tenant request checks that its session is live.

use sqlx::PgConnection;
use uuid::Uuid;

use crate::error::ApiError;

/// Revokes every live refresh token (session) of the user, in the caller's transaction.
pub async fn revoke_all(conn: &mut PgConnection, user_id: Uuid) -> Result<(), ApiError> {
    sqlx::query!(
        "UPDATE refresh_tokens SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL",
        user_id
    )
    .execute(conn)
    .await?;
    Ok(())
}
