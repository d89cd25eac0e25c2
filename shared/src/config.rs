//! Settings, read once per execution environment (cold start) and cached.
//!
//! Locally they come from the process environment (and `.env`). In Lambda, `SETTINGS_SECRET_ID`
//! names the Secrets Manager secrets (comma-separated) whose JSON objects (same keys as the
//! environment variables) are laid over the environment in that order, so secrets never sit in
//! plain Lambda configuration.

use std::collections::HashMap;
use std::time::Duration;

use http::HeaderValue;
use secrecy::SecretString;
use tokio::sync::OnceCell;

use crate::crypto::Keys;

/// Everything a function needs to know about its surroundings.
#[derive(Clone, Debug)]
pub struct Settings {
    pub database_url: SecretString,
    /// `TENANT_DATABASE_URL`: how the functions that serve only tenant requests log in (as
    /// `stockroom_api`, which can do nothing but enter a tenant); `DATABASE_URL` when unset.
    pub tenant_database_url: Option<SecretString>,
    /// `AUTH_DATABASE_URL`: how the auth function logs in (as `stockroom_auth`, which reaches
    /// the credential tables only); `DATABASE_URL` when unset.
    pub auth_database_url: Option<SecretString>,
    /// `WORKER_DATABASE_URL`: how the scheduler and the webhooks log in (as `stockroom_worker`,
    /// which acts for one organization at a time); `DATABASE_URL` when unset.
    pub worker_database_url: Option<SecretString>,
    /// `MIGRATE_DATABASE_URL`: how `migrate` reaches the database, as the tables' owner and
    /// directly (its migration lock is a session-level advisory lock, which a transaction
    /// pooler cannot carry); `DATABASE_URL` when unset.
    pub migrate_database_url: Option<SecretString>,
    pub db: DbSettings,
    pub http: HttpSettings,
    /// Derived from `SECRET_KEY`: the JWT signing key and the data-encryption key.
    pub keys: Keys,
    pub email: EmailSettings,
    /// The frontend's base URL, for links in emails (`APP_URL`).
    pub app_url: String,
    pub wise: WiseSettings,
    /// `REFRESH_REUSE_GRACE_SECONDS`: a refresh token presented again this soon after its
    /// rotation gets the same successor pair instead of revoking the family (0: never).
    pub refresh_reuse_grace: Duration,
}

/// Wise (supplier payouts). Payments need the token and the profile; webhooks need the public
/// key. Whatever is missing turns the matching endpoint into a 503 naming the setting, never a
/// failed cold start: a deployment without Wise runs the rest of the API.
#[derive(Clone, Debug)]
pub struct WiseSettings {
    /// `WISE_API_URL` without a trailing slash: the sandbox unless set to the live API.
    pub api_url: String,
    /// `WISE_API_TOKEN`: an API token of the paying Wise account (secret).
    pub api_token: Option<SecretString>,
    /// `WISE_PROFILE_ID`: the business profile that pays.
    pub profile_id: Option<i64>,
    /// `WISE_WEBHOOK_PUBLIC_KEY`: Wise's PEM public key that signs webhook deliveries (sandbox and
    /// live have different keys). `\n` escapes are accepted for one-line environments.
    pub webhook_public_key: Option<String>,
}

/// Wise's sandbox; the live API is `https://api.wise.com`.
pub const WISE_SANDBOX_URL: &str = "https://api.sandbox.transferwise.tech";

/// Outgoing email.
#[derive(Clone, Debug)]
pub struct EmailSettings {
    pub smtp_url: Option<SecretString>,
    pub from: String,
}

/// Pool sizing for Lambda: one request at a time per execution environment.
#[derive(Clone, Debug)]
pub struct DbSettings {
    pub max_connections: u32,
    pub acquire_timeout: Duration,
    pub statement_timeout: Duration,
    /// `MIGRATE_LOCK_TIMEOUT_MS`: how long a migration waits for a lock (a busy table, another
    /// run's migration lock) before it fails, instead of queueing every request behind it.
    pub migrate_lock_timeout: Duration,
    /// `MIGRATE_STATEMENT_TIMEOUT_MS`: the limit per statement while migrating.
    pub migrate_statement_timeout: Duration,
    /// `DATABASE_CA_PEM`: certificate authorities (PEM) the database's certificate must chain
    /// to; set, connections use TLS with `verify-full`. `\n` escapes are accepted.
    pub ca_pem: Option<String>,
}

