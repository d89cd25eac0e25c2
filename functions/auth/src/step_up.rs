//! `POST /api/auth/step-up`: proves, again, that the signed-in person is at the keyboard, for the
//! actions that move money or grant access (see `shared::auth::step_up`).
//!
//! The proof is the password, or, when MFA is on, a current authenticator code (a password
//! alone is not enough then: it is the factor most often stolen with a session). Attempts are
//! limited like sign-in (5 failures a minute per client IP and per account), and every step-up
//! is audited.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use shared::AppState;
use shared::audit::{Action, Actor, Change, Entry};
use shared::auth::{AuthUser, ClientIp, password, step_up};
use shared::domain::{OrgId, SessionId, UserId};
use shared::error::ApiError;
use shared::http::AppJson;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StepUpRequest {
    /// The account's password (when MFA is off).
    #[schema(format = Password)]
    password: Option<String>,
    /// A current authenticator code (when MFA is on).
    #[schema(pattern = r"^[0-9]{6}$")]
    code: Option<String>,
    /// The one request the token is for, as `METHOD /path` (the path as it will be sent,
    /// without its query): `"POST /api/purchase-orders/0b9f.../pay"`. The token is good for
    /// that request only, once.
    #[schema(
        pattern = r"^(POST|PUT|PATCH|DELETE) /api/[A-Za-z0-9._~%/-]{1,300}$",
        example = "POST /api/api-keys"
    )]
    action: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct StepUpToken {
    /// Send as `X-Step-Up-Token` with the sensitive request.
    step_up_token: String,
    /// Seconds it counts for (300), in this session only, for `action` only, once.
    expires_in: u64,
    /// The request it is for.
    action: String,
    /// How the person proved it was them: `password` or `totp`.
    #[schema(schema_with = method_schema)]
    method: &'static str,
}

fn method_schema() -> utoipa::openapi::schema::Object {
    shared::http::openapi::text_enum(&["password", "totp"])
}

/// `POST /api/auth/step-up`: a short-lived step-up token for this session and one request.
#[utoipa::path(post, path = "/api/auth/step-up", operation_id = "step_up", security(("bearer" = [])), request_body = StepUpRequest,
    responses((status = 200, description = "Proved: a step-up token for the next 5 minutes of this session, for `action` only, once", body = StepUpToken),
        (status = 403, description = "`incorrect_password` or `incorrect_code`; `proof_required`: `password` is needed (MFA off), or `code` (MFA on)"),
        (status = 429, description = "Too many attempts")))]
pub async fn step_up(
    State(state): State<AppState>,
    user: AuthUser,
    ClientIp(ip): ClientIp,
    AppJson(body): AppJson<StepUpRequest>,
) -> Result<Json<StepUpToken>, ApiError> {
    let action = body.action.clone();
    // As the document's pattern says: a method that changes something and a path (no query).
    let well_formed = action.split_once(' ').is_some_and(|(method, path)| {
        let rest = path.strip_prefix("/api/").unwrap_or_default();
        ["POST", "PUT", "PATCH", "DELETE"].contains(&method)
            && (1..=300).contains(&rest.len())
            && rest
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._~%/-".contains(c))
    });
    if !well_formed {
        return Err(ApiError::invalid_field(
            "action",
            "invalid",
            "the request the step-up is for, as METHOD /path: \"POST /api/api-keys\"",
        ));
    }
    crate::guarded(
        &state,
        "step_up",
        &ip,
        Some(&user.user_id.to_string()),
        async {
            let mut tx = state.pool.begin().await?;
            let row = sqlx::query!(
                "SELECT password_hash, mfa_enabled, mfa_secret, mfa_last_step FROM users
             WHERE id = $1 FOR UPDATE",
                user.user_id
            )
            .fetch_one(&mut *tx)
            .await?;
            let method = match (row.mfa_enabled, row.mfa_secret) {
                (true, Some(sealed)) => {
                    let code = body.code.as_deref().ok_or_else(|| {
                        missing("code", "MFA is on: send a current authenticator code")
                    })?;
                    let (id, last_step) = (user.user_id, row.mfa_last_step);
                    let accepted =
                        crate::mfa::accept_code(&mut tx, &state, id, &sealed, last_step, code)
                            .await?;
                    if !accepted {
                        return Err(crate::mfa::wrong_code());
                    }
                    "totp"
                }
                _ => {
                    let given = body
                        .password
                        .as_deref()
                        .ok_or_else(|| missing("password", "send the account's password"))?;
                    if !password::verify(given, row.password_hash.as_deref()).await? {
                        return Err(ApiError::forbidden(
                            "incorrect_password",
                            "the password is incorrect",
                        ));
                    }
                    "password"
                }
            };
            let keys = state.settings.keys.current().await;
            let holder = step_up::Holder {
                user: UserId(user.user_id),
                org: OrgId(user.org_id),
                sid: SessionId(user.session_id),
            };
            let (token, expires_in) = step_up::issue(&keys, holder, method, &action)?;
            let after = serde_json::json!({
                "method": method, "session_id": user.session_id, "action": action,
            });
            Entry::new(Action::StepUp, user.user_id)
                .in_org(user.org_id)
                .by(Actor::User(user.user_id))
                .change(Change::none().after(&after))
                .record(&mut tx)
                .await?;
            tx.commit().await?;
            Ok(Json(StepUpToken {
                step_up_token: token,
                expires_in,
                method,
                action,
            }))
        },
    )
    .await
}

/// The proof this account needs was not sent: a refusal like a wrong one (403, counted), since
/// which proof is needed depends on the account, not on the request's shape.
fn missing(field: &str, message: &str) -> ApiError {
    ApiError::forbidden("proof_required", format!("{field}: {message}"))
}
