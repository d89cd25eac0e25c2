//! Settings, read once per execution environment (cold start) and cached.
//!
//! Locally they come from the process environment (and `.env`). In Lambda, `SETTINGS_SECRET_ID`
//! names the Secrets Manager secrets (comma-separated) whose JSON objects (same keys as the
//! environment variables) are laid over the environment in that order, so secrets never sit in
//! plain Lambda configuration.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use secrecy::SecretString;
use tokio::sync::OnceCell;

use crate::crypto::{Keys, OpenError};

mod database;
pub mod error;
pub mod keys;
pub mod secrets;
pub mod sections;

pub use database::LOGIN_PREFIXES;
use database::{database_logins, has_database_secrets};
pub use error::ConfigError;
use keys::key_rings;
pub use keys::{ACCESS_TOKEN_TTL, configured_ring, retired_token_key_window};
use sections::parse_or;
pub use sections::{
    DbSettings, EmailSettings, ExportSettings, HttpSettings, MAX_INLINE_EXPORT_BYTES,
    StorageSettings, WISE_SANDBOX_URL, WebhookSettings, WiseSettings,
};

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
    pub webhooks: WebhookSettings,
    /// `REFRESH_REUSE_GRACE_SECONDS`: a refresh token presented again this soon after its
    /// rotation gets the same successor pair instead of revoking the family (0: never).
    pub refresh_reuse_grace: Duration,
    /// `SETTINGS_REFRESH_SECONDS`: how often a warm function reads its secrets again (keys,
    /// database credentials); 0 only when something names a key it lacks or a login is refused.
    pub refresh_every: Duration,
    pub exports: ExportSettings,
    pub storage: StorageSettings,
    /// `ADMIN_COOLING_OFF_HOURS`: how long a member made an owner or admin by someone else
    /// (invited or promoted) waits before approving payments, changing bank details or the
    /// approval threshold (72; every owner is mailed when it happens).
    pub admin_cooling_off: Duration,
    /// `INVITATIONS_PER_HOUR`: how many invitations an organization may send in an hour (20).
    pub invitations_per_hour: i64,
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
        let url = |name: &'static str| get(name).map(|v| SecretString::from(v.to_owned()));
        let database_url = url("DATABASE_URL").ok_or(ConfigError::Missing("DATABASE_URL"))?;
        let refresh_every = Duration::from_secs(parse_or(
            get("SETTINGS_REFRESH_SECONDS"),
            "SETTINGS_REFRESH_SECONDS",
            300,
        )?);
        let keys = key_rings(&get, refresh_every)?;
        Ok(Self {
            wise: WiseSettings::from_vars(&get)?,
            webhooks: WebhookSettings::from_vars(&get)?,
            keys: LiveKeys::fixed(keys),
            email: EmailSettings::from_vars(&get),
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
            exports: ExportSettings::from_vars(&get)?,
            storage: StorageSettings::from_vars(&get)?,
            database_url,
            tenant_database_url: url("TENANT_DATABASE_URL"),
            auth_database_url: url("AUTH_DATABASE_URL"),
            worker_database_url: url("WORKER_DATABASE_URL"),
            migrate_database_url: url("MIGRATE_DATABASE_URL"),
            login_passwords: ["TENANT_", "AUTH_", "WORKER_"]
                .iter()
                .filter_map(|prefix| {
                    let user = vars.get(&format!("{prefix}DATABASE_USER"))?;
                    let password = vars.get(&format!("{prefix}DATABASE_PASSWORD"))?;
                    Some((user.clone(), SecretString::from(password.clone())))
                })
                .collect(),
            db: DbSettings::from_vars(&get)?,
            http: HttpSettings::from_vars(&get)?,
        })
    }
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
            for secret in secrets::fetch_all(&ids).await? {
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
                tracing::warn!(
                    %error,
                    "could not read the settings secrets again; keeping the known ones"
                );
                false
            }
        }
    }
}

#[cfg(test)]
mod tests;
