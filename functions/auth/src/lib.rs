//! The `auth` function: `/api/auth/*`.
//!
//! Registration (confirmed by email), login (with a TOTP second step when MFA is on) into the
//! organization used last, switching organizations, refresh-token rotation with reuse
//! detection, logout, the current user, MFA set-up, password reset and change, and accepting
//! invitations.
//! Every attempt on these routes is rate limited per client IP and per account before any
//! bcrypt work; every auth event is audited.

mod devices;
mod invitation;
mod login;
mod me;
mod mfa;
mod organizations;
mod password;
mod register;
mod session;
mod step_up;

use axum::Router;
use axum::routing::{get, post};
use shared::AppState;
use shared::db::rate_limit::{self, Limit};
use shared::error::ApiError;

pub fn app(state: AppState) -> Router {
    let state = state.answering_through_pool();
    let http = state.settings.http.clone();
    let router = Router::new()
        .route("/api/auth/register", post(register::register))
        .route("/api/auth/register/confirm", post(register::confirm))
        .route("/api/auth/login", post(login::login))
        .route("/api/auth/login/mfa", post(login::login_mfa))
        .route("/api/auth/refresh", post(session::refresh))
        .route("/api/auth/logout", post(session::logout))
        .route("/api/auth/me", get(me::me))
        .route("/api/auth/organizations", get(organizations::list))
        .route("/api/auth/switch", post(organizations::switch))
        .route("/api/auth/mfa/setup", post(mfa::setup))
        .route("/api/auth/mfa/verify", post(mfa::verify))
        .route("/api/auth/mfa/disable", post(mfa::disable))
        .route("/api/auth/step-up", post(step_up::step_up))
        .route("/api/auth/password/forgot", post(password::forgot))
        .route("/api/auth/password/reset", post(password::reset))
        .route("/api/auth/password/change", post(password::change))
        .route("/api/auth/invitation/accept", post(invitation::accept))
        .with_state(state);
    shared::http::layers(router, &http, openapi)
}

/// The rate limits of `action`: the client address (sized for an office sharing one) and, when
/// known, the account (or token) it is for.
fn limits(action: &str, ip: &str, account: Option<&str>) -> Vec<(String, Limit)> {
    let mut limits = vec![(format!("{action}:ip:{ip}"), rate_limit::OFFICE)];
    if let Some(account) = account {
        limits.push((format!("{action}:account:{account}"), rate_limit::AUTH));
    }
    limits
}

/// 429 with `Retry-After` when any key is at its limit (reads only).
async fn blocked(state: &AppState, limits: &[(String, Limit)]) -> Result<(), ApiError> {
    for (key, limit) in limits {
        rate_limit::blocked(&state.pool, *limit, std::slice::from_ref(key)).await?;
    }
    Ok(())
}

/// Counts one attempt on `action` whatever its outcome (registering: every use costs); 429
/// beyond the limits of [`limits`].
async fn attempt(
    state: &AppState,
    action: &str,
    ip: &str,
    account: Option<&str>,
) -> Result<(), ApiError> {
    let limits = limits(action, ip, account);
    let keys: Vec<String> = limits.iter().map(|(key, _)| key.clone()).collect();
    rate_limit::record(&state.pool, &keys).await?;
    for (key, limit) in &limits {
        rate_limit::over(&state.pool, *limit, std::slice::from_ref(key)).await?;
    }
    Ok(())
}

/// Runs one sign-in step of `action` under [`limits`] (see [`guarded_by`]).
async fn guarded<T>(
    state: &AppState,
    action: &str,
    ip: &str,
    account: Option<&str>,
    step: impl Future<Output = Result<T, ApiError>>,
) -> Result<T, ApiError> {
    guarded_by(state, &limits(action, ip, account), step).await
}

/// Redeems a single-use token that came by mail (a password reset, a registration's
/// confirmation, an invitation) as the sign-in step `action`: attempts are limited per client
/// address and per token (keyed by the first bytes of its hash, never the token), and `redeem`
/// gets the token's hash; it marks what it finds used in its transaction, so a token works once.
async fn redeem_mailed_token<T>(
    state: &AppState,
    action: &str,
    ip: &str,
    token: &str,
    redeem: impl AsyncFnOnce(Vec<u8>) -> Result<T, ApiError>,
) -> Result<T, ApiError> {
    let hash = shared::auth::tokens::hash(token);
    let account = hex::encode(&hash[..8]);
    guarded(state, action, ip, Some(&account), redeem(hash)).await
}

/// Runs one sign-in step: refused (429) before any work when a key is at its limit of failures;
/// a wrong proof (401, 403) counts as a failure under every key, a success does not, so a team
/// signing in from one address is never locked out by itself.
async fn guarded_by<T>(
    state: &AppState,
    limits: &[(String, Limit)],
    step: impl Future<Output = Result<T, ApiError>>,
) -> Result<T, ApiError> {
    blocked(state, limits).await?;
    let outcome = step.await;
    if let Err(ApiError::Unauthorized { .. } | ApiError::Forbidden { .. }) = &outcome {
        let keys: Vec<String> = limits.iter().map(|(key, _)| key.clone()).collect();
        // Outside the step's transaction, so the failure stays counted.
        if let Err(error) = rate_limit::record(&state.pool, &keys).await {
            tracing::warn!(%error, "could not count a failed attempt");
        }
    }
    outcome
}

/// The same answer for an unknown email, a wrong password and a deactivated account.
fn invalid_credentials() -> ApiError {
    ApiError::unauthorized("invalid_credentials", "the email or password is incorrect")
}

/// This function's operations, for the whole API's document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    #[derive(utoipa::OpenApi)]
    #[openapi(paths(
        register::register,
        register::confirm,
        login::login,
        login::login_mfa,
        session::refresh,
        session::logout,
        me::me,
        organizations::list,
        organizations::switch,
        mfa::setup,
        mfa::verify,
        mfa::disable,
        step_up::step_up,
        password::forgot,
        password::reset,
        password::change,
        invitation::accept
    ))]
    struct Doc;
    let mut doc = shared::http::openapi::function(<Doc as utoipa::OpenApi>::openapi(), "auth");
    shared::http::openapi::exactly_one_of(&mut doc, "MfaLoginRequest", &["code", "recovery_code"]);
    doc
}
