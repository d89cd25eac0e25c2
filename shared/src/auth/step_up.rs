//! Step-up: a fresh proof of who is at the keyboard before an action that moves money or hands
//! out power (connecting Wise, changing a supplier's bank details, paying and approving
//! payments, creating API keys, changing roles, setting up MFA).
//!
//! An access token alone is not enough for these: it lives 15 minutes and can be stolen. The
//! caller proves themselves again with `POST /api/auth/step-up` (the password, or a TOTP code
//! when MFA is on) and gets a step-up token, valid [`STEP_UP_TTL`] for the same user and
//! session, which they send as `X-Step-Up-Token`. `StepUp<...>` in a handler's signature is the
//! whole check: a missing, expired or foreign step-up token is 401 `step_up_required` (a
//! frontend asks for the password or code and retries), and API keys can never do these things
//! (403 `step_up_unavailable`).

use std::ops::{Deref, DerefMut};
use std::time::Duration;

use axum::extract::{FromRef, FromRequestParts};
use http::request::Parts;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::AuthUser;
use super::caller::{Caller, CallerKind, Level, Module, Require, RequireAdmin, Tenant};
use super::jwt::{self, Typed};
use crate::crypto::Keys;
use crate::domain::{OrgId, SessionId, UserId};
use crate::{ApiError, AppState};

/// How long a step-up proof counts.
pub const STEP_UP_TTL: Duration = Duration::from_secs(5 * 60);
/// The request header that carries the step-up token.
pub const HEADER: &str = "x-step-up-token";
const TOKEN_TYPE: &str = "step_up";

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StepUpClaims {
    pub sub: UserId,
    pub org: OrgId,
    /// The session it was proved in: it counts for that session only.
    pub sid: SessionId,
    pub iat: i64,
    pub exp: i64,
    pub jti: Uuid,
    pub typ: String,
    /// How it was proved: `password` or `totp`.
    pub amr: String,
}

impl Typed for StepUpClaims {
    fn typ(&self) -> &str {
        &self.typ
    }
}

/// A step-up token for `user` in session `sid`, proved by `method`, and its lifetime in seconds.
pub fn issue(
    keys: &Keys,
    user: UserId,
    org: OrgId,
    sid: SessionId,
    method: &str,
) -> Result<(String, u64), ApiError> {
    issue_at(keys, user, org, sid, method, chrono::Utc::now().timestamp())
}

/// [`issue`] as if at `now` (Unix seconds): tests make expired ones with it.
pub fn issue_at(
    keys: &Keys,
    user: UserId,
    org: OrgId,
    sid: SessionId,
    method: &str,
    now: i64,
) -> Result<(String, u64), ApiError> {
    let claims = StepUpClaims {
        sub: user,
        org,
        sid,
        iat: now,
        exp: now + STEP_UP_TTL.as_secs() as i64,
        jti: Uuid::new_v4(),
        typ: TOKEN_TYPE.to_owned(),
        amr: method.to_owned(),
    };
    Ok((jwt::sign(keys, &claims)?, STEP_UP_TTL.as_secs()))
}

fn required(detail: &str) -> ApiError {
    ApiError::unauthorized(
        "step_up_required",
        format!(
            "{detail}: confirm it is you with POST /api/auth/step-up (your password, or an \
             authenticator code when MFA is on) and send the token it returns as \
             X-Step-Up-Token"
        ),
    )
}

/// The signed-in person behind an extractor, and the session they are in; `None` for an API key.
pub trait Person {
    fn person(&self) -> Option<(UserId, SessionId)>;
}

impl Person for Caller {
    fn person(&self) -> Option<(UserId, SessionId)> {
        match self.kind {
            CallerKind::User {
                user_id,
                session_id,
                ..
            } => Some((UserId(user_id), SessionId(session_id))),
            CallerKind::ApiKey { .. } => None,
        }
    }
}

impl Person for Tenant {
    fn person(&self) -> Option<(UserId, SessionId)> {
        self.caller.person()
    }
}

impl<M: Module, L: Level> Person for Require<M, L> {
    fn person(&self) -> Option<(UserId, SessionId)> {
        self.caller.person()
    }
}

impl Person for RequireAdmin {
    fn person(&self) -> Option<(UserId, SessionId)> {
        self.caller.person()
    }
}

impl Person for AuthUser {
    fn person(&self) -> Option<(UserId, SessionId)> {
        Some((UserId(self.user_id), SessionId(self.session_id)))
    }
}

/// `T` (a tenant, a module permission, an admin, a signed-in user) who also proved themselves
/// within the last [`STEP_UP_TTL`], in this session. See the module documentation.
pub struct StepUp<T>(pub T);

impl<T> Deref for StepUp<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> DerefMut for StepUp<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.0
    }
}

impl<S, T> FromRequestParts<S> for StepUp<T>
where
    S: Send + Sync,
    AppState: FromRef<S>,
    T: FromRequestParts<S, Rejection = ApiError> + Person + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let inner = T::from_request_parts(parts, state).await?;
        let proof = Proof::from_request_parts(parts, state).await?;
        proof.require(&inner)?;
        Ok(Self(inner))
    }
}

/// The step-up token a request carried, checked, for a handler whose need of it depends on the
/// body (a supplier update that changes bank details, a user update that changes a role): call
/// [`Proof::require`] when it does.
pub struct Proof(Option<Result<StepUpClaims, ()>>);

impl Proof {
    /// Ok when the request carried a valid step-up token of `who`'s own session; otherwise the
    /// 401 (403 for an API key) of the module documentation.
    pub fn require(&self, who: &impl Person) -> Result<(), ApiError> {
        let Some((user, session)) = who.person() else {
            return Err(ApiError::forbidden(
                "step_up_unavailable",
                "an API key cannot do this: it moves money or grants access, so a person \
                 signed in must do it and confirm it with POST /api/auth/step-up",
            ));
        };
        match &self.0 {
            None => Err(required("this action needs a recent confirmation")),
            Some(Err(())) => Err(required("the step-up token is invalid or expired")),
            Some(Ok(claims)) if claims.sub != user || claims.sid != session => Err(required(
                "the step-up token belongs to another user or session",
            )),
            Some(Ok(_)) => Ok(()),
        }
    }
}

impl<S> FromRequestParts<S> for Proof
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Some(token) = parts
            .headers
            .get(HEADER)
            .map(|v| v.to_str().map(str::trim).unwrap_or(""))
        else {
            return Ok(Self(None));
        };
        let state = AppState::from_ref(state);
        let checked = jwt::verify_live_as(&state.settings.keys, token, TOKEN_TYPE)
            .await
            .map_err(|_| ());
        Ok(Self(Some(checked)))
    }
}
