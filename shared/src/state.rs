//! The state every HTTP function's router holds: settings, database connections, mail.

use std::sync::Arc;

use sqlx::PgPool;

use crate::config::{self, Settings};
use crate::{db, email};

/// What every HTTP function's router holds: built once per cold start, then shared by requests.
#[derive(Clone, Debug)]
pub struct AppState {
    /// Sign-in, webhooks, the scheduler and health use this pool.
    pub pool: PgPool,
    /// Tenant requests hold their connection from here ([`db::Connections`]), on the same
    /// database and login as `pool`; a function uses one or the other, so it still holds at
    /// most `DB_MAX_CONNECTIONS`.
    pub connections: db::Connections,
    pub settings: Arc<Settings>,
    pub mailer: email::Mailer,
    /// Mail queued by requests and sent after their responses.
    pub outbox: email::outbox::Outbox,
    /// Where committed writes announce their organization's new events (`EVENTS_QUEUE_URL`).
    pub events_queue: Option<crate::events::queue::Queue>,
    /// The files bucket (`FILES_BUCKET`), for uploads and the links to them.
    pub files: Option<crate::storage::Files>,
    /// The bucket large exports go to (`EXPORT_BUCKET`).
    pub exports: Option<crate::storage::Files>,
}

impl AppState {
    /// The whole cold-start work of a function: cached settings and a lazy pool (no I/O yet
    /// beyond the settings secret).
    pub async fn init() -> anyhow::Result<Self> {
        let settings = config::settings().await?.clone();
        let pool = db::pool(&settings)?;
        Ok(Self::new(settings, pool)?)
    }

    /// [`AppState::init`] for a function that logs in as `login` (its own URL setting, else
    /// `DATABASE_URL`).
    pub async fn init_as(login: db::Login) -> anyhow::Result<Self> {
        let settings = config::settings().await?.clone();
        Ok(Self::for_login(settings, login)?)
    }

    /// The state of a function that logs in as `login`, from `settings`. When they came from
    /// Secrets Manager, credentials read again later (every `SETTINGS_REFRESH_SECONDS`, or at
    /// once when the database refuses the login) replace the pool's: a rotated password is
    /// picked up by a warm function, not only at the next cold start.
    pub fn for_login(settings: Settings, login: db::Login) -> Result<Self, config::ConfigError> {
        let pool = db::pool_for(&settings, login)?;
        let state = Self::new(settings, pool)?;
        if let Some(source) = state.settings.keys.source() {
            let pool = state.pool.clone();
            source.on_refresh(move |fresh| db::follow_login(&pool, fresh, login));
            db::read_again_on_refused_login(source);
        }
        Ok(state)
    }

    pub fn new(settings: Settings, pool: PgPool) -> Result<Self, config::ConfigError> {
        let mailer = email::Mailer::new(settings.email.smtp_url.as_ref(), &settings.email.from)?;
        let connections = db::Connections::like(&pool, &settings);
        let settings = Arc::new(settings);
        let outbox =
            email::outbox::Outbox::new(connections.clone(), mailer.clone(), settings.clone());
        let events_queue = settings
            .webhooks
            .queue_url
            .as_deref()
            .map(crate::events::queue::Queue::new);
        let files = settings
            .storage
            .bucket
            .as_deref()
            .map(crate::storage::Files::new);
        let exports = settings
            .exports
            .bucket
            .as_deref()
            .map(crate::storage::Files::new);
        Ok(Self {
            files,
            exports,
            connections,
            pool,
            settings,
            mailer,
            outbox,
            events_queue,
        })
    }

    /// This state for a function that answers through its pool (sign-in, the scheduler): its
    /// mail is sent through the pool too.
    pub fn answering_through_pool(mut self) -> Self {
        self.outbox = self.outbox.via_pool(self.pool.clone());
        self
    }
}

/// A router state that holds an [`AppState`]: what the shared extractors need of the router
/// they run in (`AppState` itself, or a function's own state that contains one).
pub trait HasApp: Send + Sync {
    fn app(&self) -> AppState;
}

impl<S: Send + Sync> HasApp for S
where
    AppState: axum::extract::FromRef<S>,
{
    fn app(&self) -> AppState {
        axum::extract::FromRef::from_ref(self)
    }
}
