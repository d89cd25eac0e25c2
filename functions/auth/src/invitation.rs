//! `POST /api/auth/invitation/accept`: an invited user chooses a password and is signed in.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use shared::AppState;
use shared::audit::{Action, Actor, Entry};
use shared::auth::password::Password;
use shared::auth::{ClientIp, Role, tokens};
use shared::error::ApiError;
use shared::http::AppJson;

use crate::me::{self, Me};
use crate::session::{self, TokenPair};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptRequest {
    token: String,
    #[schema(format = "new-password")]
    password: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Accepted {
    #[serde(flatten)]
    me: Me,
    #[serde(flatten)]
    tokens: TokenPair,
}

#[utoipa::path(post, path = "/api/auth/invitation/accept", security(()), request_body = AcceptRequest,
    responses((status = 200, description = "The invitation is accepted; the new user is signed in", body = Accepted),
        (status = 401, description = "Unknown, used or expired invitation"),
        (status = 429, description = "Too many attempts")))]
pub async fn accept(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    AppJson(body): AppJson<AcceptRequest>,
) -> Result<Json<Accepted>, ApiError> {
    let hash = tokens::hash(&body.token);
    crate::guarded(
        &state,
        "invitation",
        &ip,
        Some(&hex::encode(&hash[..8])),
        async {
            let password_hash = Password::new(body.password, "password")?.hash().await?;

            let mut tx = state.pool.begin().await?;
            let user = sqlx::query!(
                r#"UPDATE user_invitations i SET used_at = now()
           FROM users u
           WHERE i.token_hash = $1 AND i.used_at IS NULL AND i.expires_at > now()
             AND u.id = i.user_id AND u.is_active AND u.password_hash IS NULL
           RETURNING u.id, u.org_id, u.role AS "role: Role""#,
                hash
            )
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| {
                ApiError::unauthorized(
                    "invalid_invitation",
                    "the invitation is invalid, used or expired",
                )
            })?;
            sqlx::query!(
                "UPDATE users SET password_hash = $2, updated_at = now() WHERE id = $1",
                user.id,
                password_hash
            )
            .execute(&mut *tx)
            .await?;
            Entry::new(Action::InvitationAccepted, user.id)
                .in_org(user.org_id)
                .by(Actor::User(user.id))
                .record(&mut tx)
                .await?;
            let tokens = session::start(&mut tx, &state, user.id, user.org_id, user.role).await?;
            let me = me::load(&mut tx, user.id).await?;
            tx.commit().await?;
            Ok(Json(Accepted { me, tokens }))
        },
    )
    .await
}
