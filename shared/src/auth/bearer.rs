//! The credential a request carries: `Authorization: Bearer <access token or API key>`.

use http::header;
use http::request::Parts;

/// API keys start with this, so they are recognisable (and told apart from access tokens).
pub const API_KEY_PREFIX: &str = "sk_";

/// The token of an `Authorization: Bearer` header.
pub fn bearer_token(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}
