//! `AppJson<T>`: a JSON body extractor whose rejections are our problem+json errors.
//!
//! Unreadable JSON is a 400 (`malformed_json`); JSON of the wrong shape is a 422 naming the
//! field (via `serde_path_to_error`); a body that is not JSON at all is a 415.
//! `Option<AppJson<T>>` makes the body optional: no body at all (nothing, or only whitespace,
//! whatever the `Content-Type` says) or a JSON `null` is `None`.

use axum::body::Bytes;
use axum::extract::{FromRequest, OptionalFromRequest, Request};
use axum::response::{IntoResponse, Response};
use http::{StatusCode, header};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, FieldError};

#[derive(Clone, Copy, Debug, Default)]
pub struct AppJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for AppJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(&request) {
            return Err(ApiError::UnsupportedMediaType);
        }
        let bytes = read_body(request, state).await?;
        parse(&bytes).map(AppJson)
    }
}

/// Whether the request says its body is JSON (`application/json` or `application/*+json`).
fn is_json(request: &Request) -> bool {
    request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<mime::Mime>().ok())
        .is_some_and(|m| {
            m.type_() == mime::APPLICATION
                && (m.subtype() == mime::JSON || m.suffix() == Some(mime::JSON))
        })
}

/// An optional body: an empty (or whitespace-only) body is `None`, whatever its `Content-Type`
/// (clients and proxies often send `Content-Type: application/json` with no body); anything
/// else must be JSON of the right shape, exactly as for `AppJson<T>`.
impl<T, S> OptionalFromRequest<S> for AppJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Option<Self>, Self::Rejection> {
        let is_json = is_json(&request);
        let bytes = read_body(request, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) || is_json && is_null(&bytes) {
            Ok(None)
        } else if is_json {
            parse(&bytes).map(|value| Some(AppJson(value)))
        } else {
            Err(ApiError::UnsupportedMediaType)
        }
    }
}

/// Whether a JSON body is the literal `null` (an optional body left out, as some clients send
/// it).
fn is_null(bytes: &[u8]) -> bool {
    bytes.trim_ascii() == b"null"
}

/// The whole body (413 over the layers' limit).
async fn read_body<S: Send + Sync>(request: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(request, state)
        .await
        .map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge
            } else {
                ApiError::bad_request("unreadable_body", "the request body could not be read")
            }
        })
}

/// Deserializes a JSON document, mapping failures to 400 (syntax) or 422 (shape, naming the
/// field: a missing or unknown member is named itself, not its parent).
///
/// JSON Schema's `integer` is any number with a zero fraction, so `5.0` is read as `5`, as a
/// generated client may send it; a NUL character anywhere is refused (PostgreSQL text cannot
/// hold one).
pub(crate) fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| malformed(&e))?;
    let mut path = Vec::new();
    if normalise(&mut value, &mut path) {
        return Err(ApiError::invalid_field(
            field_path(&path, "body"),
            "nul_character",
            "must not contain NUL (\\u0000) characters",
        ));
    }
    // Each failure names one field; take that member out and read again, so one answer lists
    // every field that is wrong (a missing member cannot be taken out: it ends the search).
    let mut errors: Vec<FieldError> = Vec::new();
    loop {
        let error = match serde_path_to_error::deserialize(value.clone()) {
            Ok(parsed) if errors.is_empty() => return Ok(parsed),
            Ok(_) => break,
            Err(error) => error,
        };
        let path = error.path().to_string();
        let segments: Vec<serde_path_to_error::Segment> = error.path().iter().cloned().collect();
        let raw = strip_position(error.inner());
        // serde's path ends at the object for a missing member, at the member for an unknown one.
        let (field, code, message) = match (named_member(&raw), path.as_str()) {
            (Some((member, "required")), ".") => {
                (member.to_owned(), "required", "is required".to_owned())
            }
            (Some((member, "required")), parent) => (
                format!("{parent}.{member}"),
                "required",
                "is required".to_owned(),
            ),
            (Some((member, code)), ".") => (
                member.to_owned(),
                code,
                "is not a field of this request".to_owned(),
            ),
            (Some((_, code)), _) => (
                path.clone(),
                code,
                "is not a field of this request".to_owned(),
            ),
            (None, ".") => ("body".to_owned(), "invalid", plain_message(&raw)),
            (None, _) => (path.clone(), "invalid", plain_message(&raw)),
        };
        if errors.iter().any(|e| e.field == field) {
            break;
        }
        let done = code == "required" || !remove_at(&mut value, &segments);
        errors.push(FieldError::new(field, code, message));
        if done || errors.len() >= 50 {
            break;
        }
    }
    Err(ApiError::Validation { errors })
}

