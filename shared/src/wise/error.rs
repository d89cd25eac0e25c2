//! What went wrong talking to Wise, in Wise's words where it gave any.

use reqwest::StatusCode;
use serde_json::Value;

/// Wise's messages are short; anything longer is cut before it is stored or shown.
pub(super) const MAX_MESSAGE_CHARS: usize = 500;

/// What went wrong talking to Wise, in Wise's words where it gave any.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message} ({code})")]
pub struct Error {
    /// The HTTP status Wise answered with; `None` when it could not be reached.
    pub status: Option<u16>,
    /// Wise's error code (`error.route.not.supported`, `transfer.insufficient_funds`), or ours:
    /// `unreachable`, `timeout`, `invalid_response`, `funding_rejected`.
    pub code: String,
    /// Wise's message, fit to show to whoever asked for the payment.
    pub message: String,
    /// The request field Wise's error is about (its `path`, e.g. `targetAccount`), if it said.
    pub path: Option<String>,
}

impl Error {
    pub(super) fn new(
        status: Option<u16>,
        code: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        let message: String = message.into();
        Self {
            status,
            code: truncate(code.into(), 200),
            message: truncate(message, MAX_MESSAGE_CHARS),
            path: None,
        }
    }

    /// An error of Stockroom's own making, without an answer from Wise (`timeout`...).
    pub fn local(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(None, code, message)
    }

    /// Wise answered and said no: a 4xx, or a readable answer refusing the request (a funding
    /// `REJECTED`). Then nothing happened that the error does not say. Otherwise — Wise not
    /// reached or not answering in time, a 5xx, an answer that could not be read — Wise may
    /// have done what was asked.
    pub fn is_refusal(&self) -> bool {
        self.status.is_some_and(|s| s < 500) && self.code != "invalid_response"
    }

    /// A refusal about the recipient account itself (removed, deactivated, invalid at Wise):
    /// Wise names `targetAccount` as the error's field, or its code names the recipient.
    pub fn concerns_recipient(&self) -> bool {
        let code = self.code.to_ascii_lowercase();
        self.status.is_some_and(|s| (400..500).contains(&s))
            && (self.path.as_deref() == Some("targetAccount")
                || code.contains("recipient")
                || code.contains("targetaccount")
                || code.contains("target.account"))
    }

    /// Reads Wise's error body: `{"errors": [{"code", "message"}]}` on most endpoints,
    /// `{"error", "error_description"}` or `{"message"}` on some others.
    pub(super) fn from_response(status: StatusCode, body: &[u8]) -> Self {
        let body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let first = body.get("errors").and_then(|e| e.get(0));
        let text = |value: Option<&Value>| value.and_then(Value::as_str).map(str::to_owned);
        let code = text(first.and_then(|e| e.get("code")))
            .or_else(|| text(body.get("error")))
            .unwrap_or_else(|| format!("http_{}", status.as_u16()));
        let message = text(first.and_then(|e| e.get("message")))
            .or_else(|| text(body.get("error_description")))
            .or_else(|| text(body.get("message")))
            .unwrap_or_else(|| {
                format!(
                    "Wise answered {} {}",
                    status.as_u16(),
                    status.canonical_reason().unwrap_or("")
                )
            });
        let path = text(first.and_then(|e| e.get("path"))).map(|p| truncate(p, 200));
        Self {
            path,
            ..Self::new(Some(status.as_u16()), code, message)
        }
    }

    pub(super) fn transport(error: &reqwest::Error) -> Self {
        if error.is_timeout() {
            Self::new(None, "timeout", "Wise did not answer in time")
        } else {
            Self::new(None, "unreachable", "Wise could not be reached")
        }
    }
}

pub(super) fn truncate(mut text: String, max_chars: usize) -> String {
    if let Some((at, _)) = text.char_indices().nth(max_chars) {
        text.truncate(at);
    }
    text
}
