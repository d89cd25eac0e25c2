//! Access tokens: JWT, HS256 only, 15 minutes.
//!
//! Verification pins the algorithm (a token with `alg: none` or any other algorithm is
//! refused) and the token type, so a refresh or MFA token can never pass as an access token.
//! A token names its signing key in `kid`; see [`crate::crypto`] for how keys rotate.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::role::Role;
use crate::config::LiveKeys;
use crate::crypto::{Keys, TokenKeyFor};
use crate::domain::{OrgId, SessionId, UserId};
use crate::error::ApiError;

pub use crate::config::ACCESS_TOKEN_TTL;
const TOKEN_TYPE: &str = "access";

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Claims {
    /// The user.
    pub sub: UserId,
    /// The user's organization.
    pub org: OrgId,
    pub role: Role,
    /// The session (refresh-token family) the token belongs to: it dies with it.
    pub sid: SessionId,
    pub iat: i64,
    pub exp: i64,
    pub jti: Uuid,
    pub typ: String,
}

/// A signed access token of session `sid`, issued now, and its lifetime in seconds.
pub fn issue(
    keys: &Keys,
    user_id: UserId,
    org_id: OrgId,
    role: Role,
    sid: SessionId,
) -> Result<(String, u64), ApiError> {
    let now = chrono::Utc::now().timestamp();
    let token = issue_at(keys, user_id, org_id, role, sid, now, Uuid::new_v4())?;
    Ok((token, ACCESS_TOKEN_TTL.as_secs()))
}

/// The access token issued at `issued_at` (Unix seconds) with id `jti`: the same inputs give the
/// same token, so a session can hand out its token pair again.
pub fn issue_at(
    keys: &Keys,
    user_id: UserId,
    org_id: OrgId,
    role: Role,
    sid: SessionId,
    issued_at: i64,
    jti: Uuid,
) -> Result<String, ApiError> {
    let claims = Claims {
        sub: user_id,
        org: org_id,
        role,
        sid,
        iat: issued_at,
        exp: issued_at + ACCESS_TOKEN_TTL.as_secs() as i64,
        jti,
        typ: TOKEN_TYPE.to_owned(),
    };
    sign(keys, &claims)
}

/// Why a token was refused.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Signed by a key these keys do not hold (perhaps one a newer function read first).
    UnknownKey,
    Invalid,
}

/// Checks signature (with the key the token names), algorithm, expiry and type.
pub fn verify(keys: &Keys, token: &str) -> Result<Claims, ApiError> {
    check(keys, token, chrono::Utc::now().timestamp()).map_err(|_| invalid_token())
}

/// [`verify`] with the function's live keys: a token naming a key they lack makes them read
/// the secrets again (a rotation another function saw first), then it is checked once more.
pub async fn verify_live(keys: &LiveKeys, token: &str) -> Result<Claims, ApiError> {
    verify_live_as(keys, token, TOKEN_TYPE)
        .await
        .map_err(|_| invalid_token())
}

fn check(keys: &Keys, token: &str, now: i64) -> Result<Claims, Refusal> {
    check_as(keys, token, now, TOKEN_TYPE)
}

/// Claims that say what kind of token they are (`typ`), so one kind never passes as another.
pub(crate) trait Typed: serde::de::DeserializeOwned {
    fn typ(&self) -> &str;
}

impl Typed for Claims {
    fn typ(&self) -> &str {
        &self.typ
    }
}

/// Checks a token of type `typ` signed with these keys.
pub(crate) fn check_as<C: Typed>(
    keys: &Keys,
    token: &str,
    now: i64,
    typ: &str,
) -> Result<C, Refusal> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| Refusal::Invalid)?;
    let key = match keys.verifying_key(header.kid.as_deref(), now) {
        TokenKeyFor::Key(key) => key,
        TokenKeyFor::Unknown => return Err(Refusal::UnknownKey),
        TokenKeyFor::Retired => {
            tracing::debug!(kid = ?header.kid, "token signed by a retired key");
            return Err(Refusal::Invalid);
        }
    };
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_required_spec_claims(&["exp", "iat", "sub"]);
    validation.leeway = 5;
    let data = jsonwebtoken::decode::<C>(token, &DecodingKey::from_secret(key), &validation)
        .map_err(|e| {
            tracing::debug!(error = %e, typ, "token rejected");
            Refusal::Invalid
        })?;
    if data.claims.typ() != typ {
        return Err(Refusal::Invalid);
    }
    Ok(data.claims)
}

/// [`check_as`] with the function's live keys, reading them again for an unknown key once.
pub(crate) async fn verify_live_as<C: Typed>(
    keys: &LiveKeys,
    token: &str,
    typ: &str,
) -> Result<C, Refusal> {
    let now = chrono::Utc::now().timestamp();
    match check_as(&*keys.current().await, token, now, typ) {
        Err(Refusal::UnknownKey) => check_as(&*keys.reread().await, token, now, typ),
        checked => checked,
    }
}

/// Signs `claims` with the newest token key, naming it in `kid`.
pub(crate) fn sign<C: Serialize>(keys: &Keys, claims: &C) -> Result<String, ApiError> {
    let (kid, key) = keys.signing_key();
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(key))
        .map_err(|e| ApiError::Internal(e.into()))
}

pub fn invalid_token() -> ApiError {
    ApiError::unauthorized("invalid_token", "the access token is invalid or expired")
}

