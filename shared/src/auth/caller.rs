//! Tenant requests: who calls (a user's access token or an API key), what they may do, and a
//! database connection bound to their organization.
//!
//! The statement that checks the credentials also switches its connection to the role
//! `stockroom_app` with `app.org_id` set, so row-level security confines every later statement
//! of the request to the caller's organization even if a query forgets its `org_id` filter.
//! Dropping the `Tenant` resets the connection before it goes back to the pool.

use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};

use axum::extract::{FromRef, FromRequestParts};
use http::request::Parts;
use sqlx::Postgres;
use sqlx::pool::PoolConnection;
use uuid::Uuid;

use super::{Role, effective_permissions, extract::bearer_token, jwt, tokens};
use crate::audit::Actor;
use crate::{ApiError, AppState};

/// API keys start with this, so they are recognisable (and told apart from access tokens).
pub const API_KEY_PREFIX: &str = "sk_";

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallerKind {
    User { user_id: Uuid, role: Role },
    ApiKey { key_id: Uuid },
}

/// The authenticated caller of a tenant request.
#[derive(Clone, Debug)]
pub struct Caller {
    pub org_id: Uuid,
    pub kind: CallerKind,
    /// `{"module": "read" | "write"}`: a user's effective permissions or a key's scopes.
    pub permissions: serde_json::Value,
}

impl Caller {
    /// Whether the caller may read (or, with `write`, change) `module`.
    pub fn can(&self, module: &str, write: bool) -> bool {
        match self.permissions.get(module).and_then(|v| v.as_str()) {
            Some("write") => true,
            Some("read") => !write,
            _ => false,
        }
    }