/// Takes the member or item at `path` out of `value`; false when there is none.
fn remove_at(value: &mut serde_json::Value, path: &[serde_path_to_error::Segment]) -> bool {
    use serde_path_to_error::Segment;
    let Some((last, parents)) = path.split_last() else {
        return false;
    };
    let mut here = value;
    for segment in parents {
        here = match (segment, here) {
            (Segment::Map { key }, serde_json::Value::Object(map)) => match map.get_mut(key) {
                Some(next) => next,
                None => return false,
            },
            (Segment::Seq { index }, serde_json::Value::Array(items)) => {
                match items.get_mut(*index) {
                    Some(next) => next,
                    None => return false,
                }
            }
            _ => return false,
        };
    }
    match (last, here) {
        (Segment::Map { key }, serde_json::Value::Object(map)) => map.remove(key).is_some(),
        // An item cannot be taken out without renumbering the others: leave it, so the same
        // failure comes back and ends the search.
        (Segment::Seq { index }, serde_json::Value::Array(items)) => items.get(*index).is_some(),
        _ => false,
    }
}

/// A deserializer's message in words a person can act on ("must be a UUID") rather than the
/// library's ("UUID parsing failed: invalid character...", "invalid type: floating point `12.5`,
/// expected a Decimal type").
pub fn plain_message(raw: &str) -> String {
    if raw.starts_with("UUID parsing failed") || raw.contains("expected a UUID") {
        return "must be a UUID such as 6f1c3a52-1b0e-4d3f-9a57-0c2b8e2f4d11".to_owned();
    }
    const DATE_TIME: [&str; 6] = [
        "premature end of input",
        "input contains invalid characters",
        "input is out of range",
        "trailing input",
        "input is not enough for unique date and time",
        "no possible date and time matching input",
    ];
    if raw.starts_with("provided string was not `true` or `false`") {
        return "must be true or false".to_owned();
    }
    if raw.starts_with("invalid digit found in string")
        || raw.starts_with("cannot parse integer from empty string")
        || raw.starts_with("number too large")
        || raw.starts_with("number too small")
    {
        return "must be a whole number in range".to_owned();
    }
    if DATE_TIME.iter().any(|m| raw.starts_with(m)) {
        return "must be a date-time with a time zone (RFC 3339), such as 2026-11-30T09:00:00Z"
            .to_owned();
    }
    if let Some(variants) = raw
        .strip_prefix("unknown variant `")
        .and_then(|rest| rest.split_once(", expected "))
        .map(|(_, expected)| expected)
    {
        let variants = variants
            .trim_start_matches("one of ")
            .replace('`', "")
            .replace(" or ", ", ");
        return format!("must be one of {variants}");
    }
    let Some(expected) = raw.rsplit_once(", expected ").map(|(_, e)| e) else {
        return raw.to_owned();
    };
    let words = match expected {
        "i16" | "i32" | "i64" => "a whole number",
        "u8" | "u16" | "u32" | "u64" => "a whole number, not negative",
        "f32" | "f64" => "a number",
        "a boolean" => "true or false",
        "a sequence" => "a list",
        "a map" => "an object",
        other if other.starts_with("struct ") || other.starts_with("a map") => "an object",
        other => other,
    };
    let range = if raw.starts_with("invalid value: integer") {
        " in range"
    } else {
        ""
    };
    format!("must be {words}{range}")
}

/// Rewrites integral floats as integers; true (and `path` names it) if a string or key holds
/// a NUL character.
fn normalise(value: &mut serde_json::Value, path: &mut Vec<String>) -> bool {
    use serde_json::Value;
    match value {
        Value::String(text) => text.contains('\0'),
        Value::Number(number) => {
            if let Some(float) = number.as_f64().filter(|_| number.is_f64())
                && float.fract() == 0.0
                && float.abs() < 9.0e15
            {
                *value = Value::from(float as i64);
            }
            false
        }
        Value::Array(items) => items.iter_mut().enumerate().any(|(i, item)| {
            path.push(format!("[{i}]"));
            normalise(item, path) || {
                path.pop();
                false
            }
        }),
        Value::Object(map) => map.iter_mut().any(|(key, item)| {
            path.push(key.clone());
            key.contains('\0') || normalise(item, path) || {
                path.pop();
                false
            }
        }),
        Value::Null | Value::Bool(_) => false,
    }
}

/// `["lines", "[0]", "name"]` as `lines[0].name`; `empty` when there is no path.
fn field_path(path: &[String], empty: &str) -> String {
    if path.is_empty() {
        return empty.to_owned();
    }
    path.iter().fold(String::new(), |field, part| {
        match (field.is_empty(), part.starts_with('[')) {
            (true, _) | (false, true) => field + part,
            (false, false) => field + "." + part,
        }
    })
}

/// The member serde names in "missing field `x`" (`required`) or "unknown field `x`, expected
/// ..." (`unknown_field`), with that code.
fn named_member(message: &str) -> Option<(&str, &'static str)> {
    let (rest, code) = if let Some(rest) = message.strip_prefix("missing field `") {
        (rest, "required")
    } else {
        (message.strip_prefix("unknown field `")?, "unknown_field")
    };
    rest.split_once('`').map(|(member, _)| (member, code))
}

fn malformed(error: &serde_json::Error) -> ApiError {
    ApiError::bad_request(
        "malformed_json",
        format!("the request body is not valid JSON: {error}"),
    )
}

/// serde_json appends " at line 1 column 9" to data errors; the field path says more.
fn strip_position(error: &serde_json::Error) -> String {
    let text = error.to_string();
    match text.rfind(" at line ") {
        Some(at) => text[..at].to_owned(),
        None => text,
    }
}

impl<T: Serialize> IntoResponse for AppJson<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}
