//! `AppJson<T>`: a JSON body extractor whose rejections are our problem+json errors.
//!
//! Unreadable JSON is a 400 (`malformed_json`); JSON of the wrong shape is a 422 naming the
//! field (via `serde_path_to_error`); a body that is not JSON at all is a 415.
//! `Option<AppJson<T>>` makes the body optional: no body at all (nothing, or only whitespace,
//! whatever the `Content-Type` says) is `None`.

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
        if bytes.iter().all(u8::is_ascii_whitespace) {
            Ok(None)
        } else if is_json {
            parse(&bytes).map(|value| Some(AppJson(value)))
        } else {
            Err(ApiError::UnsupportedMediaType)
        }
    }
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

/// Deserializes a JSON document, mapping failures to 400 (syntax) or 422 (shape).
pub(crate) fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => {
                let field = if path == "." { "body".to_owned() } else { path };
                ApiError::Validation {
                    errors: vec![FieldError::new(field, "invalid", strip_position(&inner))],
                }
            }
            _ => malformed(&inner),
        }
    })?;
    deserializer.end().map_err(|e| malformed(&e))?;
    if has_nul_escape(bytes) {
        return Err(nul_in_text(bytes));
    }
    Ok(value)
}

/// Whether a JSON text holds a `\u0000` escape (a NUL character in a string): an odd run of
/// backslashes before `u0000`, since `\\u0000` is a backslash followed by the text `u0000`.
fn has_nul_escape(bytes: &[u8]) -> bool {
    bytes.windows(5).enumerate().any(|(at, window)| {
        window == b"u0000"
            && bytes[..at]
                .iter()
                .rev()
                .take_while(|b| **b == b'\\')
                .count()
                % 2
                == 1
    })
}

/// PostgreSQL text cannot hold NUL, so no field may: a 422 naming the first such field.
fn nul_in_text(bytes: &[u8]) -> ApiError {
    fn find(value: &serde_json::Value, path: &mut Vec<String>) -> bool {
        match value {
            serde_json::Value::String(text) => text.contains('\0'),
            serde_json::Value::Array(items) => items.iter().enumerate().any(|(i, item)| {
                path.push(format!("[{i}]"));
                find(item, path) || {
                    path.pop();
                    false
                }
            }),
            serde_json::Value::Object(map) => map.iter().any(|(key, item)| {
                path.push(key.clone());
                key.contains('\0') || find(item, path) || {
                    path.pop();
                    false
                }
            }),
            _ => false,
        }
    }
    let mut path = Vec::new();
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(bytes) {
        find(&value, &mut path);
    }
    let field = path.iter().fold(String::new(), |field, part| {
        match (field.is_empty(), part.starts_with('[')) {
            (true, _) | (false, true) => field + part,
            (false, false) => field + "." + part,
        }
    });
    ApiError::invalid_field(
        if field.is_empty() {
            "body".to_owned()
        } else {
            field
        },
        "nul_character",
        "must not contain NUL (\\u0000) characters",
    )
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