    pub fn user_id(&self) -> Option<Uuid> {
        match self.kind {
            CallerKind::User { user_id, .. } => Some(user_id),
            CallerKind::ApiKey { .. } => None,
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
}

/// A tenant request: the caller and a connection confined to their organization.
pub struct Tenant {
    pub caller: Caller,
    pub db: TenantDb,
}

/// The tenant's connection. Use it as `&mut *tenant.db`. On drop it is reset (`RESET ROLE`,
/// `RESET app.org_id`) in a background task before it returns to the pool, off the request's
/// path; a connection that cannot be reset is closed instead.
pub struct TenantDb(Option<PoolConnection<Postgres>>);

impl Deref for TenantDb {
    type Target = sqlx::PgConnection;
    fn deref(&self) -> &Self::Target {
        self.0.as_deref().expect("present until drop")
    }
}

impl DerefMut for TenantDb {
    fn deref_mut(&mut self) -> &mut Self::Target {
        self.0.as_deref_mut().expect("present until drop")
    }
}

impl Drop for TenantDb {
    fn drop(&mut self) {
        let Some(mut conn) = self.0.take() else {
            return;
        };
        let reset = async move {
            if let Err(error) =
                sqlx::Executor::execute(&mut *conn, "RESET ROLE; RESET app.org_id").await
            {
                tracing::warn!(%error, "could not reset a tenant connection; closing it");
                conn.close_on_drop();
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(reset);
            }
            // No runtime (shutting down): the connection is dropped with it.
            Err(_) => drop(reset),
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

impl<S> FromRequestParts<S> for Tenant
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state = AppState::from_ref(state);
        if let Some(key) = api_key_of(parts) {
            return api_key_tenant(&state, key).await;
        }
        let token = bearer_token(parts).ok_or_else(|| {
            ApiError::unauthorized(
                "missing_token",
                "send an access token (Authorization: Bearer <token>) or an API key (X-API-Key)",
            )
        })?;
        let claims = jwt::verify(&state.settings.keys, token)?;
        let mut db = state.pool.acquire().await?;
        // One statement checks the user and the session and confines the connection; it only
        // switches the role for a caller who passes.
        let user = sqlx::query!(
            r#"SELECT u.role AS "role: Role", u.permissions,
                      set_config('role', 'stockroom_app', false) AS "_role",
                      set_config('app.org_id', u.org_id::text, false) AS "_org"
               FROM users u
               WHERE u.id = $1 AND u.org_id = $2 AND u.is_active
                 AND EXISTS (SELECT 1 FROM refresh_tokens t
                             WHERE t.family_id = $3 AND t.user_id = u.id AND t.revoked_at IS NULL)"#,
            claims.sub,
            claims.org,
            claims.sid
        )
        .fetch_optional(&mut *db)
        .await?;
        let Some(user) = user else {
            return Err(refusal(&mut db, &claims).await);
        };
        Ok(Self {
            db: TenantDb(Some(db)),
            caller: Caller {
                org_id: claims.org,
                kind: CallerKind::User {
                    user_id: claims.sub,
                    role: user.role,
                },
                permissions: effective_permissions(user.role, &user.permissions),
            },
        })
    }
}

/// Why a caller with a valid token did not pass (the rare path, so a second statement).
async fn refusal(db: &mut sqlx::PgConnection, claims: &jwt::Claims) -> ApiError {
    let found = sqlx::query_scalar!(
        "SELECT is_active FROM users WHERE id = $1 AND org_id = $2",
        claims.sub,
        claims.org
    )
    .fetch_optional(db)
    .await;
    match found {
        Ok(Some(is_active)) => jwt::refused(is_active),
        Ok(None) => jwt::invalid_token(),
        Err(error) => error.into(),
    }
}

async fn api_key_tenant(state: &AppState, key: &str) -> Result<Tenant, ApiError> {
    let invalid = || {
        ApiError::unauthorized(
            "invalid_api_key",
            "the API key is invalid, revoked or expired",
        )
    };
    if !key.starts_with(API_KEY_PREFIX) {
        return Err(invalid());
    }
    let mut db = state.pool.acquire().await?;
    // `last_used_at` is written at most once a minute, so busy integrations do not turn every
    // read into a write.
    let row = sqlx::query!(
        r#"WITH k AS (
               SELECT id, org_id, scopes, last_used_at FROM api_keys
               WHERE key_hash = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())
           ), touched AS (
               UPDATE api_keys a SET last_used_at = now() FROM k
               WHERE a.id = k.id AND (k.last_used_at IS NULL OR k.last_used_at < now() - interval '1 minute')
           )
           SELECT k.id, k.org_id, k.scopes,
                  set_config('role', 'stockroom_app', false) AS "_role",
                  set_config('app.org_id', k.org_id::text, false) AS "_org"
           FROM k"#,
        tokens::hash(key)
    )
    .fetch_optional(&mut *db)
    .await?
    .ok_or_else(invalid)?;
    Ok(Tenant {
        caller: Caller {
            org_id: row.org_id,
            kind: CallerKind::ApiKey { key_id: row.id },
            permissions: row.scopes,
        },
        db: TenantDb(Some(db)),
    })
}

/// A module a user can be granted.
pub trait Module: Send + Sync + 'static {
    const NAME: &'static str;
}

/// The access a handler needs on its module.
pub trait Level: Send + Sync + 'static {
    const WRITE: bool;
}

macro_rules! modules {
    ($($ty:ident => $name:literal),* $(,)?) => {
        $(
            #[doc = concat!("The `", $name, "` module.")]
            pub struct $ty;
            impl Module for $ty {
                const NAME: &'static str = $name;
            }
        )*
    };
}

modules! {
    Products => "products",
    Suppliers => "suppliers",
    Inventory => "inventory",
    Purchasing => "purchasing",
    Tasks => "tasks",
    Reports => "reports",
}

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

impl<S, M: Module, L: Level> FromRequestParts<S> for Require<M, L>
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let tenant = Tenant::from_request_parts(parts, state).await?;
        if !tenant.caller.can(M::NAME, L::WRITE) {
            let level = if L::WRITE { "write" } else { "read" };
            return Err(ApiError::forbidden(
                "missing_permission",
                format!("this needs {level} access to {}", M::NAME),
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

impl<S> FromRequestParts<S> for RequireAdmin
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
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
