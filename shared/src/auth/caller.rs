//! Tenant requests: who calls (a user's access token or an API key), what they may do, and a
//! database connection bound to their organization.
//!
//! The statement that checks the credentials also begins the request's transaction and, for a
//! caller who passes, switches it to the role `stockroom_app` with `app.org_id` set, so
//! row-level security confines every later statement of the request to the caller's
//! organization even if a query forgets its `org_id` filter. Both settings are
//! transaction-local: they end with the request's COMMIT or ROLLBACK.

use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};

use axum::extract::FromRequestParts;
use http::request::Parts;
use sqlx::Row;
use uuid::Uuid;

use super::bearer::bearer_token;
use super::permissions::{self, Permissions};
use super::role::Role;
use super::{jwt, tokens};
use crate::audit::{Action, Actor, Change, Entry};
use crate::db::{Lease, RequestTx, TxSlot};
use crate::error::ApiError;
use crate::state::{AppState, HasApp};

pub use super::bearer::API_KEY_PREFIX;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallerKind {
    /// A person signed in, in session `session_id` (the refresh-token family).
    User {
        user_id: Uuid,
        role: Role,
        session_id: Uuid,
    },
    ApiKey {
        key_id: Uuid,
    },
}

/// The authenticated caller of a tenant request.
#[derive(Clone, Debug)]
pub struct Caller {
    pub org_id: Uuid,
    pub kind: CallerKind,
    /// A user's effective permissions or a key's scopes.
    pub permissions: Permissions,
}

impl Caller {
    /// Whether the caller may read (or, with `write`, change) `module`.
    pub fn can(&self, module: permissions::Module, write: bool) -> bool {
        self.permissions.allows(module, write)
    }

    pub fn user_id(&self) -> Option<Uuid> {
        match self.kind {
            CallerKind::User { user_id, .. } => Some(user_id),
            CallerKind::ApiKey { .. } => None,
        }
    }

    /// Who acts, as the tables record it: `(user id, API key id)`, one of them set.
    pub fn actor_ids(&self) -> (Option<Uuid>, Option<Uuid>) {
        match self.kind {
            CallerKind::User { user_id, .. } => (Some(user_id), None),
            CallerKind::ApiKey { key_id } => (None, Some(key_id)),
        }
    }

    /// Owners and admins (API keys never administer the organization).
    pub fn is_admin(&self) -> bool {
        matches!(self.kind, CallerKind::User { role, .. } if role.is_admin())
    }

    pub fn audit_actor(&self) -> Actor {
        match self.kind {
            CallerKind::User { user_id, .. } => Actor::User(user_id),
            CallerKind::ApiKey { key_id } => Actor::ApiKey(key_id),
        }
    }

    /// Records `action` on `entity_id` by this caller in its organization, on `conn`: the
    /// request's transaction, so the row stands or falls with the change.
    pub async fn audit(
        &self,
        conn: &mut sqlx::PgConnection,
        action: Action,
        entity_id: Uuid,
        change: Change,
    ) -> Result<(), ApiError> {
        Entry::new(action, entity_id)
            .in_org(self.org_id)
            .by(self.audit_actor())
            .change(change)
            .record(conn)
            .await
    }
}

/// A tenant request: the caller and a connection confined to their organization.
pub struct Tenant {
    pub caller: Caller,
    pub db: TenantDb,
}

impl Tenant {
    /// The caller and the request's transaction side by side, for a handler that audits or
    /// checks the caller while it writes: `let (caller, tx) = tenant.parts();`.
    pub fn parts(&mut self) -> (&Caller, &mut sqlx::PgConnection) {
        (&self.caller, &mut self.db)
    }
}

