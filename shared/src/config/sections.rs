//! The settings of each part of a function (database pool, HTTP layers, mail, Wise, exports),
//! each read from the flat settings map with its defaults.

use std::time::Duration;

use http::HeaderValue;
use secrecy::SecretString;

use super::error::ConfigError;

/// Dashboard exports: what fits in one Lambda response is answered inline; a larger one goes
/// to the export bucket and the answer is a short-lived link to it.
#[derive(Clone, Debug)]
pub struct ExportSettings {
    /// `EXPORT_BUCKET`: the S3 bucket for large exports (unset: a large export answers 413).
    pub bucket: Option<String>,
    /// `EXPORT_INLINE_MAX_BYTES`: the largest export answered inline. Lambda refuses responses
    /// over 6 MB, and a binary (XLSX) body travels base64-encoded (4/3 larger), so at most
    /// [`MAX_INLINE_EXPORT_BYTES`].
    pub inline_max_bytes: usize,
    /// `EXPORT_URL_TTL_SECONDS`: how long a download link works.
    pub url_ttl: Duration,
}

/// Storage: files tenants send straight to the files bucket.
#[derive(Clone, Debug)]
pub struct StorageSettings {
    /// `FILES_BUCKET`: the S3 bucket uploads go to (unset: uploads answer 503
    /// `storage_unavailable`, and products have no image links).
    pub bucket: Option<String>,
    /// `UPLOAD_MAX_BYTES`: the largest file (10 MB).
    pub max_file_bytes: i64,
    /// `STORAGE_QUOTA_BYTES`: what one organization may hold, pending uploads included (1 GB).
    pub quota_bytes: i64,
    /// `IMAGE_MAX_PIXELS`: the most pixels an image may have (100 megapixels): a larger one is
    /// refused when it is completed, before anything decodes it.
    pub max_image_pixels: u64,
}

impl StorageSettings {
    /// `FILES_BUCKET`, `UPLOAD_MAX_BYTES`, `STORAGE_QUOTA_BYTES`, `IMAGE_MAX_PIXELS`.
    pub(super) fn from_vars<'a>(
        get: &impl Fn(&'static str) -> Option<&'a str>,
    ) -> Result<Self, ConfigError> {
        let positive = |name: &'static str, default: i64| match parse_or(get(name), name, default)?
        {
            n if n > 0 => Ok(n),
            _ => Err(ConfigError::Invalid {
                name,
                reason: "a positive number of bytes".into(),
            }),
        };
        let max_file_bytes = positive("UPLOAD_MAX_BYTES", 10 * 1024 * 1024)?;
        let quota_bytes = positive("STORAGE_QUOTA_BYTES", 1024 * 1024 * 1024)?;
        let max_image_pixels =
            match parse_or(get("IMAGE_MAX_PIXELS"), "IMAGE_MAX_PIXELS", 100_000_000u64)? {
                n if n > 0 => n,
                _ => {
                    return Err(ConfigError::Invalid {
                        name: "IMAGE_MAX_PIXELS",
                        reason: "a positive number of pixels".into(),
                    });
                }
            };
        Ok(Self {
            bucket: get("FILES_BUCKET")
                .map(|b| b.trim().to_owned())
                .filter(|b| !b.is_empty()),
            max_file_bytes,
            quota_bytes,
            max_image_pixels,
        })
    }
}

/// The largest inline export Lambda's 6 MB response limit allows once base64-encoded, with
/// room for the headers.
pub const MAX_INLINE_EXPORT_BYTES: usize = 4_400_000;

/// Wise (supplier payouts). Each organization connects its own Wise account (its token is
/// sealed in the database), so the deployment holds only where Wise is and the key Wise signs
/// webhook deliveries with. Without the key, webhooks answer a 503 naming the setting, never a
/// failed cold start.
#[derive(Clone, Debug)]
pub struct WiseSettings {
    /// `WISE_API_URL` without a trailing slash: the sandbox unless set to the live API.
    pub api_url: String,
    /// `WISE_WEBHOOK_PUBLIC_KEY`: Wise's PEM public key that signs webhook deliveries (sandbox and
    /// live have different keys). `\n` escapes are accepted for one-line environments.
    pub webhook_public_key: Option<String>,
}

