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

impl<T, S> FromRequest<S> for AppJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
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
    serde_path_to_error::deserialize(value).map_err(|error| {
        let path = error.path().to_string();
        let message = strip_position(error.inner());
        // serde's path ends at the object for a missing member, at the member for an unknown one.
        let (field, code) = match (named_member(&message), path.as_str()) {
            (Some((member, code)), ".") => (member.to_owned(), code),
            (Some((member, "required")), parent) => (format!("{parent}.{member}"), "required"),
            (Some((_, code)), _) => (path.clone(), code),
            (None, ".") => ("body".to_owned(), "invalid"),
            (None, _) => (path.clone(), "invalid"),
        };
        ApiError::Validation {
            errors: vec![FieldError::new(field, code, message)],
        }
    })
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