/// The tenant's connection, inside the request's transaction: use it as `&mut *tenant.db`.
///
/// The whole request is one transaction, opened by the statement that checks the caller and
/// ended by the transaction layer after the handler (COMMIT for a success, ROLLBACK for an
/// error), so handlers do not begin or commit their own. The role switch and `app.org_id` are
/// transaction-local: nothing of the request outlives it on the connection, which is what lets
/// RDS Proxy or PgBouncer (transaction mode) give the server connection to the next client.
/// A handler that waits on something slow between statements (sending an email, calling Wise)
/// [`TenantDb::suspend`]s the transaction meanwhile, committing what must be kept, and
/// [`TenantDb::resume`]s it, so no server connection sits idle inside a transaction.
pub struct TenantDb {
    tx: Option<RequestTx>,
    /// The connection between [`TenantDb::suspend`] and [`TenantDb::resume`].
    idle: Option<Lease>,
    slot: TxSlot,
    org_id: Uuid,
}

impl TenantDb {
    /// Drops what the request did since the last commit (a failed statement included) and goes
    /// on in a new transaction confined to the same organization, in one round trip.
    pub async fn roll_back_and_continue(&mut self) -> Result<(), ApiError> {
        let sql = format!("ROLLBACK; BEGIN; {}", confine(self.org_id));
        sqlx::Executor::execute(&mut **self, sql.as_str()).await?;
        Ok(())
    }

    /// Ends the transaction here (COMMIT, or ROLLBACK with `commit` false), keeping the
    /// connection outside any transaction until [`TenantDb::resume`]: for a slow step that
    /// needs no database. Suspended twice, the second does nothing. Using the connection while
    /// suspended is a bug, and panics (a 500).
    pub async fn suspend(&mut self, commit: bool) -> Result<(), ApiError> {
        if let Some(tx) = self.tx.take() {
            self.idle = Some(tx.end(commit).await?);
        }
        Ok(())
    }

    /// Opens a new transaction confined to the organization again after
    /// [`TenantDb::suspend`], in one round trip; does nothing in a transaction.
    pub async fn resume(&mut self) -> Result<(), ApiError> {
        let Some(conn) = self.idle.take() else {
            return Ok(());
        };
        let mut tx = RequestTx::new(conn);
        let sql = format!("BEGIN; {}", confine(self.org_id));
        // Held by `self` first, so a failure hands it to the transaction layer to roll back.
        let begun = sqlx::Executor::execute(tx.conn_mut(), sql.as_str()).await;
        self.tx = Some(tx);
        begun?;
        Ok(())
    }

    /// Ends the request's transaction here (COMMIT) and returns the connection to the pool, for
    /// a response that goes on after its handler returned (a streamed export). The connection
    /// cannot be used afterwards.
    pub async fn finish(&mut self, commit: bool) -> Result<(), ApiError> {
        self.idle = None;
        match self.tx.take() {
            Some(tx) => Ok(tx.finish(commit).await?),
            None => Ok(()),
        }
    }
}

/// The statement that confines the rest of a transaction to `org_id` (what the entry
/// functions of migration 8 do for a caller who passes).
fn confine(org_id: Uuid) -> String {
    format!(
        "SELECT set_config('role', 'stockroom_app', true), \
                set_config('app.org_id', '{org_id}', true)"
    )
}

const IN_TRANSACTION: &str = "the tenant connection is used only inside its transaction \
     (not after finish, nor between suspend and resume)";

impl Deref for TenantDb {
    type Target = sqlx::PgConnection;
    fn deref(&self) -> &Self::Target {
        self.tx.as_ref().expect(IN_TRANSACTION).conn()
    }
}

impl DerefMut for TenantDb {
    fn deref_mut(&mut self) -> &mut Self::Target {
        self.tx.as_mut().expect(IN_TRANSACTION).conn_mut()
    }
}

impl Drop for TenantDb {
    /// Hands the transaction to the transaction layer, which ends it once the response is known.
    fn drop(&mut self) {
        if let Some(tx) = self.tx.take() {
            self.slot.put(tx);
        }
    }
}

impl std::fmt::Debug for Tenant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tenant")
            .field("caller", &self.caller)
            .finish_non_exhaustive()
    }
}

fn api_key_of(parts: &Parts) -> Option<&str> {
    if let Some(key) = parts.headers.get("x-api-key").and_then(|v| v.to_str().ok()) {
        return Some(key.trim());
    }
    bearer_token(parts).filter(|t| t.starts_with(API_KEY_PREFIX))
}