/// Tenants' webhook endpoints: where deliveries may go.
#[derive(Clone, Debug)]
pub struct WebhookSettings {
    /// `WEBHOOK_PORTS`: the ports an endpoint's URL may name besides https's own (443, 8443).
    pub ports: Vec<u16>,
    /// `WEBHOOK_ALLOW_LOCAL_TARGETS`: deliveries may go over http to loopback and private
    /// addresses. For a developer's machine and the tests only: the template never sets it,
    /// and without it a URL that names or resolves to such an address is refused.
    pub allow_local_targets: bool,
    /// `EVENTS_QUEUE_URL`: the SQS queue a committed write announces its organization on, for
    /// the dispatcher function (unset: no fast path; the scheduler's sweep sends everything).
    pub queue_url: Option<String>,
    /// `REALTIME_ENDPOINT`: the WebSocket API's management endpoint
    /// (`https://{api-id}.execute-api.{region}.amazonaws.com/{stage}`), where the dispatcher
    /// pushes events to connections (unset: nothing is pushed).
    pub realtime_endpoint: Option<String>,
}

impl WebhookSettings {
    pub(super) fn from_vars<'a>(
        get: &impl Fn(&'static str) -> Option<&'a str>,
    ) -> Result<Self, ConfigError> {
        let mut ports = vec![443, 8443];
        for port in get("WEBHOOK_PORTS").unwrap_or_default().split(',') {
            let port = port.trim();
            if port.is_empty() {
                continue;
            }
            match port.parse::<u16>() {
                Ok(port) if port > 0 => ports.push(port),
                _ => {
                    return Err(ConfigError::Invalid {
                        name: "WEBHOOK_PORTS",
                        reason: "must be a comma-separated list of port numbers".into(),
                    });
                }
            }
        }
        ports.sort_unstable();
        ports.dedup();
        let allow_local_targets = match get("WEBHOOK_ALLOW_LOCAL_TARGETS").map(str::trim) {
            None | Some("" | "false" | "0") => false,
            Some("true" | "1") => true,
            Some(_) => {
                return Err(ConfigError::Invalid {
                    name: "WEBHOOK_ALLOW_LOCAL_TARGETS",
                    reason: "must be true or false".into(),
                });
            }
        };
        let queue_url = get("EVENTS_QUEUE_URL")
            .map(str::trim)
            .filter(|url| !url.is_empty())
            .map(str::to_owned);
        let realtime_endpoint = get("REALTIME_ENDPOINT")
            .map(|url| url.trim().trim_end_matches('/'))
            .filter(|url| !url.is_empty())
            .map(str::to_owned);
        if let Some(url) = &realtime_endpoint
            && !(url.starts_with("https://") || url.starts_with("http://"))
        {
            return Err(ConfigError::Invalid {
                name: "REALTIME_ENDPOINT",
                reason: "must be the WebSocket API's https:// management endpoint".into(),
            });
        }
        Ok(Self {
            ports,
            allow_local_targets,
            queue_url,
            realtime_endpoint,
        })
    }
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

impl ExportSettings {
    /// `EXPORT_BUCKET`, `EXPORT_INLINE_MAX_BYTES`, `EXPORT_URL_TTL_SECONDS`.
    pub(super) fn from_vars<'a>(
        get: &impl Fn(&'static str) -> Option<&'a str>,
    ) -> Result<Self, ConfigError> {
        let inline_max_bytes = match parse_or(
            get("EXPORT_INLINE_MAX_BYTES"),
            "EXPORT_INLINE_MAX_BYTES",
            4_000_000usize,
        )? {
            bytes if bytes <= MAX_INLINE_EXPORT_BYTES => bytes,
            _ => {
                return Err(ConfigError::Invalid {
                    name: "EXPORT_INLINE_MAX_BYTES",
                    reason: format!(
                        "at most {MAX_INLINE_EXPORT_BYTES}: a larger response passes Lambda's \
                         6 MB limit once base64-encoded"
                    ),
                });
            }
        };
        let url_ttl = match parse_or(
            get("EXPORT_URL_TTL_SECONDS"),
            "EXPORT_URL_TTL_SECONDS",
            300u64,
        )? {
            secs @ 1..=3600 => Duration::from_secs(secs),
            _ => {
                return Err(ConfigError::Invalid {
                    name: "EXPORT_URL_TTL_SECONDS",
                    reason: "between 1 and 3600 seconds".into(),
                });
            }
        };
        Ok(Self {
            bucket: get("EXPORT_BUCKET").map(|b| b.trim().to_owned()),
            inline_max_bytes,
            url_ttl,
        })
    }
}

impl WiseSettings {
    /// `WISE_API_URL` (an http(s) URL, the sandbox by default), `WISE_WEBHOOK_PUBLIC_KEY`.
    pub(super) fn from_vars<'a>(
        get: &impl Fn(&'static str) -> Option<&'a str>,
    ) -> Result<Self, ConfigError> {
        let api_url = get("WISE_API_URL")
            .unwrap_or(WISE_SANDBOX_URL)
            .trim()
            .trim_end_matches('/')
            .to_owned();
        if !(api_url.starts_with("https://") || api_url.starts_with("http://")) {
            return Err(ConfigError::Invalid {
                name: "WISE_API_URL",
                reason: "must be an http(s):// URL such as https://api.wise.com".into(),
            });
        }
        for gone in ["WISE_API_TOKEN", "WISE_PROFILE_ID"] {
            if get(gone).is_some() {
                tracing::warn!(
                    setting = gone,
                    "this setting is no longer read: each organization connects its own Wise \
                     account (PUT /api/payments/wise); remove it from the settings"
                );
            }
        }
        Ok(Self {
            api_url,
            webhook_public_key: get("WISE_WEBHOOK_PUBLIC_KEY")
                .map(|pem| pem.replace("\\n", "\n").trim().to_owned()),
        })
    }
}

impl EmailSettings {
    /// `SMTP_URL`, `MAIL_FROM`.
    pub(super) fn from_vars<'a>(get: &impl Fn(&'static str) -> Option<&'a str>) -> Self {
        Self {
            smtp_url: get("SMTP_URL").map(|u| SecretString::from(u.to_owned())),
            from: get("MAIL_FROM")
                .unwrap_or("Stockroom <no-reply@localhost>")
                .to_owned(),
        }
    }
}

