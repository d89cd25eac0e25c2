//! The Postgres pool, sized for Lambda.
//!
//! An execution environment serves one request at a time, so the pool is small, connects lazily
//! (cold start does no database I/O) and gives up quickly: a database that is down turns into a
//! 503 within `DB_ACQUIRE_TIMEOUT_MS` instead of a hung invocation, and the pool reconnects by
//! itself once the database is back.

use std::str::FromStr;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgSslMode};

use crate::config::{ConfigError, Settings};

/// How to reach the database: `DATABASE_URL`, and with `DATABASE_CA_PEM` (the PEM text of the
/// certificate authorities to trust, e.g. an RDS regional bundle) TLS verified against them,
/// server name included (`sslmode=verify-full`). A URL's own `sslrootcert=<file>` works too.
pub fn connect_options(
    database_url: &SecretString,
    ca_pem: Option<&str>,
) -> Result<PgConnectOptions, ConfigError> {
    let options = PgConnectOptions::from_str(database_url.expose_secret()).map_err(|e| {
        ConfigError::Invalid {
            name: "DATABASE_URL",
            reason: redact(&e),
        }
    })?;
    Ok(match ca_pem {
        Some(pem) => options
            .ssl_root_cert_from_pem(pem.as_bytes().to_vec())
            .ssl_mode(PgSslMode::VerifyFull),
        None => options,
    })
}

/// Builds the lazy pool. Connections carry no startup options (RDS Proxy refuses them): the
/// statement limit is the login role's default in the database, which `migrate` sets from
/// `DB_STATEMENT_TIMEOUT_MS` and PostgreSQL applies at login, for no round trip.
pub fn pool(settings: &Settings) -> Result<PgPool, ConfigError> {
    let options = connect_options(&settings.database_url, settings.db.ca_pem.as_deref())?;
    Ok(pool_with(options, settings))
}

/// The pool [`pool`] builds, on connect `options` given directly (tests point it at their own
/// database): sized and timed by `settings` as in production.
pub fn pool_with(options: PgConnectOptions, settings: &Settings) -> PgPool {
    PgPoolOptions::new()
        .max_connections(settings.db.max_connections)
        .min_connections(0)
        .acquire_timeout(settings.db.acquire_timeout)
        // Frozen Lambda environments keep sockets the server may have closed; drop them early.
        .idle_timeout(Some(Duration::from_secs(60)))
        .connect_lazy_with(options.application_name(&application_name()))
}

/// `stockroom-<function>` so `pg_stat_activity` shows which function holds a connection.
fn application_name() -> String {
    let function = std::env::var("AWS_LAMBDA_FUNCTION_NAME")
        .ok()
        .or_else(|| {
            std::env::current_exe()
                .ok()?
                .file_stem()?
                .to_str()
                .map(str::to_owned)
        })
        .unwrap_or_default();
    format!("stockroom-{function}")
}

/// URL parse errors can quote the URL; keep only the kind of problem.
fn redact(error: &sqlx::Error) -> String {
    match error {
        sqlx::Error::Configuration(_) => "not a valid postgres:// URL".into(),
        other => other.to_string(),
    }
}