/// Opens the request's transaction on a connection of [`crate::db::Connections`]. Its first statement is sent with
/// `BEGIN` in one simple-protocol round trip (see migration 8), so the caller's check, the
/// organization's confinement and the transaction's start cost one round trip together.
async fn open(state: &AppState, parts: &Parts, org_id: Uuid) -> Result<TenantDb, ApiError> {
    let slot = parts.extensions.get::<TxSlot>().cloned().ok_or_else(|| {
        ApiError::Internal(anyhow::anyhow!(
            "a tenant request outside the transaction layer of shared::http::layers"
        ))
    })?;
    let conn = state.connections.acquire().await?;
    Ok(TenantDb {
        tx: Some(RequestTx::new(conn)),
        idle: None,
        slot,
        org_id,
    })
}

impl<S: HasApp> FromRequestParts<S> for Tenant {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state = state.app();
        if let Some(key) = api_key_of(parts) {
            return api_key_tenant(&state, parts, key).await;
        }
        let token = bearer_token(parts).ok_or_else(|| {
            ApiError::unauthorized(
                "missing_token",
                "send an access token (Authorization: Bearer <token>) or an API key (X-API-Key)",
            )
        })?;
        let claims = jwt::verify_live(&state.settings.keys, token).await?;
        let mut db = open(&state, parts, claims.org.0).await?;
        // The literals are UUIDs the signed token carried, formatted by `Uuid`.
        // (`role::text`: the simple protocol answers in text, and `Role` decodes its label.)
        let sql = format!(
            "BEGIN; SELECT role::text, permissions, {} \
             FROM stockroom_enter_user('{}', '{}', '{}')",
            request_setting(),
            claims.sub,
            claims.org,
            claims.sid
        );
        // A `&str` without arguments goes as one simple-protocol message; `fetch_all` gives the
        // rows of every statement in it, and BEGIN has none.
        let row = sqlx::Executor::fetch_all(&mut *db, sql.as_str())
            .await?
            .pop();
        let Some(row) = row else {
            return Err(refusal(&mut db, &claims).await);
        };
        let role: Role = row.try_get_unchecked(0)?;
        let permissions: serde_json::Value = row.try_get(1)?;
        announce_writes(&state, parts, claims.org.0);
        Ok(Self {
            db,
            caller: Caller {
                org_id: claims.org.0,
                kind: CallerKind::User {
                    user_id: claims.sub.0,
                    role,
                    session_id: claims.sid.0,
                },
                permissions: Permissions::effective(role, &permissions),
            },
        })
    }
}

/// A write of `org` that commits may have made events: the dispatcher hears of it once the
/// response has left ([`crate::events::queue`]).
fn announce_writes(state: &AppState, parts: &Parts, org: Uuid) {
    if !parts.method.is_safe()
        && let Some(queue) = state.events_queue.clone()
    {
        crate::request::after_commit(Box::pin(async move { queue.announce(org).await }));
    }
}

/// The request's id as the transaction's `stockroom.request_id`, which the events it writes
/// carry: an SQL expression for the entry statement. The id is the Lambda request id or an
/// incoming `x-request-id` of letters, digits and `-_.:` (see `shared::http`); anything else
/// is left out rather than quoted.
fn request_setting() -> String {
    match crate::request::current_request_id() {
        Some(id)
            if id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b)) =>
        {
            format!("set_config('stockroom.request_id', '{id}', true)")
        }
        _ => "NULL".to_owned(),
    }
}

/// Why a caller with a valid token did not pass (the rare path, so a second statement).
async fn refusal(db: &mut sqlx::PgConnection, claims: &jwt::Claims) -> ApiError {
    let found = sqlx::query_scalar!(
        r#"SELECT is_active AND joined_at IS NOT NULL AS "is_active!" FROM memberships
           WHERE user_id = $1 AND org_id = $2"#,
        claims.sub.0,
        claims.org.0
    )
    .fetch_optional(db)
    .await;
    match found {
        Ok(Some(is_active)) => jwt::refused(is_active),
        Ok(None) => jwt::invalid_token(),
        Err(error) => error.into(),
    }
}

