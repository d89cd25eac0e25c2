//! The error type, its field errors, and how database errors become one.

use std::borrow::Cow;
use std::sync::OnceLock;

use http::StatusCode;
use serde::Serialize;

/// Media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// One invalid input field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    /// Path of the field in the request (`name`, `lines[2].quantity`, or a query parameter).
    pub field: String,
    /// Stable machine code (`required`, `too_long`, `invalid`, ...).
    #[schema(value_type = String)]
    pub code: Cow<'static, str>,
    /// Human-readable explanation.
    pub message: String,
}

impl FieldError {
    pub fn new(
        field: impl Into<String>,
        code: impl Into<Cow<'static, str>>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            field: field.into(),
            code: code.into(),
            message: message.into(),
        }
    }
}

/// Collects field errors from several parses so a client sees all of them at once.
///
/// ```ignore
/// let mut fields = Fields::default();
/// let email = fields.check(Email::parse(&body.email, "email"));
/// let name = fields.check(domain::name(&body.name, "name", 200));
/// let (Some(email), Some(name)) = (email, name) else { return Err(fields.into_error()) };
/// ```
#[derive(Debug, Default)]
pub struct Fields {
    errors: Vec<FieldError>,
    other: Option<ApiError>,
}

impl Fields {
    /// The value, or `None` after recording why it is invalid.
    pub fn check<T>(&mut self, result: Result<T, ApiError>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(ApiError::Validation { errors }) => {
                self.errors.extend(errors);
                None
            }
            Err(other) => {
                self.other.get_or_insert(other);
                None
            }
        }
    }

    /// Records an error found by the caller.
    pub fn add(&mut self, error: FieldError) {
        self.errors.push(error);
    }

    pub fn is_empty(&self) -> bool {
        self.errors.is_empty() && self.other.is_none()
    }

    /// `value` when nothing was recorded, else the error to return: the end of a body's check.
    pub fn finish<T>(self, value: T) -> Result<T, ApiError> {
        if self.is_empty() {
            Ok(value)
        } else {
            Err(self.into_error())
        }
    }

    /// The error to return: a non-validation failure first, else all field errors.
    pub fn into_error(self) -> ApiError {
        self.other.unwrap_or(ApiError::Validation {
            errors: self.errors,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request cannot be read (malformed JSON, bad query string).
    #[error("bad request: {detail}")]
    BadRequest { code: &'static str, detail: String },
    /// 401: no valid credentials.
    #[error("unauthorized: {detail}")]
    Unauthorized { code: &'static str, detail: String },
    /// 403: authenticated but not allowed.
    #[error("forbidden: {detail}")]
    Forbidden { code: &'static str, detail: String },
    /// 404: does not exist, or belongs to another organization (`not_found`), or a record the
    /// body refers to does not (`unknown_supplier`, ...).
    #[error("not found: {detail}")]
    NotFound { code: &'static str, detail: String },
    /// 404: a record the body refers to (`supplier_id`, `lines[0].product_id`) does not exist
    /// in the caller's organization; `errors` names the field.
    #[error("unknown reference: {field}")]
    UnknownReference {
        code: &'static str,
        field: String,
        message: String,
    },
    /// 409: conflicts with the current state; `errors` names the fields at fault (a form
    /// shows the message beside them), `extra` adds members such as `available`.
    #[error("conflict: {detail}")]
    Conflict {
        code: &'static str,
        detail: String,
        errors: Vec<FieldError>,
        extra: serde_json::Map<String, serde_json::Value>,
    },
    /// 413: body larger than the configured limit.
    #[error("payload too large")]
    PayloadTooLarge,
    /// 413: what the request asks for would pass a limit of the organization's
    /// (`quota_exceeded`); `extra` adds members such as `quota_bytes`.
    #[error("over a limit: {detail}")]
    OverLimit {
        code: &'static str,
        detail: String,
        extra: serde_json::Map<String, serde_json::Value>,
    },
    /// 415: the body is not JSON.
    #[error("unsupported media type")]
    UnsupportedMediaType,
    /// 422: well-formed but invalid input.
    #[error("validation failed")]
    Validation { errors: Vec<FieldError> },
    /// 429: too many attempts; retry after the given seconds.
    #[error("rate limited")]
    RateLimited { retry_after_secs: u64 },
    /// 502: a service we depend on (Wise) refused or failed; `detail` carries its message.
    #[error("upstream error: {detail}")]
    Upstream { code: &'static str, detail: String },
    /// 503: the database cannot be reached in time.
    #[error("service unavailable: {0}")]
    Unavailable(#[source] anyhow::Error),
    /// 503: a feature this deployment has not been configured for (e.g. Wise payments).
    #[error("not configured: {detail}")]
    NotConfigured { code: &'static str, detail: String },
    /// 500: a bug or an unexpected failure; the cause is logged, not shown.
    #[error("internal error: {0}")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    pub fn not_found(what: impl std::fmt::Display) -> Self {
        Self::NotFound {
            code: "not_found",
            detail: format!("{what} not found"),
        }
    }

    /// A 404 for a field that refers to a record the organization does not have.
    pub fn unknown_reference(
        field: impl Into<String>,
        code: &'static str,
        message: impl Into<String>,
    ) -> Self {
        Self::UnknownReference {
            code,
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn conflict(code: &'static str, detail: impl Into<String>) -> Self {
        Self::Conflict {
            code,
            detail: detail.into(),
            errors: Vec::new(),
            extra: Default::default(),
        }
    }

    /// A 409 on one field's value (`sku_taken`): `errors` names the field, with `detail` as
    /// its message.
    pub fn conflict_on(field: &str, code: &'static str, detail: impl Into<String>) -> Self {
        let detail = detail.into();
        Self::Conflict {
            code,
            errors: vec![FieldError::new(field, code, detail.clone())],
            detail,
            extra: Default::default(),
        }
    }

    pub fn unauthorized(code: &'static str, detail: impl Into<String>) -> Self {
        Self::Unauthorized {
            code,
            detail: detail.into(),
        }
    }

    pub fn forbidden(code: &'static str, detail: impl Into<String>) -> Self {
        Self::Forbidden {
            code,
            detail: detail.into(),
        }
    }

    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Self {
        Self::BadRequest {
            code,
            detail: detail.into(),
        }
    }

    /// A 422 for a single field.
    pub fn invalid_field(
        field: impl Into<String>,
        code: impl Into<Cow<'static, str>>,
        message: impl Into<String>,
    ) -> Self {
        Self::Validation {
            errors: vec![FieldError::new(field, code, message)],
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            Self::Forbidden { .. } => StatusCode::FORBIDDEN,
            Self::NotFound { .. } | Self::UnknownReference { .. } => StatusCode::NOT_FOUND,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::PayloadTooLarge | Self::OverLimit { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Validation { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Upstream { .. } => StatusCode::BAD_GATEWAY,
            Self::Unavailable(_) | Self::NotConfigured { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable machine-readable code clients switch on.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest { code, .. }
            | Self::Unauthorized { code, .. }
            | Self::Forbidden { code, .. }
            | Self::Conflict { code, .. }
            | Self::OverLimit { code, .. }
            | Self::NotFound { code, .. }
            | Self::UnknownReference { code, .. }
            | Self::Upstream { code, .. }
            | Self::NotConfigured { code, .. } => code,
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::Validation { .. } => "validation_failed",
            Self::RateLimited { .. } => "rate_limited",
            Self::Unavailable(_) => "service_unavailable",
            Self::Internal(_) => "internal_error",
        }
    }

    pub(super) fn detail(&self) -> Cow<'_, str> {
        match self {
            Self::BadRequest { detail, .. }
            | Self::Unauthorized { detail, .. }
            | Self::Forbidden { detail, .. }
            | Self::NotFound { detail, .. }
            | Self::Conflict { detail, .. }
            | Self::OverLimit { detail, .. }
            | Self::Upstream { detail, .. }
            | Self::NotConfigured { detail, .. } => Cow::Borrowed(detail),
            Self::UnknownReference { field, message, .. } => {
                Cow::Owned(format!("{field}: {message}"))
            }
            Self::PayloadTooLarge => Cow::Borrowed("the request body exceeds the size limit"),
            Self::UnsupportedMediaType => {
                Cow::Borrowed("the request body must be JSON (Content-Type: application/json)")
            }
            Self::Validation { errors } if errors.len() == 1 => {
                Cow::Owned(format!("{}: {}", errors[0].field, errors[0].message))
            }
            Self::Validation { .. } => Cow::Borrowed("some fields are invalid; see `errors`"),
            Self::RateLimited { retry_after_secs } => {
                Cow::Owned(format!("too many attempts; retry in {retry_after_secs} s"))
            }
            Self::Unavailable(_) => {
                Cow::Borrowed("the database is unavailable; retry in a few seconds")
            }
            Self::Internal(_) => Cow::Borrowed("an unexpected error occurred"),
        }
    }
}

/// Who wants to see every database error as it becomes an [`ApiError`]: the database layer,
/// which reads its credentials again when the database refused its login
/// ([`watch_database_errors`]).
static DATABASE_ERRORS: OnceLock<fn(&sqlx::Error)> = OnceLock::new();

/// Has `watch` see every database error turned into an [`ApiError`] (set once per process).
pub fn watch_database_errors(watch: fn(&sqlx::Error)) {
    let _ = DATABASE_ERRORS.set(watch);
}

/// Connection-level failures mean the database is unreachable (503); everything else is a bug
/// or an unexpected state (500).
impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        if let Some(watch) = DATABASE_ERRORS.get() {
            watch(&error);
        }
        if is_unavailable(&error) {
            Self::Unavailable(error.into())
        } else {
            Self::Internal(error.into())
        }
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(error: anyhow::Error) -> Self {
        Self::Internal(error)
    }
}

fn is_unavailable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_) => true,
        // 57014 query_canceled (statement_timeout), 57P01..03 admin shutdown / cannot connect
        // now, 53xxx out of connections or memory, 40001/40P01 serialization failure /
        // deadlock, 08xxx a connection that failed or was refused (a pooler stopping): all
        // transient, so "retry shortly" is the honest answer. The deployment's own faults are
        // answered alike, as the database being unavailable to this function, never as a bug
        // of the request: 28xxx the login refused (wrong credentials in DATABASE_URL), 3D000
        // no such database, and a role missing a grant ("permission denied ...", 42501; the
        // same code with another message is a row-level security violation, a bug: 500).
        sqlx::Error::Database(db) => {
            let code = db.code();
            let code = code.as_deref().unwrap_or_default();
            matches!(
                code,
                "57014" | "57P01" | "57P02" | "57P03" | "40001" | "40P01" | "3D000"
            ) || ["53", "08", "28"]
                .iter()
                .any(|class| code.starts_with(class))
                || (code == "42501" && db.message().starts_with("permission denied"))
        }
        _ => false,
    }
}
