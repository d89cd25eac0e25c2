//! The `auth` function: `/api/auth/*`.
//!
//! Registration (confirmed by email), login (with a TOTP second step when MFA is on) into the
//! organization used last, switching organizations, refresh-token rotation with reuse
//! detection, logout, the current user, MFA set-up, password reset and change, and accepting
//! invitations.
//! Every attempt on these routes is rate limited per client IP and per account before any
//! bcrypt work; every auth event is audited.

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

/// The rate-limit keys of `action`: the client IP and, when known, the account.
fn limit_keys(action: &str, ip: &str, account: Option<&str>) -> Vec<String> {
    let mut keys = vec![format!("{action}:ip:{ip}")];
    if let Some(account) = account {
        keys.push(format!("{action}:account:{account}"));
    }
    keys
}

/// Counts one attempt on `action` whatever its outcome (registering, emailing a reset link: every
/// use costs); 429 beyond 5 a minute per client IP or account.
async fn attempt(
    state: &AppState,
    action: &str,
    ip: &str,
    account: Option<&str>,
) -> Result<(), ApiError> {
    let keys = limit_keys(action, ip, account);
    shared::rate_limit::check(&state.pool, shared::rate_limit::AUTH, &keys).await
}

/// Runs one sign-in step of `action`: refused (429) before any work when the client IP or the
/// account failed it 5 times in the last minute; a wrong proof (401, 403) counts as a failure, a
/// success does not, so a team signing in from one address is never locked out by itself.
async fn guarded<T>(
    state: &AppState,
    action: &str,
    ip: &str,
    account: Option<&str>,
    step: impl Future<Output = Result<T, ApiError>>,
) -> Result<T, ApiError> {
    let keys = limit_keys(action, ip, account);
    let limit = shared::rate_limit::AUTH;
    shared::rate_limit::blocked(&state.pool, limit, &keys).await?;
    let outcome = step.await;
    if let Err(ApiError::Unauthorized { .. } | ApiError::Forbidden { .. }) = &outcome {
        // Outside the step's transaction, so the failure stays counted.
        if let Err(error) = shared::rate_limit::record(&state.pool, &keys).await {
            tracing::warn!(%error, action, "could not count a failed attempt");
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
    let mut doc = shared::openapi::function(<Doc as utoipa::OpenApi>::openapi(), "auth");
    shared::openapi::exactly_one_of(&mut doc, "MfaLoginRequest", &["code", "recovery_code"]);
    doc
}
