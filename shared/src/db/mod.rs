//! The Postgres pool, sized for Lambda.
//!
//! An execution environment serves one request at a time, so the pool is small, connects lazily
//! (cold start does no database I/O) and gives up quickly: a database that is down turns into a
//! 503 within `DB_ACQUIRE_TIMEOUT_MS` instead of a hung invocation, and the pool reconnects by
//! itself once the database is back.

pub mod rate_limit;

use std::ops::{Deref, DerefMut};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgSslMode};
use sqlx::{PgConnection, PgPool};

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

/// Who a function logs in as. Each has its own URL setting, `DATABASE_URL` when unset (one
/// login for everything, as a local database run by its superuser allows).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Login {
    /// `TENANT_DATABASE_URL`, as `stockroom_api`: products, suppliers, inventory, tasks,
    /// dashboard and users, whose every query runs as a checked caller's tenant.
    Tenant,
    /// `AUTH_DATABASE_URL`, as `stockroom_auth`: the auth function.
    Auth,
    /// `WORKER_DATABASE_URL`, as `stockroom_worker`: the scheduler and the webhooks.
    Worker,
}

impl Login {
    /// The database role the setting should name.
    pub fn role(self) -> &'static str {
        match self {
            Login::Tenant => "stockroom_api",
            Login::Auth => "stockroom_auth",
            Login::Worker => "stockroom_worker",
        }
    }

    pub fn url(self, settings: &Settings) -> &SecretString {
        match self {
            Login::Tenant => settings.tenant_database_url.as_ref(),
            Login::Auth => settings.auth_database_url.as_ref(),
            Login::Worker => settings.worker_database_url.as_ref(),
        }
        .unwrap_or(&settings.database_url)
    }
}

/// The pool of a function that logs in as `login`: as [`pool`], with that login's URL.
pub fn pool_for(settings: &Settings, login: Login) -> Result<PgPool, ConfigError> {
    let options = connect_options(login.url(settings), settings.db.ca_pem.as_deref())?;
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
        .idle_timeout(Some(IDLE_FOR_AT_MOST))
        // sqlx pings a connection before every acquire by default: a round trip on every
        // request's path. A connection back from a request a moment ago is alive; one that
        // sat idle (a thawed Lambda environment) is pinged, and replaced if the ping fails.
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for >= PING_WHEN_IDLE_FOR {
                    sqlx::Connection::ping(conn).await?;
                }
                Ok(true)
            })
        })
        .connect_lazy_with(options.application_name(&application_name()))
}

/// Whether the database refused the login itself (SQLSTATE class 28: a wrong password, a role
/// that cannot log in), as it does the moment a password is rotated.
pub fn login_refused(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.code().is_some_and(|c| c.starts_with("28")))
}

/// Makes `pool` log in as `login` with the credentials of `fresh` settings (read again from
/// the secrets); connections already open stay as they are.
pub fn follow_login(pool: &PgPool, fresh: &Settings, login: Login) {
    match connect_options(login.url(fresh), fresh.db.ca_pem.as_deref()) {
        Ok(options) => pool.set_connect_options(options.application_name(&application_name())),
        Err(error) => tracing::warn!(%error, "the secrets read again hold no usable database URL"),
    }
}

static LOGIN_SOURCE: std::sync::OnceLock<Arc<crate::config::SecretSource>> =
    std::sync::OnceLock::new();

/// Names the secrets to read again when the database refuses this process's login on a path
/// that cannot wait for them ([`after_refused_login`]).
pub fn read_again_on_refused_login(source: &Arc<crate::config::SecretSource>) {
    let _ = LOGIN_SOURCE.set(source.clone());
    crate::error::watch_database_errors(after_refused_login);
}

/// Called where a refused login surfaces as an error (the pool of the auth function, the
/// webhooks and the scheduler): reads the secrets again in the background, so the next request
/// logs in with rotated credentials instead of failing until a cold start.
pub fn after_refused_login(error: &sqlx::Error) {
    if login_refused(error)
        && let Some(source) = LOGIN_SOURCE.get()
        && let Ok(runtime) = tokio::runtime::Handle::try_current()
    {
        let source = source.clone();
        runtime.spawn(async move {
            source.refresh(true).await;
        });
    }
}

