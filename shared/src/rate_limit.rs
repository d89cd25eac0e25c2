//! Brute-force protection: at most `max` attempts per key in a sliding window, counted in
//! Postgres so the limit holds across Lambda execution environments.
//!
//! Every attempt is recorded, refused ones included, so hammering keeps a key blocked. Call it
//! before any expensive work (bcrypt), and outside the request's transaction so the attempt is
//! counted even when the request fails. The scheduler deletes old rows.

use sqlx::PgPool;

use crate::error::ApiError;

#[derive(Clone, Copy, Debug)]
pub struct Limit {
    pub max: i64,
    pub window_secs: i64,
}

/// The auth endpoints' limit: 5 attempts a minute per client IP and per account.
pub const AUTH: Limit = Limit {
    max: 5,
    window_secs: 60,
};

/// Records one attempt under each key; 429 with `Retry-After` when any key is over its limit.
pub async fn check(pool: &PgPool, limit: Limit, keys: &[String]) -> Result<(), ApiError> {
    let rows = sqlx::query!(
        r#"WITH keys AS (SELECT DISTINCT unnest($1::text[]) AS key),
                hit AS (INSERT INTO rate_limit_hits (key) SELECT key FROM keys)
           SELECT k.key AS "key!",
                  count(h.key) + 1 AS "attempts!",
                  ceil(extract(epoch FROM min(h.hit_at) + make_interval(secs => $2) - clock_timestamp()))::bigint AS retry_after
           FROM keys k
           LEFT JOIN rate_limit_hits h
                  ON h.key = k.key AND h.hit_at > clock_timestamp() - make_interval(secs => $2)
           GROUP BY k.key"#,
        keys,
        limit.window_secs as f64,
    )
    .fetch_all(pool)
    .await?;

    let retry_after = rows
        .iter()
        .filter(|r| r.attempts > limit.max)
        .map(|r| r.retry_after.unwrap_or(limit.window_secs).max(1))
        .max();
    match retry_after {
        Some(secs) => {
            tracing::warn!(keys = ?rows.iter().filter(|r| r.attempts > limit.max).map(|r| &r.key).collect::<Vec<_>>(), "rate limited");
            Err(ApiError::RateLimited {
                retry_after_secs: secs as u64,
            })
        }
        None => Ok(()),
    }
}