/// What the shared HTTP layers need.
#[derive(Clone, Debug)]
pub struct HttpSettings {
    pub cors_origins: Vec<HeaderValue>,
    pub max_body_bytes: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("setting {0} is required")]
    Missing(&'static str),
    #[error("setting {name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
    #[error("could not read the settings secret {id}: {reason}")]
    Secret { id: String, reason: String },
}

static SETTINGS: OnceCell<Settings> = OnceCell::const_new();

/// The settings of this execution environment: loaded on first call (reading `.env`, the
/// environment and, when configured, the Secrets Manager secret), then served from memory.
pub async fn settings() -> Result<&'static Settings, ConfigError> {
    SETTINGS
        .get_or_try_init(|| async {
            // A missing `.env` is normal (Lambda, CI); variables already set win over it.
            if let Err(error) = dotenvy::dotenv()
                && !error.not_found()
            {
                tracing::warn!(%error, "could not read .env; using the environment only");
            }
            Settings::load(std::env::vars().collect()).await
        })
        .await
}

impl Settings {
    /// Resolves settings from `vars`, overlaid with the secrets named by `SETTINGS_SECRET_ID`:
    /// one id or several, comma-separated, each laid over the ones before it (the template
    /// names the generated keys, then the database credentials, then the settings an operator
    /// adds by hand).
    pub async fn load(mut vars: HashMap<String, String>) -> Result<Self, ConfigError> {
        if let Some(list) = vars.get("SETTINGS_SECRET_ID").cloned() {
            let ids: Vec<&str> = list
                .split(',')
                .map(str::trim)
                .filter(|id| !id.is_empty())
                .collect();
            if !ids.is_empty() {
                for secret in crate::secrets::fetch_all(&ids).await? {
                    vars.extend(secret);
                }
            }
        }
        Self::from_vars(&vars)
    }

