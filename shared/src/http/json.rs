//! `AppJson<T>`: a JSON body extractor whose rejections are our problem+json errors.
//!
//! Unreadable JSON is a 400 (`malformed_json`); JSON of the wrong shape is a 422 naming the
//! field (via `serde_path_to_error`); a body that is not JSON at all is a 415.
//! `Option<AppJson<T>>` makes the body optional: no body at all is `None`.

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
        let is_json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<mime::Mime>().ok())
            .is_some_and(|m| {
                m.type_() == mime::APPLICATION
                    && (m.subtype() == mime::JSON || m.suffix() == Some(mime::JSON))
            });
        if !is_json {
            return Err(ApiError::UnsupportedMediaType);
        }
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::PayloadTooLarge
                } else {
                    ApiError::bad_request("unreadable_body", "the request body could not be read")
                }
            })?;
        parse(&bytes).map(AppJson)
    }
}

/// An optional body: an empty body without a `Content-Type` is `None`; anything else must be
/// JSON of the right shape, exactly as for `AppJson<T>`.
impl<T, S> OptionalFromRequest<S> for AppJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Option<Self>, Self::Rejection> {
        if request.headers().contains_key(header::CONTENT_TYPE) {
            return <Self as FromRequest<S>>::from_request(request, state)
                .await
                .map(Some);
        }
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::PayloadTooLarge
                } else {
                    ApiError::bad_request("unreadable_body", "the request body could not be read")
                }
            })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            Ok(None)
        } else {
            Err(ApiError::UnsupportedMediaType)
        }
    }
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
    Ok(value)
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
