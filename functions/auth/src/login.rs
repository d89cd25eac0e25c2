//! `POST /api/auth/login` and its second step `POST /api/auth/login/mfa`.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::json;
use shared::AppState;
use shared::audit::{Action, Actor, Change, Entry};
use shared::auth::{ClientIp, Role, password, tokens};
use shared::error::{ApiError, FieldError, Fields};
use shared::http::AppJson;
use shared::http::openapi::Flag;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::me::{self, Me};
use crate::session::{self, TokenPair};
use crate::{devices, invalid_credentials};

/// How long the second step of a login may take.
const MFA_CHALLENGE_TTL_SECS: u64 = 300;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    #[schema(min_length = 1)]
    email: String,
    #[schema(format = Password, min_length = 1)]
    password: String,
    /// The `device_token` an earlier sign-in to this account gave this device (kept by the
    /// frontend, in local storage): with it, failed attempts by others never refuse this
    /// device's correct password.
    #[schema(max_length = 100)]
    device_token: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum LoginResponse {
    SignedIn {
        // `false`: the session is open (no doc comment: it would wrap the literal's schema).
        #[schema(inline)]
        mfa_required: Flag<false>,
        #[serde(flatten)]
        me: Box<Me>,
        #[serde(flatten)]
        tokens: TokenPair,
        /// Keep it on this device and send it with the next sign-in to this account (see
        /// `LoginRequest.device_token`); the same one while it is known.
        device_token: String,
    },
    MfaRequired {
        // `true`: send a code with `mfa_token` to `POST /api/auth/login/mfa`.
        #[schema(inline)]
        mfa_required: Flag<true>,
        mfa_token: String,
        expires_in: u64,
    },
}

fn required(field: &str, value: &str, fields: &mut Fields) {
    if value.is_empty() {
        fields.add(FieldError::new(field, "required", "must not be empty"));
    }
}

/// Signs person `user_id` in to `org_id`, where they are a member with `role` (audited as a
/// login by `method`), from `device` (known, or new): a new session, its token pair and the
/// device's token.
pub(crate) async fn sign_in(
    conn: &mut PgConnection,
    state: &AppState,
    (user_id, org_id, role): (Uuid, Uuid, Role),
    method: &str,
    device: Option<&devices::Known>,
) -> Result<LoginResponse, ApiError> {
    Entry::new(Action::Login, user_id)
        .in_org(org_id)
        .by(Actor::User(user_id))
        .change(Change::none().after(&json!({ "method": method })))
        .record(conn)
        .await?;
    let tokens = session::start(conn, state, user_id, org_id, role).await?;
    let me = me::load(conn, user_id, org_id).await?;
    let device_token = devices::remember(conn, user_id, device).await?;
    Ok(LoginResponse::SignedIn {
        mfa_required: Flag,
        me: Box::new(me),
        tokens,
        device_token,
    })
}

#[utoipa::path(post, path = "/api/auth/login", security(()), request_body = LoginRequest,
    responses((status = 200, description = "Signed in, or `mfa_required` with a challenge token", body = LoginResponse),
        (status = 401, description = "Wrong email or password"),
        (status = 429, description = "Too many attempts")))]
pub async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    AppJson(body): AppJson<LoginRequest>,
) -> Result<Json<LoginResponse>, ApiError> {
    let email = body.email.trim().to_lowercase();
    let device = {
        let mut conn = state.pool.acquire().await?;
        devices::known(&mut conn, &email, body.device_token.as_deref()).await?
    };
    let limits = devices::limits("login", &ip, &email, device.as_ref());
    crate::guarded_by(&state, &limits, async {
        let mut fields = Fields::default();
        required("email", &email, &mut fields);
        required("password", &body.password, &mut fields);
        if !fields.is_empty() {
            return Err(fields.into_error());
        }

        let user = sqlx::query!(
            "SELECT id, password_hash, mfa_enabled FROM users WHERE lower(email) = $1",
            email
        )
        .fetch_optional(&state.pool)
        .await?;
        // Always one bcrypt verification, so an unknown email takes as long as a wrong password.
        let password_ok = password::verify(
            &body.password,
            user.as_ref().and_then(|u| u.password_hash.as_deref()),
        )
        .await?;

        let mut tx = state.pool.begin().await?;
        let Some(user) = user else {
            tracing::info!("login attempt for an unknown email");
            return Err(invalid_credentials());
        };
        // The organization the sign-in lands in (none: no active membership anywhere).
        let landing = match password_ok {
            true => crate::organizations::landing(&mut tx, user.id).await?,
            false => None,
        };
        let Some((org_id, role)) = landing else {
            let reason = if password_ok {
                "inactive"
            } else {
                "wrong_password"
            };
            let mut entry = Entry::new(Action::LoginFailed, user.id)
                .change(Change::none().after(&json!({ "reason": reason })));
            entry.org_id = crate::organizations::of_person(&mut tx, user.id).await?;
            entry.record(&mut tx).await?;
            tx.commit().await?;
            return Err(invalid_credentials());
        };

        let response = if user.mfa_enabled {
            let (mfa_token, hash) = tokens::generate("mfa");
            sqlx::query!(
                "INSERT INTO mfa_challenges (user_id, token_hash, expires_at, device_id)
             VALUES ($1, $2, now() + make_interval(secs => $3), $4)",
                user.id,
                hash,
                MFA_CHALLENGE_TTL_SECS as f64,
                device.as_ref().map(|d| d.id)
            )
            .execute(&mut *tx)
            .await?;
            LoginResponse::MfaRequired {
                mfa_required: Flag,
                mfa_token,
                expires_in: MFA_CHALLENGE_TTL_SECS,
            }
        } else {
            let who = (user.id, org_id, role);
            sign_in(&mut tx, &state, who, "password", device.as_ref()).await?
        };
        tx.commit().await?;
        Ok(Json(response))
    })
    .await
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MfaLoginRequest {
    mfa_token: String,
    /// A 6-digit code from the authenticator app...
    #[schema(pattern = r"^[0-9]{6}$")]
    code: Option<String>,
    /// ...or one of the one-time recovery codes.
    recovery_code: Option<String>,
    /// As for the password step.
    #[schema(max_length = 100)]
    device_token: Option<String>,
}

fn invalid_mfa() -> ApiError {
    ApiError::unauthorized(
        "invalid_mfa_code",
        "the code is incorrect or was already used",
    )
}

#[utoipa::path(post, path = "/api/auth/login/mfa", security(()), request_body = MfaLoginRequest,
    responses((status = 200, description = "Signed in", body = LoginResponse),
        (status = 401, description = "Wrong or expired challenge or code"),
        (status = 429, description = "Too many attempts")))]