    /// Parses settings from a flat key/value map, applying defaults.
    pub fn from_vars(vars: &HashMap<String, String>) -> Result<Self, ConfigError> {
        let get = |name: &'static str| vars.get(name).map(String::as_str).filter(|v| !v.is_empty());
        let database_url = get("DATABASE_URL").ok_or(ConfigError::Missing("DATABASE_URL"))?;

        let cors_origins = get("CORS_ALLOWED_ORIGINS")
            .unwrap_or("http://localhost:3000")
            .split(',')
            .map(str::trim)
            .filter(|o| !o.is_empty())
            .map(|o| {
                HeaderValue::from_str(o).map_err(|e| ConfigError::Invalid {
                    name: "CORS_ALLOWED_ORIGINS",
                    reason: e.to_string(),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;

        let secret_key = get("SECRET_KEY").ok_or(ConfigError::Missing("SECRET_KEY"))?;
        if secret_key.len() < 32 {
            return Err(ConfigError::Invalid {
                name: "SECRET_KEY",
                reason: "must be at least 32 characters of random text".into(),
            });
        }

        let wise_api_url = get("WISE_API_URL")
            .unwrap_or(WISE_SANDBOX_URL)
            .trim()
            .trim_end_matches('/')
            .to_owned();
        if !(wise_api_url.starts_with("https://") || wise_api_url.starts_with("http://")) {
            return Err(ConfigError::Invalid {
                name: "WISE_API_URL",
                reason: "must be an http(s):// URL such as https://api.wise.com".into(),
            });
        }
        let wise_profile_id = get("WISE_PROFILE_ID")
            .map(|v| match v.trim().parse::<i64>() {
                Ok(id) if id > 0 => Ok(id),
                _ => Err(ConfigError::Invalid {
                    name: "WISE_PROFILE_ID",
                    reason: "must be the numeric id of a Wise profile".into(),
                }),
            })
            .transpose()?;

        Ok(Self {
            wise: WiseSettings {
                api_url: wise_api_url,
                api_token: get("WISE_API_TOKEN").map(|t| SecretString::from(t.trim().to_owned())),
                profile_id: wise_profile_id,
                webhook_public_key: get("WISE_WEBHOOK_PUBLIC_KEY")
                    .map(|pem| pem.replace("\\n", "\n").trim().to_owned()),
            },
            keys: Keys::derive(&SecretString::from(secret_key.to_owned())),
            email: EmailSettings {
                smtp_url: get("SMTP_URL").map(|u| SecretString::from(u.to_owned())),
                from: get("MAIL_FROM")
                    .unwrap_or("Stockroom <no-reply@localhost>")
                    .to_owned(),
            },
            app_url: get("APP_URL")
                .unwrap_or("http://localhost:3000")
                .trim_end_matches('/')
                .to_owned(),
            refresh_reuse_grace: Duration::from_secs(parse_or(
                get("REFRESH_REUSE_GRACE_SECONDS"),
                "REFRESH_REUSE_GRACE_SECONDS",
                10,
            )?),
            database_url: SecretString::from(database_url.to_owned()),
            tenant_database_url: get("TENANT_DATABASE_URL")
                .map(|v| SecretString::from(v.to_owned())),
            auth_database_url: get("AUTH_DATABASE_URL").map(|v| SecretString::from(v.to_owned())),
            worker_database_url: get("WORKER_DATABASE_URL")
                .map(|v| SecretString::from(v.to_owned())),
            migrate_database_url: get("MIGRATE_DATABASE_URL")
                .map(|v| SecretString::from(v.to_owned())),
            db: DbSettings {
                max_connections: parse_or(get("DB_MAX_CONNECTIONS"), "DB_MAX_CONNECTIONS", 1)?,
                acquire_timeout: Duration::from_millis(parse_or(
                    get("DB_ACQUIRE_TIMEOUT_MS"),
                    "DB_ACQUIRE_TIMEOUT_MS",
                    3_000,
                )?),
                statement_timeout: Duration::from_millis(parse_or(
                    get("DB_STATEMENT_TIMEOUT_MS"),
                    "DB_STATEMENT_TIMEOUT_MS",
                    5_000,
                )?),
                migrate_lock_timeout: Duration::from_millis(parse_or(
                    get("MIGRATE_LOCK_TIMEOUT_MS"),
                    "MIGRATE_LOCK_TIMEOUT_MS",
                    5_000,
                )?),
                migrate_statement_timeout: Duration::from_millis(parse_or(
                    get("MIGRATE_STATEMENT_TIMEOUT_MS"),
                    "MIGRATE_STATEMENT_TIMEOUT_MS",
                    240_000,
                )?),
                ca_pem: get("DATABASE_CA_PEM")
                    .map(|pem| pem.replace("\\n", "\n").trim().to_owned()),
            },
            http: HttpSettings {
                cors_origins,
                max_body_bytes: parse_or(get("MAX_BODY_BYTES"), "MAX_BODY_BYTES", 1024 * 1024)?,
            },
        })
    }
}

fn parse_or<T: std::str::FromStr>(
    value: Option<&str>,
    name: &'static str,
    default: T,
) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    match value {
        None => Ok(default),
        Some(v) => v.trim().parse().map_err(|e: T::Err| ConfigError::Invalid {
            name,
            reason: e.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    const KEY: &str = "0123456789abcdef0123456789abcdef";

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        let mut map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        map.entry("SECRET_KEY".into()).or_insert_with(|| KEY.into());
        map
    }

    #[test]
    fn defaults_apply_when_only_the_database_url_is_set() {
        let s = Settings::from_vars(&vars(&[("DATABASE_URL", "postgres://x/y")])).unwrap();
        assert_eq!(s.database_url.expose_secret(), "postgres://x/y");
        assert_eq!(s.db.max_connections, 1);
        assert_eq!(
            s.http.cors_origins,
            vec![HeaderValue::from_static("http://localhost:3000")]
        );
        assert_eq!(s.http.max_body_bytes, 1024 * 1024);
        assert_eq!(s.refresh_reuse_grace, Duration::from_secs(10));
    }

    #[test]
    fn missing_database_url_is_reported_by_name() {
        let err = Settings::from_vars(&vars(&[])).unwrap_err();
        assert_eq!(err.to_string(), "setting DATABASE_URL is required");
    }

    #[test]
    fn invalid_numbers_name_the_setting() {
        let err = Settings::from_vars(&vars(&[
            ("DATABASE_URL", "x"),
            ("DB_MAX_CONNECTIONS", "two"),
        ]))
        .unwrap_err();
        assert!(err.to_string().contains("DB_MAX_CONNECTIONS"), "{err}");
        let err = Settings::from_vars(&vars(&[
            ("DATABASE_URL", "x"),
            ("REFRESH_REUSE_GRACE_SECONDS", "-1"),
        ]))
        .unwrap_err();
        assert!(
            err.to_string().contains("REFRESH_REUSE_GRACE_SECONDS"),
            "{err}"
        );
    }

    #[test]
    fn cors_origins_are_a_comma_separated_list() {
        let s = Settings::from_vars(&vars(&[
            ("DATABASE_URL", "x"),
            (
                "CORS_ALLOWED_ORIGINS",
                "https://a.example, https://b.example",
            ),
        ]))
        .unwrap();
        assert_eq!(s.http.cors_origins.len(), 2);
        assert_eq!(s.http.cors_origins[1], "https://b.example");
    }

    #[test]
    fn a_short_secret_key_is_refused() {
        let err = Settings::from_vars(&vars(&[("DATABASE_URL", "x"), ("SECRET_KEY", "short")]))
            .unwrap_err();
        assert!(err.to_string().contains("SECRET_KEY"), "{err}");
    }

    #[test]
    fn wise_defaults_to_the_sandbox_and_stays_unconfigured() {
        let s = Settings::from_vars(&vars(&[("DATABASE_URL", "x")])).unwrap();
        assert_eq!(s.wise.api_url, WISE_SANDBOX_URL);
        assert!(s.wise.api_token.is_none() && s.wise.profile_id.is_none());
        assert!(s.wise.webhook_public_key.is_none());
    }

    #[test]
    fn wise_settings_are_parsed() {
        let s = Settings::from_vars(&vars(&[
            ("DATABASE_URL", "x"),
            ("WISE_API_URL", "https://api.wise.com/"),
            ("WISE_API_TOKEN", "tok-123"),
            ("WISE_PROFILE_ID", "4242"),
            (
                "WISE_WEBHOOK_PUBLIC_KEY",
                "-----BEGIN PUBLIC KEY-----\\nAAAA\\n-----END PUBLIC KEY-----",
            ),
        ]))
        .unwrap();
        assert_eq!(s.wise.api_url, "https://api.wise.com");
        assert_eq!(s.wise.profile_id, Some(4242));
        assert_eq!(
            s.wise.api_token.as_ref().unwrap().expose_secret(),
            "tok-123"
        );
        assert_eq!(
            s.wise.webhook_public_key.as_deref(),
            Some("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----")
        );
        assert!(!format!("{s:?}").contains("tok-123"));
    }

    #[test]
    fn invalid_wise_settings_name_the_setting() {
        for (name, value) in [
            ("WISE_PROFILE_ID", "abc"),
            ("WISE_PROFILE_ID", "-1"),
            ("WISE_API_URL", "api.wise.com"),
        ] {
            let err =
                Settings::from_vars(&vars(&[("DATABASE_URL", "x"), (name, value)])).unwrap_err();
            assert!(err.to_string().contains(name), "{err}");
        }
    }

    #[test]
    fn debug_output_never_shows_the_database_url() {
        let s =
            Settings::from_vars(&vars(&[("DATABASE_URL", "postgres://u:hunter2@h/d")])).unwrap();
        assert!(!format!("{s:?}").contains("hunter2"));
    }
}
