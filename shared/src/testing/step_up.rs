//! Step-up tokens for tests: what `POST /api/auth/step-up` would give, made directly.

use super::state::settings;

/// The step-up action of the request `method path` (`METHOD /path`, the query left out).
pub fn action(method: &http::Method, path: &str) -> String {
    let path = path.split('?').next().unwrap_or(path);
    crate::auth::step_up::action_of(method, path)
}

/// A step-up token for the holder of access token `token`, for the request `action`
/// (`POST /api/...`, see [`action`]), signed with the test settings' keys (what
/// `POST /api/auth/step-up` returns after the password, without the bcrypt wait): for tests
/// whose subject is the action behind the step-up, not the step-up itself.
pub fn step_up_token(token: &str, action: &str) -> String {
    step_up_token_at(token, action, chrono::Utc::now().timestamp())
}

/// As [`step_up_token`], signed with `keys` (the functions' own, when they are not the test
/// keys).
pub fn step_up_token_with(keys: &crate::crypto::Keys, token: &str, action: &str) -> String {
    step_up_token_signed(keys, token, action, chrono::Utc::now().timestamp())
}

/// As [`step_up_token`], issued at `now` (Unix seconds): ten minutes ago, it has expired.
pub fn step_up_token_at(token: &str, action: &str, now: i64) -> String {
    step_up_token_signed(&settings(&[]).keys.snapshot(), token, action, now)
}

fn step_up_token_signed(keys: &crate::crypto::Keys, token: &str, action: &str, now: i64) -> String {
    let claims = claims_of(token);
    let id = |name: &str| {
        claims[name]
            .as_str()
            .and_then(|v| v.parse::<uuid::Uuid>().ok())
            .expect("a uuid claim")
    };
    let holder = crate::auth::step_up::Holder {
        user: crate::domain::UserId(id("sub")),
        org: crate::domain::OrgId(id("org")),
        sid: crate::domain::SessionId(id("sid")),
    };
    crate::auth::step_up::issue_at(keys, holder, "password", action, now)
        .expect("signed")
        .0
}

/// The claims of a JWT (not verified): to read a token's user, organization and session.
pub fn claims_of(token: &str) -> serde_json::Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .expect("base64url claims"),
    )
    .expect("JSON claims")
}
