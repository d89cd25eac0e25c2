//! Step-up: a fresh proof of who is at the keyboard before an action that moves money or hands
//! out power (connecting Wise, changing a supplier's bank details, paying and approving
//! payments, creating API keys, changing roles, setting up MFA).
//!
//! An access token alone is not enough for these: it lives 15 minutes and can be stolen. The
//! caller proves themselves again with `POST /api/auth/step-up` (the password, or a TOTP code
//! when MFA is on), naming the one request it is for (`"POST /api/purchase-orders/{that
//! order's id}/pay"`), and gets a step-up token, valid [`STEP_UP_TTL`] for the same user and
//! session, which they send as `X-Step-Up-Token` with that request. It is good for that request
//! only and for one success: a request that succeeds with it uses it up (its id is recorded in
//! the request's transaction, so a request that fails leaves it usable for a retry).
//! `StepUp<...>` in a handler's signature is the whole check: a missing, expired, foreign, used
//! or other request's step-up token is 401 `step_up_required` or `step_up_used` (a frontend asks
//! for the password or code and retries), and API keys can never do these things (403
//! `step_up_unavailable`).

use std::ops::{Deref, DerefMut};
use std::time::Duration;

use axum::extract::FromRequestParts;
use http::request::Parts;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::caller::{Caller, CallerKind, Level, Module, Require, RequireAdmin, Tenant};
use super::extract::AuthUser;
use super::jwt::{self, Typed};
use crate::crypto::Keys;
use crate::domain::{OrgId, SessionId, UserId};
use crate::error::ApiError;
use crate::state::HasApp;

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
    /// The request it is for: `METHOD /path` (the path as sent, without its query).
    pub act: String,
}

impl Typed for StepUpClaims {
    fn typ(&self) -> &str {
        &self.typ
    }
}

/// Who a step-up token is for: a person, in an organization and a session.
#[derive(Clone, Copy, Debug)]
pub struct Holder {
    pub user: UserId,
    pub org: OrgId,
    pub sid: SessionId,
}

/// A step-up token for `holder`, proved by `method`, for the request `action`, and its lifetime
/// in seconds.
pub fn issue(
    keys: &Keys,
    holder: Holder,
    method: &str,
    action: &str,
) -> Result<(String, u64), ApiError> {
    issue_at(keys, holder, method, action, chrono::Utc::now().timestamp())
}

/// [`issue`] as if at `now` (Unix seconds): tests make expired ones with it.
pub fn issue_at(
    keys: &Keys,
    holder: Holder,
    method: &str,
    action: &str,
    now: i64,
) -> Result<(String, u64), ApiError> {
    let claims = StepUpClaims {
        sub: holder.user,
        org: holder.org,
        sid: holder.sid,
        iat: now,
        exp: now + STEP_UP_TTL.as_secs() as i64,
        jti: Uuid::new_v4(),
        typ: TOKEN_TYPE.to_owned(),
        amr: method.to_owned(),
        act: action.to_owned(),
    };
    Ok((jwt::sign(keys, &claims)?, STEP_UP_TTL.as_secs()))
}

/// The action of a request, as a step-up token names it: `METHOD /path`.
pub fn action_of(method: &http::Method, path: &str) -> String {
    format!("{method} {path}")
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
    /// The organization the request is for.
    fn org(&self) -> Uuid;
    /// The request's transaction, when it has one (a tenant request).
    fn transaction(&mut self) -> Option<&mut sqlx::PgConnection> {
        None
    }
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

    fn org(&self) -> Uuid {
        self.org_id
    }
}

impl Person for Tenant {
    fn person(&self) -> Option<(UserId, SessionId)> {
        self.caller.person()
    }

    fn org(&self) -> Uuid {
        self.caller.org_id
    }

    fn transaction(&mut self) -> Option<&mut sqlx::PgConnection> {
        Some(&mut self.db)
    }
}

