//! Text in request bodies: email addresses, one-line names and free text, each checked and
//! stored trimmed.

use serde::Serialize;

use super::patch::Patch;
use crate::error::{ApiError, Fields};

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

/// An optional email address: empty becomes `None`, anything else must be valid.
pub fn optional_email(raw: Option<&str>, field: &str) -> Result<Option<String>, ApiError> {
    match raw.map(str::trim).filter(|e| !e.is_empty()) {
        None => Ok(None),
        Some(email) => Email::parse(email, field).map(|e| Some(e.0)),
    }
}

/// A display name (`format = "line"` in the schema): at most `max` characters, something
/// visible in it, no control characters anywhere; stored trimmed.
pub fn name(raw: &str, field: &str, max: usize) -> Result<String, ApiError> {
    if raw.chars().any(char::is_control) {
        return Err(ApiError::invalid_field(
            field,
            "invalid",
            "must be one line without control characters",
        ));
    }
    let name = raw.trim();
    if name.is_empty() {
        return Err(ApiError::invalid_field(
            field,
            "required",
            "must not be empty",
        ));
    }
    if raw.chars().count() > max {
        return Err(ApiError::invalid_field(
            field,
            "too_long",
            format!("must be at most {max} characters"),
        ));
    }
    Ok(name.to_owned())
}

/// Optional free text: at most `max` characters as sent, stored trimmed; blank becomes `None`.
pub fn optional_text(
    raw: Option<&str>,
    field: &str,
    max: usize,
) -> Result<Option<String>, ApiError> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    if raw.chars().count() > max {
        return Err(ApiError::invalid_field(
            field,
            "too_long",
            format!("must be at most {max} characters"),
        ));
    }
    let text = raw.trim();
    Ok((!text.is_empty()).then(|| text.to_owned()))
}

/// A nullable free-text field of a PATCH body, checked as [`optional_text`]: blank clears.
pub fn patch_text(
    patch: Patch<String>,
    field: &str,
    max: usize,
) -> Result<Patch<String>, ApiError> {
    patch
        .try_map(|raw| optional_text(Some(&raw), field, max))
        .map(Patch::flatten)
}

/// A nullable email field of a PATCH body, checked as [`optional_email`]: blank clears.
pub fn patch_email(patch: Patch<String>, field: &str) -> Result<Patch<String>, ApiError> {
    patch
        .try_map(|raw| optional_email(Some(&raw), field))
        .map(Patch::flatten)
}

/// The checks above for a body's fields, each error noted in `Fields` (every invalid field in
/// one 422) and the body read on.
impl Fields {
    /// A required [`name`].
    pub fn name(&mut self, raw: &str, field: &str, max: usize) -> Option<String> {
        self.check(name(raw, field, max))
    }

    /// An [`optional_text`] field (`None` when invalid).
    pub fn text(&mut self, raw: Option<&str>, field: &str, max: usize) -> Option<String> {
        self.check(optional_text(raw, field, max)).flatten()
    }

    /// An [`optional_email`] field (`None` when invalid).
    pub fn email(&mut self, raw: Option<&str>, field: &str) -> Option<String> {
        self.check(optional_email(raw, field)).flatten()
    }

    /// A [`name`] a PATCH body may leave out (`None`: unchanged).
    pub fn new_name(&mut self, raw: Option<String>, field: &str, max: usize) -> Option<String> {
        raw.and_then(|raw| self.name(&raw, field, max))
    }

    /// A [`patch_text`] field (`Keep` when invalid).
    pub fn patch_text(&mut self, patch: Patch<String>, field: &str, max: usize) -> Patch<String> {
        self.check(patch_text(patch, field, max))
            .unwrap_or_default()
    }

    /// A [`patch_email`] field (`Keep` when invalid).
    pub fn patch_email(&mut self, patch: Patch<String>, field: &str) -> Patch<String> {
        self.check(patch_email(patch, field)).unwrap_or_default()
    }
}