pub async fn login_mfa(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    AppJson(body): AppJson<MfaLoginRequest>,
) -> Result<Json<LoginResponse>, ApiError> {
    let challenge_hash = tokens::hash(&body.mfa_token);
    // The device the password step came from, if it was known and sends its token again.
    let device = {
        let mut conn = state.pool.acquire().await?;
        let known = sqlx::query!(
            "SELECT d.id, d.token_hash FROM mfa_challenges c
             JOIN trusted_devices d ON d.id = c.device_id
             WHERE c.token_hash = $1 AND d.expires_at > now()",
            challenge_hash
        )
        .fetch_optional(&mut *conn)
        .await?;
        match (known, body.device_token.as_deref()) {
            (Some(known), Some(token)) if known.token_hash == tokens::hash(token) => {
                Some(devices::Known {
                    id: known.id,
                    token: token.to_owned(),
                })
            }
            _ => None,
        }
    };
    let challenge = hex::encode(&challenge_hash[..8]);
    let limits = match &device {
        Some(device) => devices::limits("login_mfa", &ip, "", Some(device)),
        None => crate::limits("login_mfa", &ip, Some(&challenge)),
    };
    crate::guarded_by(&state, &limits, async {
        if body.code.is_none() == body.recovery_code.is_none() {
            return Err(ApiError::invalid_field(
                "code",
                "required",
                "send either `code` or `recovery_code`",
            ));
        }

        let mut tx = state.pool.begin().await?;
        let user = sqlx::query!(
            r#"SELECT u.id, u.mfa_secret, u.mfa_last_step
           FROM mfa_challenges c JOIN users u ON u.id = c.user_id
           WHERE c.token_hash = $1 AND c.used_at IS NULL AND c.expires_at > now() AND u.mfa_enabled
           FOR UPDATE OF c, u"#,
            challenge_hash
        )
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| {
            ApiError::unauthorized("invalid_mfa_token", "the MFA token is invalid or expired")
        })?;
        let (org_id, role) = crate::organizations::landing(&mut tx, user.id)
            .await?
            .ok_or_else(|| {
                ApiError::unauthorized("invalid_mfa_token", "the MFA token is invalid or expired")
            })?;
        // The account's own limit, now that we know whose challenge it is (read on the
        // transaction's connection: a Lambda environment has one); not for its known device.
        let account = [format!("login_mfa:account:{}", user.id)];
        if device.is_none() {
            let limit = shared::db::rate_limit::UNKNOWN_DEVICES;
            shared::db::rate_limit::blocked(&mut *tx, limit, &account).await?;
        }

        let accepted = match (&body.code, &body.recovery_code) {
            (Some(code), _) => {
                let secret = user
                    .mfa_secret
                    .as_deref()
                    .ok_or_else(|| ApiError::Internal(anyhow_msg("MFA on without a secret")))?;
                let (id, last_step) = (user.id, user.mfa_last_step);
                crate::mfa::accept_code(&mut tx, &state, id, secret, last_step, code).await?
            }
            (None, Some(recovery)) => sqlx::query!(
                "UPDATE mfa_recovery_codes SET used_at = now()
             WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL RETURNING id",
                user.id,
                crate::mfa::recovery_code_hash(recovery)
            )
            .fetch_optional(&mut *tx)
            .await?
            .is_some(),
            (None, None) => false,
        };
        if !accepted {
            Entry::new(Action::LoginFailed, user.id)
                .in_org(org_id)
                .change(Change::none().after(&json!({ "reason": "wrong_mfa_code" })))
                .record(&mut tx)
                .await?;
            tx.commit().await?;
            // Every challenge of the account from unknown devices shares this count (the
            // client IP's and the challenge's, or the known device's, are counted by
            // `guarded_by`).
            if device.is_none() {
                shared::db::rate_limit::record(&state.pool, &account).await?;
            }
            return Err(invalid_mfa());
        }

        sqlx::query!(
            "UPDATE mfa_challenges SET used_at = now() WHERE token_hash = $1",
            challenge_hash
        )
        .execute(&mut *tx)
        .await?;
        let method = if body.code.is_some() {
            "password+totp"
        } else {
            "password+recovery_code"
        };
        let who = (user.id, org_id, role);
        let response = sign_in(&mut tx, &state, who, method, device.as_ref()).await?;
        tx.commit().await?;
        Ok(Json(response))
    })
    .await
}

fn anyhow_msg(message: &'static str) -> anyhow::Error {
    anyhow::Error::msg(message)
}
