//! Brute-force protection: at most `max` hits per key in a sliding window, counted in Postgres
//! so the limit holds across Lambda execution environments.
//!
//! Two ways to count. Sign-ins count only failures ([`blocked`] before the work, [`record`]
//! after a wrong proof): a shop's staff signing in from one address at opening time are not
//! brute force. Requests whose every use is costly (registering, emailing a reset link) count
//! every attempt ([`check`]). Either way the check comes before any expensive work (bcrypt), and
//! hits are written outside the request's transaction so they stay counted when it fails. The
//! scheduler deletes old rows.

use sqlx::{PgExecutor, PgPool};

use crate::error::ApiError;

#[derive(Clone, Copy, Debug)]
pub struct Limit {
    pub max: i64,
    pub window_secs: i64,
}

impl Limit {
    /// At most `max` hits in any `window_secs` seconds.
    pub const fn per(max: i64, window_secs: i64) -> Self {
        Self { max, window_secs }
    }
}

/// The auth endpoints' limit: 5 attempts a minute per client IP and per account.
pub const AUTH: Limit = Limit::per(5, 60);

/// A limit per client address sized for an office of 20 people behind one address (a shop's
/// router): 60 in 10 minutes is three each, typos and retries included.
pub const OFFICE: Limit = Limit::per(60, 600);

/// Failed sign-ins to one account from devices it does not know: 10 an hour, so at most 240
/// guesses a day, however many addresses they come from. The account's owner on a device that
/// signed in before is never held to it.
pub const UNKNOWN_DEVICES: Limit = Limit::per(10, 3600);

/// Failed sign-ins with one known device's token: 5 in 15 minutes (a stolen device token does
/// not buy more guesses than that).
pub const KNOWN_DEVICE: Limit = Limit::per(5, 900);

/// 429 with `Retry-After` when any key already has `max` hits in the window; records nothing.
/// Reads only, so it may run on the request's own connection or transaction.
pub async fn blocked<'c>(
    db: impl PgExecutor<'c>,
    limit: Limit,
    keys: &[String],
) -> Result<(), ApiError> {
    refuse_over(db, limit, keys, limit.max - 1).await
}

/// Records one hit under each key (a failed sign-in).
pub async fn record(pool: &PgPool, keys: &[String]) -> Result<(), ApiError> {
    sqlx::query!(
        "INSERT INTO rate_limit_hits (key) SELECT DISTINCT unnest($1::text[])",
        keys
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// Records one attempt under each key; 429 with `Retry-After` when any key is over its limit.
pub async fn check(pool: &PgPool, limit: Limit, keys: &[String]) -> Result<(), ApiError> {
    record(pool, keys).await?;
    over(pool, limit, keys).await
}

/// 429 with `Retry-After` when any key has more than `limit.max` hits (those just recorded
/// included); records nothing.
pub async fn over<'c>(
    db: impl PgExecutor<'c>,
    limit: Limit,
    keys: &[String],
) -> Result<(), ApiError> {
    refuse_over(db, limit, keys, limit.max).await
}

/// 429 when a key has more than `allowed` hits in the window.
async fn refuse_over<'c>(
    db: impl PgExecutor<'c>,
    limit: Limit,
    keys: &[String],
    allowed: i64,
) -> Result<(), ApiError> {
    let over = sqlx::query!(
        r#"SELECT h.key AS "key!",
                  ceil(extract(epoch FROM min(h.hit_at) + make_interval(secs => $2) - clock_timestamp()))::bigint AS retry_after
           FROM rate_limit_hits h
           WHERE h.key = ANY($1) AND h.hit_at > clock_timestamp() - make_interval(secs => $2)
           GROUP BY h.key
           HAVING count(*) > $3"#,
        keys,
        limit.window_secs as f64,
        allowed
    )
    .fetch_all(db)
    .await?;
    let retry_after = over
        .iter()
        .map(|r| r.retry_after.unwrap_or(limit.window_secs).max(1))
        .max();
    match retry_after {
        Some(secs) => {
            tracing::warn!(keys = ?over.iter().map(|r| &r.key).collect::<Vec<_>>(), "rate limited");
            Err(ApiError::RateLimited {
                retry_after_secs: secs as u64,
            })
        }
        None => Ok(()),
    }
}
