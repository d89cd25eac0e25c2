//! Passwords: the strength rule at the edge, bcrypt (cost 12) off the async threads.

use secrecy::{ExposeSecret, SecretString};

use crate::error::{ApiError, FieldError};

/// bcrypt's work factor: about 250 ms on one vCPU.
pub const BCRYPT_COST: u32 = 12;

/// bcrypt only reads the first 72 bytes; longer passwords are refused, never truncated.
pub const MAX_BYTES: usize = 72;

/// A cost-12 hash of a random string nobody knows: verifying against it costs the same time as
/// a real check, so an unknown email takes as long as a wrong password.
const DUMMY_HASH: &str = "$2b$12$pGThEk.a2MStzTjkLZ1DjenY0QVjnV0cjoT9l9E4.m00QKMUklxzO";

/// The strength rule as the OpenAPI document states it (fields marked `format = "new-password"`):
/// 8 to 72 printable ASCII characters (so at most bcrypt's 72 bytes) with an upper-case letter,
/// a lower-case letter, a digit and a symbol. [`Password::new`] implements exactly this.
pub const PATTERN: &str =
    r"^(?=[ -~]*[A-Z])(?=[ -~]*[a-z])(?=[ -~]*[0-9])(?=[ -~]*[!-/:-@\[-`{-~])[ -~]{8,72}$";

/// A password that meets the strength rule ([`PATTERN`]).
#[derive(Debug)]
pub struct Password(SecretString);

impl Password {
    /// Checks the rule; `field` names the input in the 422.
    pub fn new(candidate: String, field: &str) -> Result<Self, ApiError> {
        let printable = |c: char| (' '..='~').contains(&c);
        let problem = if !candidate.chars().all(printable) {
            Some((
                "invalid",
                "must use printable ASCII only: letters, digits, spaces and the symbols of a \
                 standard keyboard"
                    .to_owned(),
            ))
        } else if candidate.len() > MAX_BYTES {
            Some((
                "too_long",
                format!("must be at most {MAX_BYTES} characters (bcrypt reads only 72 bytes)"),
            ))
        } else if candidate.len() < 8 {
            Some(("too_short", "must be at least 8 characters".to_owned()))
        } else if !(candidate.bytes().any(|b| b.is_ascii_uppercase())
            && candidate.bytes().any(|b| b.is_ascii_lowercase())
            && candidate.bytes().any(|b| b.is_ascii_digit())
            && candidate.bytes().any(|b| b.is_ascii_punctuation()))
        {
            Some((
                "too_weak",
                "must contain an upper-case letter, a lower-case letter, a digit and a symbol"
                    .to_owned(),
            ))
        } else {
            None
        };
        match problem {
            Some((code, message)) => Err(ApiError::Validation {
                errors: vec![FieldError::new(field, code, message)],
            }),
            None => Ok(Self(SecretString::from(candidate))),
        }
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// The bcrypt hash to store.
    pub async fn hash(&self) -> Result<String, ApiError> {
        let password = self.0.clone();
        tokio::task::spawn_blocking(move || bcrypt::hash(password.expose_secret(), BCRYPT_COST))
            .await
            .map_err(|e| ApiError::Internal(e.into()))?
            .map_err(|e| ApiError::Internal(e.into()))
    }
}

/// Checks `candidate` against `stored` (any `$2a$`/`$2b$`/`$2y$` hash) on a blocking thread.
/// With no stored hash it checks against a dummy one, taking the same time, and fails.
pub async fn verify(candidate: &str, stored: Option<&str>) -> Result<bool, ApiError> {
    let known = stored.is_some();
    let hash = stored.unwrap_or(DUMMY_HASH).to_owned();
    let candidate = SecretString::from(candidate.to_owned());
    let ok = tokio::task::spawn_blocking(move || {
        // Over-long input cannot match a stored password (we never store one), but still costs
        // a full verification so timing says nothing.
        let input = candidate.expose_secret();
        let input = if input.len() > MAX_BYTES {
            &input[..0]
        } else {
            input
        };
        bcrypt::verify(input, &hash).unwrap_or(false)
    })
    .await
    .map_err(|e| ApiError::Internal(e.into()))?;
    Ok(ok && known)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code_of(result: Result<Password, ApiError>) -> String {
        match result {
            Err(ApiError::Validation { errors }) => errors[0].code.to_string(),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn the_strength_rule_is_enforced() {
        assert!(Password::new("Sup3r-secret".into(), "password").is_ok());
        assert_eq!(
            code_of(Password::new("Sh0rt!".into(), "password")),
            "too_short"
        );
        assert_eq!(
            code_of(Password::new("alllowercase1!".into(), "password")),
            "too_weak"
        );
        assert_eq!(
            code_of(Password::new("NoDigits!!".into(), "password")),
            "too_weak"
        );
        assert_eq!(
            code_of(Password::new("NoSymbol123".into(), "password")),
            "too_weak"
        );
    }

    #[test]
    fn more_than_72_bytes_is_refused_not_truncated() {
        let long = format!("Aa1!{}", "x".repeat(69));
        assert_eq!(long.len(), 73);
        assert_eq!(code_of(Password::new(long, "password")), "too_long");
        // Only printable ASCII, so characters are bytes: an emoji or an accent is refused with
        // its own message rather than counted against a byte limit nobody can see.
        for other in [
            "Aa1!😀😀😀😀",
            "Pässwort-123",
            "Tab\tbed-1A",
            "Aa1!\u{a0}xxxx",
        ] {
            assert_eq!(code_of(Password::new(other.into(), "password")), "invalid");
        }
        assert!(Password::new("Spaces are 0k!".into(), "password").is_ok());
    }

    #[tokio::test]
    async fn hashes_from_other_bcrypt_implementations_verify() {
        // "Password1!" hashed by Python's bcrypt (2b); PHP's password_hash writes the same
        // hash with the 2y prefix.
        let python = "$2b$04$AsNWSEh7kjZ3bgk64t.y6..CDXE6ifX8Q3B3rJaTbVO1Yw7Xg0w7u";
        assert!(verify("Password1!", Some(python)).await.unwrap());
        assert!(!verify("Password2!", Some(python)).await.unwrap());
        let php = python.replacen("$2b$", "$2y$", 1);
        assert!(verify("Password1!", Some(&php)).await.unwrap());
    }

    #[tokio::test]
    async fn a_missing_hash_never_verifies() {
        assert!(!verify("anything", None).await.unwrap());
    }

    #[tokio::test]
    async fn hash_then_verify_round_trips_at_cost_12() {
        let password = Password::new("Correct-h0rse".into(), "password").unwrap();
        let hash = password.hash().await.unwrap();
        assert!(hash.starts_with("$2b$12$"));
        assert!(verify("Correct-h0rse", Some(&hash)).await.unwrap());
    }
}