async fn api_key_tenant(state: &AppState, parts: &Parts, key: &str) -> Result<Tenant, ApiError> {
    let invalid = || {
        ApiError::unauthorized(
            "invalid_api_key",
            "the API key is invalid, revoked or expired",
        )
    };
    if !key.starts_with(API_KEY_PREFIX) {
        return Err(invalid());
    }
    // The organization is not known before the key is found; the transaction is confined by
    // the entry function, and `org_id` recorded once the row says which one it is.
    let mut db = open(state, parts, Uuid::nil()).await?;
    let hash = hex::encode(tokens::hash(key));
    let sql = format!(
        "BEGIN; SELECT id, org_id, scopes, {} \
         FROM stockroom_enter_api_key(decode('{hash}', 'hex'))",
        request_setting()
    );
    let row = sqlx::Executor::fetch_all(&mut *db, sql.as_str())
        .await?
        .pop()
        .ok_or_else(invalid)?;
    let id: Uuid = row.try_get(0)?;
    let org_id: Uuid = row.try_get(1)?;
    let permissions: serde_json::Value = row.try_get(2)?;
    db.org_id = org_id;
    announce_writes(state, parts, org_id);
    Ok(Tenant {
        caller: Caller {
            org_id,
            kind: CallerKind::ApiKey { key_id: id },
            permissions: Permissions::from_json(&permissions),
        },
        db,
    })
}

/// A module a handler guards, as a type: `Require<Inventory, Write>`.
pub trait Module: Send + Sync + 'static {
    const MODULE: permissions::Module;
}

/// The access a handler needs on its module.
pub trait Level: Send + Sync + 'static {
    const WRITE: bool;
}

macro_rules! modules {
    ($($ty:ident),* $(,)?) => {
        $(
            #[doc = concat!("[`permissions::Module::", stringify!($ty), "`] as a type.")]
            pub struct $ty;
            impl Module for $ty {
                const MODULE: permissions::Module = permissions::Module::$ty;
            }
        )*
    };
}

modules!(Products, Suppliers, Inventory, Purchasing, Tasks, Reports);

pub struct Read;
pub struct Write;

impl Level for Read {
    const WRITE: bool = false;
}

impl Level for Write {
    const WRITE: bool = true;
}

/// A tenant request whose caller holds `L` on module `M`; otherwise 403 before the handler
/// runs. `Require<Inventory, Write>` in a signature is the whole check.
pub struct Require<M: Module, L: Level>(pub Tenant, PhantomData<(M, L)>);

impl<M: Module, L: Level> Deref for Require<M, L> {
    type Target = Tenant;
    fn deref(&self) -> &Tenant {
        &self.0
    }
}

impl<M: Module, L: Level> DerefMut for Require<M, L> {
    fn deref_mut(&mut self) -> &mut Tenant {
        &mut self.0
    }
}

impl<S: HasApp, M: Module, L: Level> FromRequestParts<S> for Require<M, L> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let tenant = Tenant::from_request_parts(parts, state).await?;
        if !tenant.caller.can(M::MODULE, L::WRITE) {
            let level = if L::WRITE { "write" } else { "read" };
            return Err(ApiError::forbidden(
                "missing_permission",
                format!("this needs {level} access to {}", M::MODULE.name()),
            ));
        }
        Ok(Self(tenant, PhantomData))
    }
}

/// A tenant request by an owner or admin (user administration, API keys, the audit log).
pub struct RequireAdmin(pub Tenant);

impl Deref for RequireAdmin {
    type Target = Tenant;
    fn deref(&self) -> &Tenant {
        &self.0
    }
}

impl DerefMut for RequireAdmin {
    fn deref_mut(&mut self) -> &mut Tenant {
        &mut self.0
    }
}

impl<S: HasApp> FromRequestParts<S> for RequireAdmin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let tenant = Tenant::from_request_parts(parts, state).await?;
        if !tenant.caller.is_admin() {
            return Err(ApiError::forbidden(
                "admin_required",
                "only owners and admins can do this",
            ));
        }
        Ok(Self(tenant))
    }
}
