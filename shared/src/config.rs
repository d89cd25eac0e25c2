//! Settings, read once per execution environment (cold start) and cached.
//!
//! Locally they come from the process environment (and `.env`). In Lambda, `SETTINGS_SECRET_ID`
//! names the Secrets Manager secrets (comma-separated) whose JSON objects (same keys as the
//! environment variables) are laid over the environment in that order, so secrets never sit in
//! plain Lambda configuration.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use http::HeaderValue;
use secrecy::SecretString;
use tokio::sync::OnceCell;

use crate::crypto::{FIRST_KEY_ID, Keys, MAX_KEY_ID_LEN, OpenError};

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
    /// The function login roles' user and password from their database secrets
    /// (`TENANT_`, `AUTH_`, `WORKER_DATABASE_SECRET_ID`): `migrate` gives each role its password.
    pub login_passwords: Vec<(String, SecretString)>,
    pub db: DbSettings,
    pub http: HttpSettings,
    /// The token-signing and data-encryption keys (`TOKEN_KEYS`, `DATA_KEYS`, `SECRET_KEY`),
    /// replaced when the secrets are read again.
    pub keys: LiveKeys,
    pub email: EmailSettings,
    /// The frontend's base URL, for links in emails (`APP_URL`).
    pub app_url: String,
    pub wise: WiseSettings,
    /// `REFRESH_REUSE_GRACE_SECONDS`: a refresh token presented again this soon after its
    /// rotation gets the same successor pair instead of revoking the family (0: never).
    pub refresh_reuse_grace: Duration,
    /// `SETTINGS_REFRESH_SECONDS`: how often a warm function reads its secrets again (keys,
    /// database credentials); 0 only when something names a key it lacks or a login is refused.
    pub refresh_every: Duration,
    pub exports: ExportSettings,
    /// `ADMIN_COOLING_OFF_HOURS`: how long a member made an owner or admin by someone else
    /// (invited or promoted) waits before approving payments, changing bank details or the
    /// approval threshold (72; every owner is mailed when it happens).
    pub admin_cooling_off: Duration,
    /// `INVITATIONS_PER_HOUR`: how many invitations an organization may send in an hour (20).
    pub invitations_per_hour: i64,
}

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