/// How long a pooled connection may sit unused before it is checked on its next acquire.
const PING_WHEN_IDLE_FOR: Duration = Duration::from_secs(10);

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

/// The connections of tenant requests: as many as `DB_MAX_CONNECTIONS`, opened when first
/// needed, kept between requests, and waited for at most `DB_ACQUIRE_TIMEOUT_MS` (then a 503).
///
/// Not sqlx's pool, which tests every connection it gets back with a round trip of its own
/// (a ping on release, one more server round trip per request: PgBouncer counted two
/// transactions for each request). A tenant request gives its connection back only after its
/// COMMIT or ROLLBACK succeeded, which already proves the connection sound and leaves it
/// outside any transaction; a connection that failed, or whose request was cancelled midway,
/// is closed instead ([`RequestTx`]). So a connection back from a request is reused as is, one
/// idle for 10 s or more is pinged first, and one idle for a minute is replaced (a frozen
/// Lambda environment's socket may be long gone).
#[derive(Clone)]
pub struct Connections(Arc<ConnectionsInner>);

struct ConnectionsInner {
    /// The pool whose connect options (replaced when the secrets bring new credentials) every
    /// new connection uses.
    pool: PgPool,
    /// Read again when the database refuses the login (a rotated password).
    source: Option<Arc<crate::config::SecretSource>>,
    permits: Arc<tokio::sync::Semaphore>,
    idle: Mutex<Vec<(PgConnection, Instant)>>,
    acquire_timeout: Duration,
}

impl std::fmt::Debug for Connections {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connections")
            .field("available", &self.0.permits.available_permits())
            .finish_non_exhaustive()
    }
}

/// How long an idle connection is kept (by [`Connections`] and by the pool alike): after that
/// it is closed rather than pinged.
const IDLE_FOR_AT_MOST: Duration = Duration::from_secs(60);

impl Connections {
    /// Connections to the database of `pool`, logged in as it is, sized and timed by `settings`.
    pub fn like(pool: &PgPool, settings: &Settings) -> Self {
        Self(Arc::new(ConnectionsInner {
            pool: pool.clone(),
            source: settings.keys.source().cloned(),
            permits: Arc::new(tokio::sync::Semaphore::new(
                settings.db.max_connections.max(1) as usize,
            )),
            idle: Mutex::new(Vec::new()),
            acquire_timeout: settings.db.acquire_timeout,
        }))
    }

    /// A connection outside any transaction: a kept one, else a new one. Waits for a free one
    /// for at most the acquire timeout, connecting included (`PoolTimedOut`, a 503).
    pub async fn acquire(&self) -> Result<Lease, sqlx::Error> {
        let deadline = tokio::time::Instant::now() + self.0.acquire_timeout;
        let permit = tokio::time::timeout_at(deadline, self.0.permits.clone().acquire_owned())
            .await
            .map_err(|_| sqlx::Error::PoolTimedOut)?
            .map_err(|_| sqlx::Error::PoolClosed)?;
        loop {
            let kept = self.0.idle.lock().ok().and_then(|mut idle| idle.pop());
            let Some((mut conn, since)) = kept else { break };
            let idle_for = since.elapsed();
            if idle_for >= IDLE_FOR_AT_MOST {
                continue; // dropped: closed
            }
            if idle_for >= PING_WHEN_IDLE_FOR {
                use sqlx::Connection;
                match tokio::time::timeout_at(deadline, conn.ping()).await {
                    Ok(Ok(())) => {}
                    Ok(Err(error)) => {
                        tracing::info!(%error, "replacing a database connection that went away");
                        continue;
                    }
                    Err(_) => return Err(sqlx::Error::PoolTimedOut),
                }
            }
            return Ok(Lease::new(conn, permit, &self.0));
        }
        let conn = tokio::time::timeout_at(deadline, async {
            use sqlx::ConnectOptions;
            match self.0.pool.connect_options().connect().await {
                // A rotated password: read the credentials again and log in with them.
                Err(error) if login_refused(&error) => match &self.0.source {
                    Some(source) if source.refresh(true).await => {
                        self.0.pool.connect_options().connect().await
                    }
                    _ => Err(error),
                },
                connected => connected,
            }
        })
        .await
        .map_err(|_| sqlx::Error::PoolTimedOut)??;
        Ok(Lease::new(conn, permit, &self.0))
    }
}

