//! Password reset by emailed single-use link, and password change.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use shared::AppState;
use shared::audit::{Action, Actor, Entry};
use shared::auth::password::{self, Password};
use shared::auth::{AuthUser, ClientIp, tokens};
use shared::domain::Email;
use shared::email::outbox::{Mail, Text};
use shared::error::ApiError;
use shared::http::AppJson;

use crate::session::{self, TokenPair};

/// How long a reset link works.
const RESET_TOKEN_TTL_SECS: u64 = 30 * 60;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ForgotRequest {
    #[schema(format = Email, max_length = 254)]
    email: String,
}

#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = ForgotAccepted)]
pub struct Accepted {
    status: &'static str,
    detail: &'static str,
}

/// `POST /api/auth/password/forgot`: emails a reset link if the address belongs to an account.
/// The answer is the same either way, and so is the work done before it: one statement stores a
/// reset token for the address's account if it has one, and the mail (whose text, or absence,
/// is decided when it is sent) goes out after the answer. Limited per client address only, and
/// generously (an office shares one): an address's owner is never refused because someone else
/// asked for their address, and a mailbox gets at most three reset mails an hour (each link
/// works, so the owner can use any of them).
#[utoipa::path(post, path = "/api/auth/password/forgot", security(()), request_body = ForgotRequest,
    responses((status = 202, description = "The same answer whether or not the email exists", body = Accepted),
        (status = 429, description = "Too many attempts from this client address")))]
pub async fn forgot(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    AppJson(body): AppJson<ForgotRequest>,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    let keys = [format!("password_forgot:ip:{ip}")];
    shared::db::rate_limit::check(&state.pool, shared::db::rate_limit::OFFICE, &keys).await?;
    let email = Email::parse(&body.email, "email")?;

    let (token, hash) = tokens::generate("pr");
    let mut tx = state.pool.begin().await?;
    sqlx::query!(
        "INSERT INTO password_reset_tokens (user_id, token_hash, expires_at)
         SELECT id, $2, now() + make_interval(secs => $3) FROM users
         WHERE lower(email) = $1 AND password_hash IS NOT NULL",
        email.as_str(),
        hash,
        RESET_TOKEN_TTL_SECS as f64
    )
    .execute(&mut *tx)
    .await?;
    let link = format!("{}/reset-password?token={token}", state.settings.app_url);
    let text = Text::new(
        "Reset your Stockroom password",
        format!(
            "Someone asked to reset the password of your Stockroom account.\n\n\
             To choose a new password, open this link within 30 minutes:\n\n{link}\n\n\
             The link works once. If you did not ask for this, ignore this email; your password \
             stays as it is.\n"
        ),
    );
    // Nothing for an address without an account.
    let mail = Mail::depending_on_account("password_reset", email.as_str(), None, text);
    state.outbox.queue(&mut tx, None, mail).await?;
    tx.commit().await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(Accepted {
            status: "accepted",
            detail: "if an account uses this address, a reset link is on its way",
        }),
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetRequest {
    token: String,
    #[schema(format = "new-password")]
    new_password: String,
}

/// `POST /api/auth/password/reset`: sets the password with a reset token (once), and signs
/// out every session.
#[utoipa::path(post, path = "/api/auth/password/reset", security(()), request_body = ResetRequest,
    responses((status = 204, description = "The password is set; every session is signed out"),
        (status = 401, description = "Unknown, used or expired reset token"),
        (status = 429, description = "Too many attempts")))]
pub async fn reset(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    AppJson(body): AppJson<ResetRequest>,
) -> Result<StatusCode, ApiError> {
    crate::redeem_mailed_token(&state, "password_reset", &ip, &body.token, async |hash| {
        let password = Password::new(body.new_password, "new_password")?;
        let password_hash = password.hash().await?;

        let mut tx = state.pool.begin().await?;
        let user = sqlx::query!(
            r#"UPDATE password_reset_tokens t SET used_at = now()
               WHERE t.token_hash = $1 AND t.used_at IS NULL AND t.expires_at > now()
               RETURNING t.user_id AS id"#,
            hash
        )
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| {
            ApiError::unauthorized(
                "invalid_reset_token",
                "the reset link is invalid, used or expired",
            )
        })?;

        sqlx::query!(
            "UPDATE users SET password_hash = $2, updated_at = now() WHERE id = $1",
            user.id,
            password_hash
        )
        .execute(&mut *tx)
        .await?;
        // Any other outstanding link dies too, and every session ends.
        sqlx::query!(
            "UPDATE password_reset_tokens SET used_at = now()
             WHERE user_id = $1 AND used_at IS NULL",
            user.id
        )
        .execute(&mut *tx)
        .await?;
        shared::auth::sessions::revoke_all(&mut tx, user.id).await?;
        let mut entry = Entry::new(Action::PasswordReset, user.id);
        entry.org_id = crate::organizations::of_person(&mut tx, user.id).await?;
        entry.record(&mut tx).await?;
        tx.commit().await?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeRequest {
    #[schema(format = Password)]
    current_password: String,
    #[schema(format = "new-password")]
    new_password: String,
}

/// `POST /api/auth/password/change`: needs the current password; ends every other session and
/// returns a fresh token pair for this one.
#[utoipa::path(post, path = "/api/auth/password/change", security(("bearer" = [])), request_body = ChangeRequest,
    responses((status = 200, description = "Changed; other sessions are signed out, this one continues with new tokens", body = TokenPair),
        (status = 403, description = "`incorrect_password`: the current password is wrong"),
        (status = 429, description = "Too many attempts")))]
pub async fn change(
    State(state): State<AppState>,
    user: AuthUser,
    ClientIp(ip): ClientIp,
    AppJson(body): AppJson<ChangeRequest>,
) -> Result<Json<TokenPair>, ApiError> {
    crate::guarded(
        &state,
        "password_change",
        &ip,
        Some(&user.user_id.to_string()),
        async {
            let new_password = Password::new(body.new_password, "new_password")?;
            let stored = sqlx::query_scalar!(
                "SELECT password_hash FROM users WHERE id = $1",
                user.user_id
            )
            .fetch_one(&state.pool)
            .await?;
            // A wrong proof from a signed-in caller: 403, so a frontend does not take it for an expired
            // session (401).
            if !password::verify(&body.current_password, stored.as_deref()).await? {
                return Err(ApiError::forbidden(
                    "incorrect_password",
                    "the current password is incorrect",
                ));
            }
            let password_hash = new_password.hash().await?;

            let mut tx = state.pool.begin().await?;
            sqlx::query!(
                "UPDATE users SET password_hash = $2, updated_at = now() WHERE id = $1",
                user.user_id,
                password_hash
            )
            .execute(&mut *tx)
            .await?;
            shared::auth::sessions::revoke_all(&mut tx, user.user_id).await?;
            Entry::new(Action::PasswordChanged, user.user_id)
                .in_org(user.org_id)
                .by(Actor::User(user.user_id))
                .record(&mut tx)
                .await?;
            let tokens =
                session::start(&mut tx, &state, user.user_id, user.org_id, user.role).await?;
            tx.commit().await?;
            Ok(Json(tokens))
        },
    )
    .await
}