impl From<crate::secrets::SecretError> for ConfigError {
    fn from(error: crate::secrets::SecretError) -> Self {
        Self::Secret {
            id: error.id,
            reason: error.reason,
        }
    }
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
    /// adds by hand). With secrets, the settings can read them again ([`SecretSource`]).
    pub async fn load(vars: HashMap<String, String>) -> Result<Self, ConfigError> {
        let ids: Vec<String> = vars
            .get("SETTINGS_SECRET_ID")
            .map(|list| {
                list.split(',')
                    .map(str::trim)
                    .filter(|id| !id.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        if ids.is_empty() && !has_database_secrets(&vars) {
            return Self::from_vars(&vars);
        }
        let mut settings = SecretSource::read(&vars, &ids).await?;
        let source = Arc::new(SecretSource {
            base: vars,
            ids,
            every: settings.refresh_every,
            reads: tokio::sync::Mutex::new(Reads {
                last: Instant::now(),
                forced: None,
            }),
            last_read_ms: std::sync::atomic::AtomicU64::new(0),
            created: Instant::now(),
            ring: settings.keys.ring.clone(),
            listeners: std::sync::Mutex::new(Vec::new()),
        });
        settings.keys.source = Some(source);
        Ok(settings)
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

        let refresh_every = Duration::from_secs(parse_or(
            get("SETTINGS_REFRESH_SECONDS"),
            "SETTINGS_REFRESH_SECONDS",
            300,
        )?);
        let keys = key_rings(&get, refresh_every)?;

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
            wise: WiseSettings {
                api_url: wise_api_url,
                webhook_public_key: get("WISE_WEBHOOK_PUBLIC_KEY")
                    .map(|pem| pem.replace("\\n", "\n").trim().to_owned()),
            },
            keys: LiveKeys::fixed(keys),
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
            refresh_every,
            admin_cooling_off: Duration::from_secs(
                3600 * parse_or(
                    get("ADMIN_COOLING_OFF_HOURS"),
                    "ADMIN_COOLING_OFF_HOURS",
                    72u64,
                )?,
            ),
            invitations_per_hour: parse_or(
                get("INVITATIONS_PER_HOUR"),
                "INVITATIONS_PER_HOUR",
                20i64,
            )?,
            exports: ExportSettings {
                bucket: get("EXPORT_BUCKET").map(|b| b.trim().to_owned()),
                inline_max_bytes: match parse_or(
                    get("EXPORT_INLINE_MAX_BYTES"),
                    "EXPORT_INLINE_MAX_BYTES",
                    4_000_000usize,
                )? {
                    bytes if bytes <= MAX_INLINE_EXPORT_BYTES => bytes,
                    _ => {
                        return Err(ConfigError::Invalid {
                            name: "EXPORT_INLINE_MAX_BYTES",
                            reason: format!(
                                "at most {MAX_INLINE_EXPORT_BYTES}: a larger response passes \
                                 Lambda's 6 MB limit once base64-encoded"
                            ),
                        });
                    }
                },
                url_ttl: match parse_or(
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
                },
            },
            database_url: SecretString::from(database_url.to_owned()),
            tenant_database_url: get("TENANT_DATABASE_URL")
                .map(|v| SecretString::from(v.to_owned())),
            auth_database_url: get("AUTH_DATABASE_URL").map(|v| SecretString::from(v.to_owned())),
            worker_database_url: get("WORKER_DATABASE_URL")
                .map(|v| SecretString::from(v.to_owned())),
            migrate_database_url: get("MIGRATE_DATABASE_URL")
                .map(|v| SecretString::from(v.to_owned())),
            login_passwords: ["TENANT_", "AUTH_", "WORKER_"]
                .iter()
                .filter_map(|prefix| {
                    let user = vars.get(&format!("{prefix}DATABASE_USER"))?;
                    let password = vars.get(&format!("{prefix}DATABASE_PASSWORD"))?;
                    Some((user.clone(), SecretString::from(password.clone())))
                })
                .collect(),
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

/// How long after a rotation tokens signed by the previous token key still verify: an access
/// token's lifetime, plus the time a warm function may take to read the new keys (it signs
/// with the old key until then), plus a minute of clock skew.
pub fn retired_token_key_window(refresh_every: Duration) -> Duration {
    crate::auth::jwt::ACCESS_TOKEN_TTL + refresh_every + Duration::from_secs(60)
}

/// The two key rings: `TOKEN_KEYS` and `DATA_KEYS` (`id:secret` pairs, comma-separated, newest
/// first), each followed by `SECRET_KEY` as key `k0` when that is set and not listed; older
/// token keys verify until `TOKEN_KEYS_ROTATED_AT` plus [`retired_token_key_window`].
fn key_rings<'a>(
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

/// The keys of a function, which the secrets may replace while it stays warm.
#[derive(Clone)]
pub struct LiveKeys {
    ring: Arc<RwLock<Arc<Keys>>>,
    source: Option<Arc<SecretSource>>,
}

impl std::fmt::Debug for LiveKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.snapshot().fmt(f)
    }
}

impl LiveKeys {
    /// Keys that are never read again (settings from the environment only).
    pub fn fixed(keys: Keys) -> Self {
        Self {
            ring: Arc::new(RwLock::new(Arc::new(keys))),
            source: None,
        }
    }

    /// The keys now, reading nothing.
    pub fn snapshot(&self) -> Arc<Keys> {
        match self.ring.read() {
            Ok(ring) => ring.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The keys, after reading the secrets again if `SETTINGS_REFRESH_SECONDS` have passed
    /// since they were last read.
    pub async fn current(&self) -> Arc<Keys> {
        if let Some(source) = &self.source {
            source.refresh(false).await;
        }
        self.snapshot()
    }

    /// The keys, after reading the secrets again because something named a key this function
    /// lacks (another function read a rotation first). Reads at most once per
    /// [`FORCED_READ_EVERY`], so made-up key ids cannot flood Secrets Manager.
    pub async fn reread(&self) -> Arc<Keys> {
        if let Some(source) = &self.source {
            source.refresh(true).await;
        }
        self.snapshot()
    }

    /// Opens a sealed value with whichever key sealed it, reading the keys again when it is
    /// one this function does not know yet.
    pub async fn open(&self, sealed: &[u8], owner: &[u8]) -> Result<Vec<u8>, OpenError> {
        match self.current().await.open(sealed, owner) {
            Err(OpenError::UnknownKey(_)) if self.source.is_some() => {
                self.reread().await.open(sealed, owner)
            }
            other => other,
        }
    }

    /// The secrets these keys come from, when they come from Secrets Manager.
    pub fn source(&self) -> Option<&Arc<SecretSource>> {
        self.source.as_ref()
    }
}

/// When the secrets were last read, and last read because something was unknown.
struct Reads {
    last: Instant,
    forced: Option<Instant>,
}

/// The logins whose credentials may come from a secret of RDS's shape
/// (`{"username", "password", "host"?, "port"?, "dbname"?}`), named by `<prefix>DATABASE_SECRET_ID`:
/// the one `DATABASE_URL` falls back to, then each function's.
pub const LOGIN_PREFIXES: [&str; 5] = ["", "TENANT_", "AUTH_", "WORKER_", "MIGRATE_"];

fn has_database_secrets(vars: &HashMap<String, String>) -> bool {
    LOGIN_PREFIXES.iter().any(|prefix| {
        vars.get(&format!("{prefix}DATABASE_SECRET_ID"))
            .is_some_and(|id| !id.trim().is_empty())
    })
}

/// Turns each `<prefix>DATABASE_SECRET_ID` into `<prefix>DATABASE_URL` (and keeps the login's
/// user and password as `<prefix>DATABASE_USER`/`_PASSWORD` for `migrate`, which gives the
/// roles those passwords). The host is the secret's, else `<prefix>DATABASE_HOST`, else
/// `DATABASE_HOST` (RDS Proxy's endpoint); the port and database likewise, 5432 and
/// `DATABASE_NAME` by default; `DATABASE_SSLMODE` (`require` by default) is the TLS mode.
async fn database_logins(vars: &mut HashMap<String, String>) -> Result<(), ConfigError> {
    let wanted: Vec<(&str, String)> = LOGIN_PREFIXES
        .iter()
        .filter_map(|prefix| {
            let id = vars.get(&format!("{prefix}DATABASE_SECRET_ID"))?.trim();
            (!id.is_empty()).then(|| (*prefix, id.to_owned()))
        })
        .collect();
    if wanted.is_empty() {
        return Ok(());
    }
    let ids: Vec<&str> = wanted.iter().map(|(_, id)| id.as_str()).collect();
    let secrets = crate::secrets::fetch_all(&ids).await?;
    for ((prefix, id), secret) in wanted.iter().zip(secrets) {
        let login = login_from_secret(prefix, id, &secret, vars)?;
        // A function given only its own login's secret falls back to that login.
        if vars.get("DATABASE_URL").is_none_or(|url| url.is_empty()) {
            vars.insert("DATABASE_URL".into(), login.url.clone());
        }
        vars.insert(format!("{prefix}DATABASE_URL"), login.url);
        vars.insert(format!("{prefix}DATABASE_USER"), login.user);
        vars.insert(format!("{prefix}DATABASE_PASSWORD"), login.password);
    }
    Ok(())
}

struct SecretLogin {
    url: String,
    user: String,
    password: String,
}

fn login_from_secret(
    prefix: &str,
    id: &str,
    secret: &HashMap<String, String>,
    vars: &HashMap<String, String>,
) -> Result<SecretLogin, ConfigError> {
    let field = |name: &str| {
        secret
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    };
    let setting = |name: &str| {
        vars.get(&format!("{prefix}{name}"))
            .or_else(|| vars.get(name))
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    };
    let missing = |what: &str| ConfigError::Secret {
        id: id.to_owned(),
        reason: format!("a database secret needs {what}"),
    };
    let user = field("username").ok_or_else(|| missing("a username"))?;
    let password = field("password").ok_or_else(|| missing("a password"))?;
    let host = field("host")
        .or_else(|| setting("DATABASE_HOST"))
        .ok_or_else(|| missing("a host (or DATABASE_HOST)"))?;
    let port = field("port")
        .or_else(|| setting("DATABASE_PORT"))
        .unwrap_or("5432");
    let database = field("dbname")
        .or_else(|| setting("DATABASE_NAME"))
        .unwrap_or("stockroom");
    let sslmode = setting("DATABASE_SSLMODE").unwrap_or("require");
    Ok(SecretLogin {
        url: format!(
            "postgres://{}:{}@{host}:{port}/{}?sslmode={}",
            url_encode(user),
            url_encode(password),
            url_encode(database),
            url_encode(sslmode)
        ),
        user: user.to_owned(),
        password: password.to_owned(),
    })
}

/// Percent-encodes all but RFC 3986's unreserved characters.
fn url_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The least time between two reads of the secrets that something unknown asked for.
pub const FORCED_READ_EVERY: Duration = Duration::from_secs(10);

type Listener = Box<dyn Fn(&Settings) + Send + Sync>;

/// Where settings came from when Secrets Manager holds them: the environment and the secret
/// ids, read again every `SETTINGS_REFRESH_SECONDS` and whenever a key id is unknown or the
/// database refuses a password, so a rotation reaches warm functions without a cold start.
pub struct SecretSource {
    base: HashMap<String, String>,
    ids: Vec<String>,
    every: Duration,
    reads: tokio::sync::Mutex<Reads>,
    /// When the secrets were last read, in ms since `created`: checked without the lock.
    last_read_ms: std::sync::atomic::AtomicU64,
    created: Instant,
    ring: Arc<RwLock<Arc<Keys>>>,
    listeners: std::sync::Mutex<Vec<Listener>>,
}

impl SecretSource {
    async fn read(base: &HashMap<String, String>, ids: &[String]) -> Result<Settings, ConfigError> {
        let mut vars = base.clone();
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        if !ids.is_empty() {
            for secret in crate::secrets::fetch_all(&ids).await? {
                vars.extend(secret);
            }
        }
        database_logins(&mut vars).await?;
        Settings::from_vars(&vars)
    }

    fn since_last_read(&self) -> Duration {
        let last = self.last_read_ms.load(std::sync::atomic::Ordering::Relaxed);
        self.created
            .elapsed()
            .saturating_sub(Duration::from_millis(last))
    }

    /// Calls `listener` with the settings each later read finds (the database pools take
    /// their new credentials from it).
    pub fn on_refresh(&self, listener: impl Fn(&Settings) + Send + Sync + 'static) {
        if let Ok(mut listeners) = self.listeners.lock() {
            listeners.push(Box::new(listener));
        }
    }

    /// Reads the secrets again when due: `forced` when no forced read happened in the last
    /// [`FORCED_READ_EVERY`], else when it is `SETTINGS_REFRESH_SECONDS` old (never when
    /// that is 0). Returns whether it read them. A failed read keeps what is known.
    pub async fn refresh(&self, forced: bool) -> bool {
        // Every request asks; only a due read takes the lock.
        if !forced && (self.every.is_zero() || self.since_last_read() < self.every) {
            return false;
        }
        let mut reads = self.reads.lock().await;
        let due = if forced {
            reads
                .forced
                .is_none_or(|at| at.elapsed() >= FORCED_READ_EVERY)
        } else {
            !self.every.is_zero() && reads.last.elapsed() >= self.every
        };
        if !due {
            return false;
        }
        reads.last = Instant::now();
        self.last_read_ms.store(
            reads.last.duration_since(self.created).as_millis() as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
        if forced {
            reads.forced = Some(reads.last);
        }
        match Self::read(&self.base, &self.ids).await {
            Ok(settings) => {
                let keys = settings.keys.snapshot();
                match self.ring.write() {
                    Ok(mut ring) => *ring = keys,
                    Err(poisoned) => *poisoned.into_inner() = keys,
                }
                if let Ok(listeners) = self.listeners.lock() {
                    for listener in listeners.iter() {
                        listener(&settings);
                    }
                }
                tracing::info!(forced, "settings secrets read again");
                true
            }
            Err(error) => {
                tracing::warn!(%error, "could not read the settings secrets again; keeping the known ones");
                false
            }
        }
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

    const T: &str = "token-key-secret-0123456789abcdef-0123456789";
    const D: &str = "data-key-secret-0123456789abcdef-01234567890";

    #[test]
    fn key_rings_are_read_newest_first_with_secret_key_as_k0() {
        let s = Settings::from_vars(&vars(&[
            ("DATABASE_URL", "x"),
            ("TOKEN_KEYS", &format!("t2:{T}")),
            ("DATA_KEYS", &format!(" d2:{D} , d1:{T}")),
            ("TOKEN_KEYS_ROTATED_AT", "2026-11-30T10:00:00Z"),
        ]))
        .unwrap();
        let keys = s.keys.snapshot();
        assert_eq!(keys.signing_key().0, "t2");
        let shown = format!("{keys:?}");
        assert!(
            shown.contains("t2,k0") && shown.contains("d2,d1,k0"),
            "{shown}"
        );
        assert!(!shown.contains(T) && !format!("{s:?}").contains(D));
        // Older token keys verify for a token's lifetime, the refresh interval and a minute.
        let rotated = 1_796_032_800; // 2026-11-30T10:00:00Z
        assert_eq!(
            keys.retired_token_keys_verify_until(),
            rotated + 900 + 300 + 60
        );
        let unix = Settings::from_vars(&vars(&[
            ("DATABASE_URL", "x"),
            ("TOKEN_KEYS_ROTATED_AT", "1796032800"),
        ]))
        .unwrap();
        assert_eq!(
            unix.keys.snapshot().retired_token_keys_verify_until(),
            rotated + 1260
        );
    }

    #[test]
    fn malformed_key_rings_name_the_setting_and_never_the_secret() {
        for (name, value) in [
            ("TOKEN_KEYS", T.to_string()),
            ("TOKEN_KEYS", format!(":{T}")),
            ("DATA_KEYS", format!("d 1:{T}")),
            ("DATA_KEYS", format!("{}:{T}", "x".repeat(33))),
            ("DATA_KEYS", "d1:short-secret".to_owned()),
            ("TOKEN_KEYS", format!("t1:{T},t1:{D}")),
            ("TOKEN_KEYS_ROTATED_AT", "yesterday".to_owned()),
        ] {
            let err = Settings::from_vars(&vars(&[("DATABASE_URL", "x"), (name, &value)]))
                .unwrap_err()
                .to_string();
            assert!(err.contains(name), "{err}");
            assert!(!err.contains(T) && !err.contains("short-secret"), "{err}");
        }
        let mut none = vars(&[("DATABASE_URL", "x")]);
        none.remove("SECRET_KEY");
        let err = Settings::from_vars(&none).unwrap_err().to_string();
        assert!(
            err.contains("SECRET_KEY") && err.contains("TOKEN_KEYS"),
            "{err}"
        );
        none.insert("TOKEN_KEYS".into(), format!("t1:{T}"));
        let err = Settings::from_vars(&none).unwrap_err().to_string();
        assert!(err.contains("DATA_KEYS"), "{err}");
    }

    #[test]
    fn a_database_secret_of_rds_shape_becomes_a_url() {
        let secret: HashMap<String, String> =
            [("username", "stockroom_api"), ("password", "p@ss:w/rd%")]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
        let vars: HashMap<String, String> = [
            ("DATABASE_HOST", "proxy.example"),
            ("MIGRATE_DATABASE_HOST", "cluster.example"),
            ("DATABASE_NAME", "shop"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let tenant = login_from_secret("TENANT_", "arn:tenant", &secret, &vars).unwrap();
        assert_eq!(
            tenant.url,
            "postgres://stockroom_api:p%40ss%3Aw%2Frd%25@proxy.example:5432/shop?sslmode=require"
        );
        let options: sqlx::postgres::PgConnectOptions = tenant.url.parse().unwrap();
        assert_eq!(options.get_username(), "stockroom_api");
        let migrate = login_from_secret("MIGRATE_", "arn:master", &secret, &vars).unwrap();
        assert!(
            migrate.url.contains("@cluster.example:5432/"),
            "{}",
            migrate.url
        );
        let mut without_password = secret.clone();
        without_password.remove("password");
        let err = login_from_secret("", "arn:x", &without_password, &vars)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("arn:x") && err.contains("password"), "{err}");
        let err = login_from_secret("", "arn:x", &secret, &HashMap::new())
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("DATABASE_HOST") && !err.contains("p@ss"),
            "{err}"
        );
    }

    #[test]
    fn wise_defaults_to_the_sandbox_and_stays_unconfigured() {
        let s = Settings::from_vars(&vars(&[("DATABASE_URL", "x")])).unwrap();
        assert_eq!(s.wise.api_url, WISE_SANDBOX_URL);
        assert!(s.wise.webhook_public_key.is_none());
    }

    #[test]
    fn wise_settings_are_parsed() {
        let s = Settings::from_vars(&vars(&[
            ("DATABASE_URL", "x"),
            ("WISE_API_URL", "https://api.wise.com/"),
            (
                "WISE_WEBHOOK_PUBLIC_KEY",
                "-----BEGIN PUBLIC KEY-----\\nAAAA\\n-----END PUBLIC KEY-----",
            ),
        ]))
        .unwrap();
        assert_eq!(s.wise.api_url, "https://api.wise.com");
        assert_eq!(
            s.wise.webhook_public_key.as_deref(),
            Some("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----")
        );
    }

    #[test]
    fn invalid_wise_settings_name_the_setting() {
        let err = Settings::from_vars(&vars(&[
            ("DATABASE_URL", "x"),
            ("WISE_API_URL", "api.wise.com"),
        ]))
        .unwrap_err();
        assert!(err.to_string().contains("WISE_API_URL"), "{err}");
    }

    #[test]
    fn debug_output_never_shows_the_database_url() {
        let s =
            Settings::from_vars(&vars(&[("DATABASE_URL", "postgres://u:hunter2@h/d")])).unwrap();
        assert!(!format!("{s:?}").contains("hunter2"));
    }
}