/// A connection held by one request. Dropped, it goes back to [`Connections`] to be reused;
/// [`Lease::discard`]ed (a connection whose state is unknown), it is closed.
pub struct Lease {
    conn: Option<PgConnection>,
    _permit: tokio::sync::OwnedSemaphorePermit,
    home: std::sync::Weak<ConnectionsInner>,
}

impl Lease {
    fn new(
        conn: PgConnection,
        permit: tokio::sync::OwnedSemaphorePermit,
        home: &Arc<ConnectionsInner>,
    ) -> Self {
        Self {
            conn: Some(conn),
            _permit: permit,
            home: Arc::downgrade(home),
        }
    }

    /// Closes the connection instead of keeping it (its transaction state is unknown).
    pub fn discard(mut self) {
        self.conn = None;
    }
}

impl Deref for Lease {
    type Target = PgConnection;
    fn deref(&self) -> &PgConnection {
        self.conn.as_ref().expect("present until dropped")
    }
}

impl DerefMut for Lease {
    fn deref_mut(&mut self) -> &mut PgConnection {
        self.conn.as_mut().expect("present until dropped")
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        // Back before the permit is released, so the next acquire finds it.
        if let (Some(conn), Some(home)) = (self.conn.take(), self.home.upgrade())
            && let Ok(mut idle) = home.idle.lock()
        {
            idle.push((conn, Instant::now()));
        }
    }
}

/// The connection of a tenant request, inside the request's transaction (opened by the
/// statement that checks the caller). The transaction layer of [`crate::http::layers`] ends it
/// after the handler: COMMIT when the response succeeded, ROLLBACK otherwise, before the
/// response leaves. Dropped any other way (a panic, a connection that outlived its handler),
/// the connection is closed rather than kept inside a transaction.
pub struct RequestTx(Option<Lease>);

impl RequestTx {
    pub(crate) fn new(conn: Lease) -> Self {
        Self(Some(conn))
    }

    pub(crate) fn conn(&self) -> &PgConnection {
        self.0.as_deref().expect("present until finished")
    }

    pub(crate) fn conn_mut(&mut self) -> &mut PgConnection {
        self.0.as_deref_mut().expect("present until finished")
    }

    /// Ends the transaction: COMMIT, or ROLLBACK with `commit` false. The connection is kept
    /// for the next request only once that succeeded.
    pub async fn finish(self, commit: bool) -> Result<(), sqlx::Error> {
        self.end(commit).await.map(drop)
    }

    /// Ends the transaction and hands back the connection, outside any transaction and back to
    /// the login role. Until the statement has succeeded the connection stays in `self`, so a
    /// failure or a cancelled future closes it instead of keeping it mid-transaction.
    pub(crate) async fn end(mut self, commit: bool) -> Result<Lease, sqlx::Error> {
        let end = if commit { "COMMIT" } else { "ROLLBACK" };
        // A `&str` without arguments goes as a simple-protocol query.
        sqlx::Executor::execute(self.conn_mut(), end).await?;
        Ok(self.0.take().expect("present until finished"))
    }
}

impl Drop for RequestTx {
    fn drop(&mut self) {
        if let Some(lease) = self.0.take() {
            lease.discard();
        }
    }
}

/// Where a tenant request's transaction waits for the transaction layer once its handler is
/// done (a request extension the layer inserts).
#[derive(Clone, Default)]
pub struct TxSlot(Arc<Mutex<Option<RequestTx>>>);

impl TxSlot {
    pub(crate) fn put(&self, tx: RequestTx) {
        if let Ok(mut slot) = self.0.lock() {
            *slot = Some(tx);
        }
    }

    pub fn take(&self) -> Option<RequestTx> {
        self.0.lock().ok()?.take()
    }
}