impl DbSettings {
    /// `DB_MAX_CONNECTIONS`, `DB_ACQUIRE_TIMEOUT_MS`, `DB_STATEMENT_TIMEOUT_MS`, the migration's
    /// timeouts and `DATABASE_CA_PEM`.
    pub(super) fn from_vars<'a>(
        get: &impl Fn(&'static str) -> Option<&'a str>,
    ) -> Result<Self, ConfigError> {
        let millis = |name: &'static str, default: u64| {
            parse_or(get(name), name, default).map(Duration::from_millis)
        };
        Ok(Self {
            max_connections: parse_or(get("DB_MAX_CONNECTIONS"), "DB_MAX_CONNECTIONS", 1)?,
            acquire_timeout: millis("DB_ACQUIRE_TIMEOUT_MS", 3_000)?,
            statement_timeout: millis("DB_STATEMENT_TIMEOUT_MS", 5_000)?,
            migrate_lock_timeout: millis("MIGRATE_LOCK_TIMEOUT_MS", 5_000)?,
            migrate_statement_timeout: millis("MIGRATE_STATEMENT_TIMEOUT_MS", 240_000)?,
            ca_pem: get("DATABASE_CA_PEM").map(|pem| pem.replace("\\n", "\n").trim().to_owned()),
        })
    }
}

/// The origins CORS allows when `CORS_ALLOWED_ORIGINS` is not set: a frontend's local dev
/// server (Next.js or Create React App on 3000, Vite on 5173), by name or by address.
pub const DEV_ORIGINS: &str =
    "http://localhost:3000,http://127.0.0.1:3000,http://localhost:5173,http://127.0.0.1:5173";

impl HttpSettings {
    /// `CORS_ALLOWED_ORIGINS` (comma-separated; by default [`DEV_ORIGINS`], the usual local
    /// dev servers), `MAX_BODY_BYTES`.
    pub(super) fn from_vars<'a>(
        get: &impl Fn(&'static str) -> Option<&'a str>,
    ) -> Result<Self, ConfigError> {
        let cors_origins = get("CORS_ALLOWED_ORIGINS")
            .unwrap_or(DEV_ORIGINS)
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
        Ok(Self {
            cors_origins,
            max_body_bytes: parse_or(get("MAX_BODY_BYTES"), "MAX_BODY_BYTES", 1024 * 1024)?,
        })
    }
}

/// `value` parsed, `default` when unset; an unreadable value names the setting.
pub(super) fn parse_or<T: std::str::FromStr>(
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
