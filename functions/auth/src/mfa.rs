//! TOTP second factor: set up, verify (turns it on, returns recovery codes), disable.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use rand::Rng;
use serde::{Deserialize, Serialize};
use shared::AppState;
use shared::audit::{Action, Actor, Change, Entry};
use shared::auth::{AuthUser, ClientIp, StepUp, password, tokens, totp};
use shared::error::ApiError;
use shared::http::AppJson;

const RECOVERY_CODES: usize = 10;
const RECOVERY_ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyz23456789";

/// The stored form of a recovery code; case, spaces and dashes do not matter.
pub fn recovery_code_hash(code: &str) -> Vec<u8> {
    let normalised: String = code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    tokens::hash(&normalised)
}

/// Ten codes like `k7wq-2mzd-9xra-pt4e` (80 bits each).
fn new_recovery_codes() -> Vec<String> {
    let mut rng = rand::rngs::OsRng;
    (0..RECOVERY_CODES)
        .map(|_| {
            let chars: Vec<char> = (0..16)
                .map(|_| RECOVERY_ALPHABET[rng.gen_range(0..RECOVERY_ALPHABET.len())] as char)
                .collect();
            chars
                .chunks(4)
                .map(|c| c.iter().collect::<String>())
                .collect::<Vec<_>>()
                .join("-")
        })
        .collect()
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SetupResponse {
    /// Base32, for typing into an app by hand.
    secret: String,
    otpauth_uri: String,
    /// The URI as a QR code (an SVG `data:` URI, usable as an `<img src>`).
    qr_code: String,
}

/// `POST /api/auth/mfa/setup`: a new secret, pending until `mfa/verify` confirms a code. Needs a
/// step-up (`X-Step-Up-Token`): with a stolen access token alone, nobody can put their own
/// authenticator on the account and lock its owner out.
#[utoipa::path(post, path = "/api/auth/mfa/setup", security(("bearer" = [])), params(shared::http::openapi::StepUpHeader),
    responses((status = 200, description = "A new TOTP secret as an otpauth URI and QR code", body = SetupResponse),
        (status = 401, description = "`step_up_required`: confirm with POST /api/auth/step-up first"),
        (status = 409, description = "MFA is already on")))]
pub async fn setup(
    State(state): State<AppState>,
    StepUp(user): StepUp<AuthUser>,
) -> Result<Json<SetupResponse>, ApiError> {
    let secret = totp::new_secret();
    let sealed = (state.settings.keys.current().await).seal(&secret, user.user_id.as_bytes());
    let updated = sqlx::query!(
        "UPDATE users SET mfa_secret = $2 WHERE id = $1 AND NOT mfa_enabled",
        user.user_id,
        sealed
    )
    .execute(&state.pool)
    .await?;
    if updated.rows_affected() == 0 {
        return Err(ApiError::conflict(
            "mfa_already_enabled",
            "MFA is already on; disable it first",
        ));
    }
    let otpauth_uri = totp::otpauth_uri(&secret, &user.email)?;
    Ok(Json(SetupResponse {
        secret: totp::secret_base32(&secret),
        qr_code: totp::qr_code_data_uri(&otpauth_uri)?,
        otpauth_uri,
    }))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    /// The 6-digit code the authenticator app shows now.
    #[schema(pattern = r"^[0-9]{6}$")]
    code: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct RecoveryCodes {
    /// Shown once: each signs in once in place of a code.
    recovery_codes: Vec<String>,
}

/// Checks an authenticator `code` against the user's sealed secret and takes its time step, in
/// `conn`'s transaction, so one code never counts twice (sign-in, step-up, MFA off): whether it
/// was accepted.
pub async fn accept_code(
    conn: &mut sqlx::PgConnection,
    state: &AppState,
    user_id: uuid::Uuid,
    sealed_secret: &[u8],
    last_step: Option<i64>,
    code: &str,
) -> Result<bool, ApiError> {
    let secret = state
        .settings
        .keys
        .open(sealed_secret, user_id.as_bytes())
        .await
        .map_err(|e| ApiError::Internal(e.into()))?;
    let now = chrono::Utc::now().timestamp() as u64;
    let Some(step) = totp::verify(&secret, code, last_step, now)? else {
        return Ok(false);
    };
    sqlx::query!(
        "UPDATE users SET mfa_last_step = $2 WHERE id = $1",
        user_id,
        step
    )
    .execute(conn)
    .await?;
    Ok(true)
}

/// A wrong proof from a signed-in caller: 403, so a frontend does not take it for an expired
/// session (401).
pub fn wrong_code() -> ApiError {
    ApiError::forbidden(
        "incorrect_code",
        "the code is incorrect or was already used",
    )
}

/// `POST /api/auth/mfa/verify`: a valid code turns MFA on and returns the recovery codes.
#[utoipa::path(post, path = "/api/auth/mfa/verify", security(("bearer" = [])), request_body = VerifyRequest,
    responses((status = 200, description = "MFA is on; one-time recovery codes (shown once)", body = RecoveryCodes),
        (status = 409, description = "No set-up pending, or MFA already on"),
        (status = 403, description = "`incorrect_code`: the code is wrong or was already used"),
        (status = 429, description = "Too many attempts")))]
pub async fn verify(
    State(state): State<AppState>,
    user: AuthUser,
    ClientIp(ip): ClientIp,
    AppJson(body): AppJson<VerifyRequest>,
) -> Result<Json<RecoveryCodes>, ApiError> {
    let step = turn_on(&state, &user, &body.code);
    attempt(&state, &ip, &user, step).await.map(Json)
}