/// Why a valid token's holder is refused: the account was deactivated, or the session the
/// token belongs to was signed out (logout, a password change, reuse of a refresh token).
pub fn refused(is_active: bool) -> ApiError {
    if is_active {
        ApiError::unauthorized(
            "session_ended",
            "this session was signed out; sign in again",
        )
    } else {
        ApiError::unauthorized(
            "account_deactivated",
            "this membership of the organization is deactivated; an owner or admin can \
             reactivate it",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use secrecy::SecretString;

    fn keys() -> Keys {
        Keys::derive(&SecretString::from(
            "test-secret-key-that-is-long-enough-1234".to_owned(),
        ))
    }

    #[test]
    fn issued_tokens_verify() {
        let (user, org) = (UserId(Uuid::new_v4()), OrgId(Uuid::new_v4()));
        let session = SessionId(Uuid::new_v4());
        let (token, ttl) = issue(&keys(), user, org, Role::Admin, session).unwrap();
        assert_eq!(ttl, 900);
        let claims = verify(&keys(), &token).unwrap();
        assert_eq!(
            (claims.sub, claims.org, claims.role),
            (user, org, Role::Admin)
        );
        assert_eq!(claims.exp - claims.iat, 900);
    }

    #[test]
    fn tokens_name_their_key_and_a_retired_key_verifies_only_within_its_window() {
        let secret = |text: &str| SecretString::from(text.to_owned());
        let t1 = (
            "t1".to_owned(),
            secret("first-token-key-0123456789abcdef-0123456789"),
        );
        let t2 = (
            "t2".to_owned(),
            secret("second-token-key-0123456789abcdef-012345678"),
        );
        let data = [(
            "d1".to_owned(),
            secret("data-key-0123456789abcdef-0123456789abcdef"),
        )];
        let before = Keys::new(std::slice::from_ref(&t1), &data, 0);
        let now = chrono::Utc::now().timestamp();
        let rotated = Keys::new(&[t2.clone(), t1.clone()], &data, now + 60);
        let ended = Keys::new(&[t2.clone(), t1], &data, now - 1);
        let dropped = Keys::new(&[t2], &data, now + 60);
        let (old, _) = issue(
            &before,
            UserId(Uuid::new_v4()),
            OrgId(Uuid::new_v4()),
            Role::User,
            SessionId(Uuid::new_v4()),
        )
        .unwrap();
        let (new, _) = issue(
            &rotated,
            UserId(Uuid::new_v4()),
            OrgId(Uuid::new_v4()),
            Role::User,
            SessionId(Uuid::new_v4()),
        )
        .unwrap();
        assert_eq!(
            jsonwebtoken::decode_header(&old).unwrap().kid.as_deref(),
            Some("t1")
        );
        assert_eq!(
            jsonwebtoken::decode_header(&new).unwrap().kid.as_deref(),
            Some("t2")
        );
        assert!(verify(&rotated, &old).is_ok());
        assert!(verify(&ended, &old).is_err());
        assert!(verify(&ended, &new).is_ok());
        assert_eq!(check(&dropped, &old, now).unwrap_err(), Refusal::UnknownKey);
        assert_eq!(check(&before, &new, now).unwrap_err(), Refusal::UnknownKey);
        // A token that names a known key but was signed by another is invalid, not unknown.
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some("t2".into());
        let forged = jsonwebtoken::encode(
            &header,
            &claims("access", 60),
            &EncodingKey::from_secret(before.signing_key().1),
        )
        .unwrap();
        assert_eq!(check(&rotated, &forged, now).unwrap_err(), Refusal::Invalid);
    }

    fn forge(header: &str, claims: serde_json::Value, signature: &str) -> String {
        format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(claims.to_string()),
            signature
        )
    }

    fn claims(typ: &str, exp_offset: i64) -> serde_json::Value {
        let now = chrono::Utc::now().timestamp();
        serde_json::json!({"sub": Uuid::new_v4(), "org": Uuid::new_v4(), "role": "owner", "sid": Uuid::new_v4(),
            "iat": now, "exp": now + exp_offset, "jti": Uuid::new_v4(), "typ": typ})
    }

    #[test]
    fn alg_none_is_rejected() {
        let token = forge(r#"{"alg":"none","typ":"JWT"}"#, claims("access", 60), "");
        assert!(verify(&keys(), &token).is_err());
    }

    #[test]
    fn another_algorithm_is_rejected() {
        let token = jsonwebtoken::encode(
            &Header::new(Algorithm::HS512),
            &claims("access", 60),
            &EncodingKey::from_secret(keys().signing_key().1),
        )
        .unwrap();
        assert!(verify(&keys(), &token).is_err());
    }

    #[test]
    fn expired_tampered_and_wrong_type_tokens_are_rejected() {
        let sign = |c: serde_json::Value| {
            jsonwebtoken::encode(
                &Header::new(Algorithm::HS256),
                &c,
                &EncodingKey::from_secret(keys().signing_key().1),
            )
            .unwrap()
        };
        assert!(verify(&keys(), &sign(claims("access", -60))).is_err());
        assert!(verify(&keys(), &sign(claims("refresh", 60))).is_err());
        let (token, _) = issue(
            &keys(),
            UserId(Uuid::new_v4()),
            OrgId(Uuid::new_v4()),
            Role::User,
            SessionId(Uuid::new_v4()),
        )
        .unwrap();
        let mut parts: Vec<&str> = token.split('.').collect();
        let other = claims("access", 60).to_string();
        let payload = URL_SAFE_NO_PAD.encode(other);
        parts[1] = &payload;
        assert!(verify(&keys(), &parts.join(".")).is_err());
    }
}
