//! Extractors that state what a handler needs in its signature.

use axum::extract::FromRequestParts;
use http::header;
use http::request::Parts;
use lambda_http::RequestExt;
use lambda_http::request::RequestContext;
use uuid::Uuid;

use super::bearer::{API_KEY_PREFIX, bearer_token};
use super::jwt;
use super::role::Role;
use crate::error::ApiError;
use crate::state::HasApp;

/// The signed-in person in the organization their token is for, checked against the database on
/// every request: a deactivated membership, a signed-out session or a changed role takes effect
/// at once, not only when the token expires.
#[derive(Clone, Debug)]
pub struct AuthUser {
    pub user_id: Uuid,
    pub org_id: Uuid,
    pub email: String,
    pub role: Role,
    pub permissions: serde_json::Value,
    /// The session (refresh-token family) the access token belongs to.
    pub session_id: Uuid,
}

impl<S: HasApp> FromRequestParts<S> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state = state.app();
        let token = bearer_token(parts).ok_or_else(|| {
            ApiError::unauthorized(
                "missing_token",
                "send an access token: Authorization: Bearer <token>",
            )
        })?;
        if token.starts_with(API_KEY_PREFIX) {
            return Err(ApiError::forbidden(
                "user_required",
                "this route is for people signed in; an API key cannot use it",
            ));
        }
        let claims = jwt::verify_live(&state.settings.keys, token).await?;
        // The person, their membership of the token's organization, and the session.
        let user = sqlx::query!(
            r#"SELECT u.id, u.email, m.role AS "role: Role", m.permissions,
                      m.is_active AND m.joined_at IS NOT NULL AS "is_active!",
                      EXISTS (SELECT 1 FROM refresh_tokens t
                              WHERE t.family_id = $3 AND t.user_id = u.id
                                AND t.revoked_at IS NULL) AS "live!"
               FROM users u JOIN memberships m ON m.user_id = u.id AND m.org_id = $2
               WHERE u.id = $1"#,
            claims.sub.0,
            claims.org.0,
            claims.sid.0
        )
        .fetch_optional(&state.pool)
        .await?
        .ok_or_else(jwt::invalid_token)?;
        if !(user.is_active && user.live) {
            return Err(jwt::refused(user.is_active));
        }
        Ok(Self {
            user_id: user.id,
            org_id: claims.org.0,
            email: user.email,
            role: user.role,
            permissions: user.permissions,
            session_id: claims.sid.0,
        })
    }
}

/// `Option<AuthUser>`: none without an `Authorization` header; with one, checked as
/// [`AuthUser`] (a bad token is refused, not ignored).
impl<S: HasApp> axum::extract::OptionalFromRequestParts<S> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        if !parts.headers.contains_key(header::AUTHORIZATION) {
            return Ok(None);
        }
        <Self as FromRequestParts<S>>::from_request_parts(parts, state)
            .await
            .map(Some)
    }
}

/// The caller's IP address as API Gateway saw it (`requestContext.http.sourceIp`), for rate
/// limits and the audit log. Headers such as `X-Forwarded-For` are not trusted: any client can
/// set them. Outside Lambda (in-process tests) it is `unknown` unless a request context is set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientIp(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self::of(parts))
    }
}

impl ClientIp {
    /// The IP of a request (its parts, or the whole request).
    pub fn of(request: &impl RequestExt) -> Self {
        let ip = match request.request_context_ref() {
            Some(RequestContext::ApiGatewayV2(context)) => context.http.source_ip.clone(),
            Some(RequestContext::ApiGatewayV1(context)) => context.identity.source_ip.clone(),
            _ => None,
        };
        Self(ip.unwrap_or_else(|| "unknown".to_owned()))
    }
}
