//! Input types parsed at the edge: past a handler's first lines, invalid values cannot exist.

use serde::Serialize;

use crate::error::ApiError;

/// A syntactically valid email address, trimmed and lower-cased (addresses are compared
/// case-insensitively everywhere).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str, field: &str) -> Result<Self, ApiError> {
        let email = raw.trim().to_lowercase();
        if email.len() > 254 || !email_address::EmailAddress::is_valid(&email) {
            return Err(ApiError::invalid_field(
                field,
                "invalid",
                "must be a valid email address",
            ));
        }
        Ok(Self(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A display name: 1 to `max` characters after trimming, no control characters.
pub fn name(raw: &str, field: &str, max: usize) -> Result<String, ApiError> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(ApiError::invalid_field(
            field,
            "required",
            "must not be empty",
        ));
    }
    if name.chars().count() > max {
        return Err(ApiError::invalid_field(
            field,
            "too_long",
            format!("must be at most {max} characters"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(ApiError::invalid_field(
            field,
            "invalid",
            "must not contain control characters",
        ));
    }
    Ok(name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised() {
        assert_eq!(
            Email::parse("  Ann@Example.COM ", "email")
                .unwrap()
                .as_str(),
            "ann@example.com"
        );
    }

    #[test]
    fn invalid_emails_are_rejected() {
        for bad in ["", "ann", "ann@", "@example.com", "a b@example.com"] {
            assert!(Email::parse(bad, "email").is_err(), "{bad}");
        }
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(name("  Ann  ", "name", 200).unwrap(), "Ann");
        assert!(name("   ", "name", 200).is_err());
        assert!(name(&"x".repeat(201), "name", 200).is_err());
        assert!(name("a\u{0}b", "name", 200).is_err());
    }
}
