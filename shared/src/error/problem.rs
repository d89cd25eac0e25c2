//! Rendering: every error body is one RFC 9457 problem document.

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};

use super::api::{ApiError, FieldError, PROBLEM_JSON};

/// The problem document for a bare status, for responses not built from an `ApiError`
/// (unknown routes, wrong methods, framework rejections).
pub fn problem_for_status(status: StatusCode) -> Response {
    let (code, detail) = match status {
        StatusCode::NOT_FOUND => ("not_found", "no route matches this path"),
        StatusCode::METHOD_NOT_ALLOWED => (
            "method_not_allowed",
            "this route does not accept that method",
        ),
        StatusCode::PAYLOAD_TOO_LARGE => (
            "payload_too_large",
            "the request body exceeds the size limit",
        ),
        StatusCode::BAD_GATEWAY => ("bad_gateway", "a service this API depends on failed"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (
            "unsupported_media_type",
            "the request body has an unsupported content type",
        ),
        s if s.is_server_error() => ("internal_error", "an unexpected error occurred"),
        _ => ("bad_request", "the request could not be processed"),
    };
    render(status, code, detail, &[], None)
}

fn render(
    status: StatusCode,
    code: &str,
    detail: &str,
    errors: &[FieldError],
    extra: Option<&serde_json::Map<String, serde_json::Value>>,
) -> Response {
    let mut body = serde_json::json!({
        "type": format!("urn:stockroom:problem:{code}"),
        "title": status.canonical_reason().unwrap_or("Error"),
        "status": status.as_u16(),
        "detail": detail,
        "code": code,
        "request_id": crate::request::current_request_id(),
    });
    if let Some(obj) = body.as_object_mut() {
        if !errors.is_empty() {
            obj.insert("errors".into(), serde_json::json!(errors));
        }
        for (key, value) in extra.into_iter().flatten() {
            obj.entry(key.clone()).or_insert_with(|| value.clone());
        }
    }
    let mut response = (status, body.to_string()).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    response
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        match &self {
            Self::Internal(cause) => {
                tracing::error!(error = format!("{cause:#}"), "internal error")
            }
            Self::Unavailable(cause) => {
                tracing::warn!(error = format!("{cause:#}"), "database unavailable")
            }
            Self::Upstream { code, detail } | Self::NotConfigured { code, detail } => {
                tracing::warn!(status = status.as_u16(), code, detail, "request not served")
            }
            _ => tracing::debug!(
                status = status.as_u16(),
                code = self.code(),
                "request rejected"
            ),
        }
        let reference;
        let (errors, extra): (&[FieldError], _) = match &self {
            Self::Validation { errors } => (errors, None),
            Self::UnknownReference {
                code,
                field,
                message,
            } => {
                reference = [FieldError::new(field.clone(), *code, message.clone())];
                (&reference, None)
            }
            Self::Conflict { errors, extra, .. } => (errors, Some(extra)),
            Self::OverLimit { extra, .. } => (&[], Some(extra)),
            _ => (&[], None),
        };
        let mut response = render(status, self.code(), &self.detail(), errors, extra);
        if let Self::RateLimited { retry_after_secs } = self {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, retry_after_secs.into());
        }
        response
    }
}