/// One MFA step of `user`, limited as sign-in steps are (per client address and per person).
async fn attempt<T>(
    state: &AppState,
    ip: &str,
    user: &AuthUser,
    step: impl Future<Output = Result<T, ApiError>>,
) -> Result<T, ApiError> {
    crate::guarded(state, "mfa", ip, Some(&user.user_id.to_string()), step).await
}

/// Turns MFA on with the first `code` of the secret set up, replacing any recovery codes.
async fn turn_on(state: &AppState, user: &AuthUser, code: &str) -> Result<RecoveryCodes, ApiError> {
    let mut tx = state.pool.begin().await?;
    let row = sqlx::query!(
        "SELECT mfa_enabled, mfa_secret FROM users WHERE id = $1 FOR UPDATE",
        user.user_id
    )
    .fetch_one(&mut *tx)
    .await?;
    if row.mfa_enabled {
        return Err(ApiError::conflict(
            "mfa_already_enabled",
            "MFA is already on",
        ));
    }
    let sealed = row
        .mfa_secret
        .ok_or_else(|| ApiError::conflict("mfa_not_set_up", "call mfa/setup first"))?;
    let secret = state
        .settings
        .keys
        .open(&sealed, user.user_id.as_bytes())
        .await
        .map_err(|e| ApiError::Internal(e.into()))?;
    let now = chrono::Utc::now().timestamp() as u64;
    let step = totp::verify(&secret, code, None, now)?.ok_or_else(wrong_code)?;

    let codes = new_recovery_codes();
    let hashes: Vec<Vec<u8>> = codes.iter().map(|c| recovery_code_hash(c)).collect();
    sqlx::query!(
        "UPDATE users SET mfa_enabled = true, mfa_last_step = $2, updated_at = now()
         WHERE id = $1",
        user.user_id,
        step
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        "DELETE FROM mfa_recovery_codes WHERE user_id = $1",
        user.user_id
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        "INSERT INTO mfa_recovery_codes (user_id, code_hash) SELECT $1, unnest($2::bytea[])",
        user.user_id,
        &hashes
    )
    .execute(&mut *tx)
    .await?;
    audit_mfa(&mut tx, user, true).await?;
    tx.commit().await?;
    Ok(RecoveryCodes {
        recovery_codes: codes,
    })
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DisableRequest {
    #[schema(format = Password)]
    password: String,
    #[schema(pattern = r"^[0-9]{6}$")]
    code: String,
}

/// `POST /api/auth/mfa/disable`: needs the password and a current code.
#[utoipa::path(post, path = "/api/auth/mfa/disable", security(("bearer" = [])), request_body = DisableRequest,
    responses((status = 204, description = "MFA is off"),
        (status = 409, description = "MFA is not on"),
        (status = 403, description = "`incorrect_password` or `incorrect_code`"),
        (status = 429, description = "Too many attempts")))]
pub async fn disable(
    State(state): State<AppState>,
    user: AuthUser,
    ClientIp(ip): ClientIp,
    AppJson(body): AppJson<DisableRequest>,
) -> Result<StatusCode, ApiError> {
    attempt(&state, &ip, &user, turn_off(&state, &user, &body)).await
}

/// Turns MFA off, given the password and a current code.
async fn turn_off(
    state: &AppState,
    user: &AuthUser,
    body: &DisableRequest,
) -> Result<StatusCode, ApiError> {
    let row = sqlx::query!(
        "SELECT password_hash, mfa_enabled, mfa_secret, mfa_last_step FROM users WHERE id = $1",
        user.user_id
    )
    .fetch_one(&state.pool)
    .await?;
    let (true, Some(sealed)) = (row.mfa_enabled, row.mfa_secret) else {
        return Err(ApiError::conflict("mfa_not_enabled", "MFA is not on"));
    };

    if !password::verify(&body.password, row.password_hash.as_deref()).await? {
        return Err(ApiError::forbidden(
            "incorrect_password",
            "the password is incorrect",
        ));
    }
    let mut tx = state.pool.begin().await?;
    let (user_id, last_step) = (user.user_id, row.mfa_last_step);
    if !accept_code(&mut tx, state, user_id, &sealed, last_step, &body.code).await? {
        return Err(wrong_code());
    }
    sqlx::query!(
        "UPDATE users SET mfa_enabled = false, mfa_secret = NULL, mfa_last_step = NULL, updated_at = now()
         WHERE id = $1",
        user.user_id
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        "DELETE FROM mfa_recovery_codes WHERE user_id = $1",
        user.user_id
    )
    .execute(&mut *tx)
    .await?;
    audit_mfa(&mut tx, user, false).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Audits `user` turning MFA on (`enabled`) or off.
async fn audit_mfa(
    conn: &mut sqlx::PgConnection,
    user: &AuthUser,
    enabled: bool,
) -> Result<(), ApiError> {
    let action = if enabled {
        Action::MfaEnabled
    } else {
        Action::MfaDisabled
    };
    Entry::new(action, user.user_id)
        .in_org(user.org_id)
        .by(Actor::User(user.user_id))
        .change(Change::updated(
            &serde_json::json!({ "mfa_enabled": !enabled }),
            &serde_json::json!({ "mfa_enabled": enabled }),
        ))
        .record(conn)
        .await
}
