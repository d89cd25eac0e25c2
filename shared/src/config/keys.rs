//! The key rings: `TOKEN_KEYS` and `DATA_KEYS` (with `SECRET_KEY` as their first key), and how
//! long a retired token key still verifies.

use std::collections::HashMap;
use std::time::Duration;

use secrecy::SecretString;

use super::error::ConfigError;
use crate::crypto::{FIRST_KEY_ID, Keys, MAX_KEY_ID_LEN};

/// How long an access token lives.
pub const ACCESS_TOKEN_TTL: Duration = Duration::from_secs(15 * 60);

/// How long after a rotation tokens signed by the previous token key still verify: an access
/// token's lifetime, plus the time a warm function may take to read the new keys (it signs
/// with the old key until then), plus a minute of clock skew.
pub fn retired_token_key_window(refresh_every: Duration) -> Duration {
    ACCESS_TOKEN_TTL + refresh_every + Duration::from_secs(60)
}

/// The two key rings: `TOKEN_KEYS` and `DATA_KEYS` (`id:secret` pairs, comma-separated, newest
/// first), each followed by `SECRET_KEY` as key `k0` when that is set and not listed; older
/// token keys verify until `TOKEN_KEYS_ROTATED_AT` plus [`retired_token_key_window`].
pub(super) fn key_rings<'a>(
    get: &impl Fn(&'static str) -> Option<&'a str>,
    refresh_every: Duration,
) -> Result<Keys, ConfigError> {
    let first = get("SECRET_KEY")
        .map(|secret| {
            if secret.len() < 32 {
                return Err(ConfigError::Invalid {
                    name: "SECRET_KEY",
                    reason: "must be at least 32 characters of random text".into(),
                });
            }
            Ok(SecretString::from(secret.to_owned()))
        })
        .transpose()?;
    let tokens = key_ring(get, "TOKEN_KEYS", first.as_ref())?;
    let data = key_ring(get, "DATA_KEYS", first.as_ref())?;
    let rotated_at = get("TOKEN_KEYS_ROTATED_AT")
        .map(|text| {
            let text = text.trim();
            text.parse::<i64>()
                .ok()
                .or_else(|| {
                    chrono::DateTime::parse_from_rfc3339(text)
                        .ok()
                        .map(|t| t.timestamp())
                })
                .ok_or_else(|| ConfigError::Invalid {
                    name: "TOKEN_KEYS_ROTATED_AT",
                    reason: "must be an RFC 3339 time or Unix seconds".into(),
                })
        })
        .transpose()?;
    // Without a rotation time, older token keys verify nothing: their tokens get a 401 and the
    // client refreshes.
    let window = retired_token_key_window(refresh_every).as_secs() as i64;
    let verify_until = rotated_at.map_or(i64::MIN, |at| at.saturating_add(window));
    Ok(Keys::new(&tokens, &data, verify_until))
}

/// The ring `name` (`TOKEN_KEYS` or `DATA_KEYS`) as `vars` configure it, `SECRET_KEY` included
/// as key `k0`: what a rotation starts from.
pub fn configured_ring(
    vars: &HashMap<String, String>,
    name: &'static str,
) -> Result<Vec<(String, SecretString)>, ConfigError> {
    let get = |key: &'static str| vars.get(key).map(String::as_str).filter(|v| !v.is_empty());
    let first = get("SECRET_KEY").map(|s| SecretString::from(s.to_owned()));
    key_ring(&get, name, first.as_ref())
}

fn key_ring<'a>(
    get: &impl Fn(&'static str) -> Option<&'a str>,
    name: &'static str,
    first: Option<&SecretString>,
) -> Result<Vec<(String, SecretString)>, ConfigError> {
    let invalid = |reason: String| ConfigError::Invalid { name, reason };
    let mut ring: Vec<(String, SecretString)> = Vec::new();
    for entry in get(name)
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
    {
        // Messages name the key id at most, never the secret.
        let (id, secret) = entry
            .split_once(':')
            .ok_or_else(|| invalid("each key is id:secret (a key has no id)".into()))?;
        let id = id.trim();
        if id.is_empty()
            || id.len() > MAX_KEY_ID_LEN
            || !id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(invalid(format!(
                "key ids are 1 to {MAX_KEY_ID_LEN} letters, digits, - or _"
            )));
        }
        if secret.trim().len() < 32 {
            return Err(invalid(format!(
                "key {id} must be at least 32 characters of random text"
            )));
        }
        if ring.iter().any(|(known, _)| known == id) {
            return Err(invalid(format!("key id {id} appears twice")));
        }
        ring.push((id.to_owned(), SecretString::from(secret.trim().to_owned())));
    }
    if let Some(first) = first
        && !ring.iter().any(|(id, _)| id == FIRST_KEY_ID)
    {
        ring.push((FIRST_KEY_ID.to_owned(), first.clone()));
    }
    if ring.is_empty() {
        return Err(ConfigError::Missing(
            "SECRET_KEY (or TOKEN_KEYS and DATA_KEYS)",
        ));
    }
    Ok(ring)
}
