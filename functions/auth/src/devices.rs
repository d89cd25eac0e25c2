//! Devices that signed in before (OWASP's "device cookies"): a successful sign-in gives the
//! device a token for that account (`device_token`, kept by the frontend, sent with the next
//! sign-in). With it, the account's owner is never refused because of failures others caused:
//! only its own failures count against it ([`rate_limit::KNOWN_DEVICE`]). Sign-ins without a
//! known device share the account's limit ([`rate_limit::UNKNOWN_DEVICES`]) and the client
//! address's ([`rate_limit::OFFICE`]). So an attacker can slow down or stop guessing at an
//! account, but never keep its owner out.

use std::time::Duration;

use shared::auth::tokens;
use shared::db::rate_limit::{self, Limit};
use shared::error::ApiError;
use sqlx::PgConnection;
use uuid::Uuid;

/// How long a device stays known without signing in.
pub const DEVICE_TTL: Duration = Duration::from_secs(180 * 24 * 3600);

/// A device that signed in to the account before: its id and the token it sent.
#[derive(Clone, Debug)]
pub struct Known {
    pub id: Uuid,
    pub token: String,
}

/// The known device of `token` for the account of `email`, if the token is one and live.
pub async fn known(
    conn: &mut PgConnection,
    email: &str,
    token: Option<&str>,
) -> Result<Option<Known>, ApiError> {
    let Some(token) = token.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    let id = sqlx::query_scalar!(
        "SELECT d.id FROM trusted_devices d JOIN users u ON u.id = d.user_id
         WHERE d.token_hash = $1 AND lower(u.email) = $2 AND d.expires_at > now()",
        tokens::hash(token),
        email
    )
    .fetch_optional(conn)
    .await?;
    Ok(id.map(|id| Known {
        id,
        token: token.to_owned(),
    }))
}

/// The limits a sign-in of `email` from `ip` is held to: a known device's own, or the client
/// address's and the account's.
pub fn limits(action: &str, ip: &str, email: &str, device: Option<&Known>) -> Vec<(String, Limit)> {
    match device {
        Some(device) => vec![(
            format!("{action}:device:{}", device.id),
            rate_limit::KNOWN_DEVICE,
        )],
        None => vec![
            (format!("{action}:ip:{ip}"), rate_limit::OFFICE),
            (
                format!("{action}:account:{email}"),
                rate_limit::UNKNOWN_DEVICES,
            ),
        ],
    }
}

/// The device token to answer a sign-in of `user_id` with: the known device's (kept alive), or a
/// new one for this device.
pub async fn remember(
    conn: &mut PgConnection,
    user_id: Uuid,
    device: Option<&Known>,
) -> Result<String, ApiError> {
    let ttl = DEVICE_TTL.as_secs_f64();
    if let Some(device) = device {
        let touched = sqlx::query!(
            "UPDATE trusted_devices
             SET last_used_at = now(), expires_at = now() + make_interval(secs => $3)
             WHERE id = $1 AND user_id = $2",
            device.id,
            user_id,
            ttl
        )
        .execute(&mut *conn)
        .await?;
        if touched.rows_affected() == 1 {
            return Ok(device.token.clone());
        }
    }
    let (token, hash) = tokens::generate("dv");
    sqlx::query!(
        "INSERT INTO trusted_devices (user_id, token_hash, expires_at)
         VALUES ($1, $2, now() + make_interval(secs => $3))",
        user_id,
        hash,
        ttl
    )
    .execute(conn)
    .await?;
    Ok(token)
}
