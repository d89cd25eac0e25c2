//! `Idempotency-Key` for every create: a retry with the same key and body gets the first
//! response again and creates nothing; the same key with another body is a 409
//! (`idempotency_key_reused`: a conflict with the request the key already stands for). A key
//! belongs to the user or API key that sent it: the same key from someone else is another key.
//!
//! The key row is inserted in the same transaction as the creation, so a concurrent retry waits
//! for the first attempt to commit (then replays it) or roll back (then runs itself). Keys live
//! 24 hours; the scheduler deletes expired ones.
//!
//! Only a response that did the work is stored for replay, never an error: an error rolls the
//! claim back with its transaction, so a retry with the same key runs again. A handler that
//! must commit its claim before the work is done (paying through Wise) [`Claimed::release`]s it
//! on every error after that commit.

use axum::extract::FromRequestParts;
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use http::{HeaderValue, StatusCode};
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::auth::{Caller, CallerKind, Tenant};
use crate::error::ApiError;

/// The request's `Idempotency-Key` header, if any, and the request it was sent with: its
/// method and path (`POST /api/purchase-orders/{the id}/pay`), so a key stands for one target
/// and no handler restates its route.
#[derive(Clone, Debug, Default)]
pub struct IdempotencyKey {
    key: Option<String>,
    route: String,
}

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let route = format!("{} {}", parts.method, parts.uri.path());
        let Some(value) = parts.headers.get("idempotency-key") else {
            return Ok(Self { key: None, route });
        };
        // The documented pattern, `^[!-~]{1,255}$`: visible ASCII, no spaces.
        let bytes = value.as_bytes();
        if (1..=255).contains(&bytes.len()) && bytes.iter().all(|b| (b'!'..=b'~').contains(b)) {
            let key = String::from_utf8_lossy(bytes).into_owned();
            Ok(Self {
                key: Some(key),
                route,
            })
        } else {
            Err(ApiError::invalid_field(
                "Idempotency-Key",
                "invalid",
                "must be 1 to 255 visible ASCII characters without spaces (a UUID will do)",
            ))
        }
    }
}

/// What [`claim`] decided.
pub enum Claim {
    /// No key was sent: just create.
    Untracked,
    /// First use of the key: create, then [`Claimed::store`] the response in the same transaction.
    Fresh(Claimed),
    /// A retry: send this response again.
    Replay(Response),
}

pub struct Claimed {
    org_id: Uuid,
    actor: String,
    key: String,
}

/// Whose key it is: a key belongs to the user or API key that sent it.
fn actor_of(caller: &Caller) -> String {
    match caller.kind {
        CallerKind::User { user_id, .. } => format!("user:{user_id}"),
        CallerKind::ApiKey { key_id } => format!("key:{key_id}"),
    }
}

/// Claims the caller's `key` for this request (identified by route and body) inside `tx`.
pub async fn claim(
    tx: &mut PgConnection,
    caller: &Caller,
    key: &IdempotencyKey,
    body: &impl Serialize,
) -> Result<Claim, ApiError> {
    let Some(key_text) = key.key.as_deref() else {
        return Ok(Claim::Untracked);
    };
    let mut hasher = Sha256::new();
    hasher.update(key.route.as_bytes());
    hasher.update([0]);
    // serde_json maps are sorted, so equal bodies hash equally whatever their key order.
    hasher.update(
        serde_json::to_vec(&serde_json::to_value(body).map_err(|e| ApiError::Internal(e.into()))?)
            .map_err(|e| ApiError::Internal(e.into()))?,
    );
    let hash = hasher.finalize().to_vec();
    let (org_id, actor) = (caller.org_id, actor_of(caller));

    // Waits for a concurrent attempt with the same key to finish. A fresh key is also the
    // transaction's `stockroom.idempotency_key`, which the events it writes carry.
    let inserted = sqlx::query!(
        "INSERT INTO idempotency_keys (org_id, actor, key, request_hash) VALUES ($1, $2, $3, $4)
         ON CONFLICT (org_id, actor, key) DO UPDATE
             SET request_hash = EXCLUDED.request_hash, status = NULL, response = NULL,
                 created_at = now(), expires_at = now() + interval '24 hours'
             WHERE idempotency_keys.expires_at <= now()
         RETURNING key, set_config('stockroom.idempotency_key', key, true) AS event_key",
        org_id,
        actor,
        key_text,
        hash
    )
    .fetch_optional(&mut *tx)
    .await?;
    if inserted.is_some() {
        return Ok(Claim::Fresh(Claimed {
            org_id,
            actor,
            key: key_text.to_owned(),
        }));
    }

    let stored = sqlx::query!(
        "SELECT request_hash, status, response FROM idempotency_keys
         WHERE org_id = $1 AND actor = $2 AND key = $3",
        org_id,
        actor,
        key_text
    )
    .fetch_one(&mut *tx)
    .await?;
    if stored.request_hash != hash {
        return Err(ApiError::conflict(
            "idempotency_key_reused",
            "this Idempotency-Key was already used with a different request; use a new key",
        ));
    }
    let (Some(status), Some(response)) = (stored.status, stored.response) else {
        return Err(ApiError::conflict(
            "idempotency_in_progress",
            "a request with this key is still in progress",
        ));
    };
    let status = StatusCode::from_u16(status as u16).map_err(|e| ApiError::Internal(e.into()))?;
    let mut replay = (status, axum::Json(response)).into_response();
    replay
        .headers_mut()
        .insert("idempotent-replayed", HeaderValue::from_static("true"));
    Ok(Claim::Replay(replay))
}