/// The extractors that are a [`Tenant`] with a check on top answer as their tenant does.
macro_rules! person_as_its_tenant {
    ($([$($generics:tt)*] $extractor:ty),*) => {$(
        impl<$($generics)*> Person for $extractor {
            fn person(&self) -> Option<(UserId, SessionId)> {
                self.0.person()
            }

            fn org(&self) -> Uuid {
                self.0.org()
            }

            fn transaction(&mut self) -> Option<&mut sqlx::PgConnection> {
                self.0.transaction()
            }
        }
    )*};
}

person_as_its_tenant!([M: Module, L: Level] Require<M, L>, [] RequireAdmin);

impl Person for AuthUser {
    fn person(&self) -> Option<(UserId, SessionId)> {
        Some((UserId(self.user_id), SessionId(self.session_id)))
    }

    fn org(&self) -> Uuid {
        self.org_id
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

impl<S: HasApp, T> FromRequestParts<S> for StepUp<T>
where
    T: FromRequestParts<S, Rejection = ApiError> + Person + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let mut inner = T::from_request_parts(parts, state).await?;
        let proof = Proof::from_request_parts(parts, state).await?;
        let state = state.app();
        proof.redeem(&mut inner, &state.pool).await?;
        Ok(Self(inner))
    }
}

/// The step-up token a request carried, checked, and the request it came with; for a handler
/// whose need of it depends on the body (a supplier update that changes bank details, a user
/// update that changes a role): call [`Proof::redeem`] when it does.
pub struct Proof {
    token: Option<Result<StepUpClaims, ()>>,
    /// This request's action (`METHOD /path`).
    action: String,
}

impl Proof {
    /// Ok when the request carried a valid step-up token of `who`'s own session, made for this
    /// request and not used before; it is then used up in `who`'s transaction (or on `pool` for
    /// a caller without one), so it counts only if the request succeeds. Otherwise the 401
    /// (403 for an API key) of the module documentation.
    pub async fn redeem(&self, who: &mut impl Person, pool: &sqlx::PgPool) -> Result<(), ApiError> {
        let claims = self.check(&*who)?;
        let org = who.org();
        let used = "INSERT INTO step_up_uses (jti, org_id, user_id, expires_at)
                    VALUES ($1, $2, $3, to_timestamp($4)) ON CONFLICT DO NOTHING";
        let query = sqlx::query(used)
            .bind(claims.jti)
            .bind(org)
            .bind(claims.sub.0)
            .bind(claims.exp as f64);
        let inserted = match who.transaction() {
            Some(tx) => query.execute(tx).await?,
            None => query.execute(pool).await?,
        };
        if inserted.rows_affected() == 0 {
            return Err(ApiError::unauthorized(
                "step_up_used",
                "this step-up token was used already: confirm it is you again with \
                 POST /api/auth/step-up for this request",
            ));
        }
        Ok(())
    }

    /// The token's claims, when it is `who`'s, for this request, and live.
    fn check(&self, who: &impl Person) -> Result<&StepUpClaims, ApiError> {
        let Some((user, session)) = who.person() else {
            return Err(ApiError::forbidden(
                "step_up_unavailable",
                "an API key cannot do this: it moves money or grants access, so a person \
                 signed in must do it and confirm it with POST /api/auth/step-up",
            ));
        };
        match &self.token {
            None => Err(required("this action needs a recent confirmation")),
            Some(Err(())) => Err(required("the step-up token is invalid or expired")),
            Some(Ok(claims)) if claims.sub != user || claims.sid != session => Err(required(
                "the step-up token belongs to another user or session",
            )),
            Some(Ok(claims)) if claims.act != self.action => Err(required(&format!(
                "the step-up token is for another request ({}), not {}",
                claims.act, self.action
            ))),
            Some(Ok(claims)) => Ok(claims),
        }
    }
}

impl<S: HasApp> FromRequestParts<S> for Proof {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let action = action_of(&parts.method, parts.uri.path());
        let Some(token) = parts
            .headers
            .get(HEADER)
            .map(|v| v.to_str().map(str::trim).unwrap_or(""))
        else {
            return Ok(Self {
                token: None,
                action,
            });
        };
        let state = state.app();
        let checked = jwt::verify_live_as(&state.settings.keys, token, TOKEN_TYPE)
            .await
            .map_err(|_| ());
        Ok(Self {
            token: Some(checked),
            action,
        })
    }
}