impl Claimed {
    /// Records the response to replay; call it in the transaction that did the work.
    pub async fn store(
        &self,
        tx: &mut PgConnection,
        status: StatusCode,
        body: &impl Serialize,
    ) -> Result<(), ApiError> {
        let body = serde_json::to_value(body).map_err(|e| ApiError::Internal(e.into()))?;
        sqlx::query!(
            "UPDATE idempotency_keys SET status = $4, response = $5
             WHERE org_id = $1 AND actor = $2 AND key = $3",
            self.org_id,
            self.actor,
            self.key,
            status.as_u16() as i16,
            body
        )
        .execute(tx)
        .await?;
        Ok(())
    }

    /// Forgets the key, for a request that ends in an error after its claim was committed (a
    /// payment that Wise refused, or whose outcome is not known yet): a retry with the same key
    /// then runs again. A response already stored stays.
    pub async fn release(self, tx: &mut PgConnection) -> Result<(), ApiError> {
        sqlx::query!(
            "DELETE FROM idempotency_keys
             WHERE org_id = $1 AND actor = $2 AND key = $3 AND response IS NULL",
            self.org_id,
            self.actor,
            self.key
        )
        .execute(tx)
        .await?;
        Ok(())
    }
}

/// What [`create`] answered: the response, and whether it is the stored response of an earlier
/// request with the same key sent again (then nothing was done, and nothing must be done twice:
/// no mail, no event).
#[derive(Debug)]
pub struct Answer {
    response: Response,
    replayed: bool,
}

impl Answer {
    /// The stored response of an earlier request, sent again.
    pub fn replayed(&self) -> bool {
        self.replayed
    }
}

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        self.response
    }
}

/// Runs a create under an optional idempotency key: `create` does the work in `tx` and returns
/// the status and body; a retry gets the stored response instead.
pub async fn create<T: Serialize>(
    tx: &mut PgConnection,
    caller: &Caller,
    key: &IdempotencyKey,
    request: &impl Serialize,
    create: impl AsyncFnOnce(&mut PgConnection) -> Result<(StatusCode, T), ApiError>,
) -> Result<Answer, ApiError> {
    let (status, body) = match claim(tx, caller, key, request).await? {
        Claim::Replay(response) => {
            return Ok(Answer {
                response,
                replayed: true,
            });
        }
        Claim::Untracked => create(tx).await?,
        Claim::Fresh(claimed) => {
            let (status, body) = create(tx).await?;
            claimed.store(tx, status, &body).await?;
            (status, body)
        }
    };
    Ok(Answer {
        response: (status, axum::Json(body)).into_response(),
        replayed: false,
    })
}

/// The create every `POST` handler makes: `body` checked into its value `N` (`TryFrom`, every
/// field error in one 422) before anything is read, then written by `insert` in the request's
/// transaction under the caller's `Idempotency-Key` (a retry answers the first response).
pub async fn create_new<B, N, T>(
    tenant: &mut Tenant,
    key: &IdempotencyKey,
    body: B,
    insert: impl AsyncFnOnce(&mut PgConnection, &Caller, N) -> Result<(StatusCode, T), ApiError>,
) -> Result<Answer, ApiError>
where
    B: Serialize + Clone,
    N: TryFrom<B, Error = ApiError>,
    T: Serialize,
{
    let new = N::try_from(body.clone())?;
    let (caller, tx) = tenant.parts();
    create(tx, caller, key, &body, async |tx| {
        insert(tx, caller, new).await
    })
    .await
}
