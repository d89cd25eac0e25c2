//! The audit log: who changed what, written in the same transaction as the change.

use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::error::ApiError;

/// Who acted.
#[derive(Clone, Copy, Debug)]
pub enum Actor {
    User(Uuid),
    ApiKey(Uuid),
    /// A scheduled job or the platform itself.
    System,
    /// Nobody signed in (a failed login, a password reset by token).
    Anonymous,
}

/// One audit row. `before`/`after` are the record's JSON around the change.
#[derive(Debug)]
pub struct Entry<'a> {
    pub org_id: Option<Uuid>,
    pub actor: Actor,
    pub action: &'a str,
    pub entity: &'a str,
    pub entity_id: Option<Uuid>,
    pub before: Option<Value>,
    pub after: Option<Value>,
    pub ip: Option<&'a str>,
}

/// Writes `entry` on `conn`: pass the transaction that makes the change.
pub async fn record(conn: &mut PgConnection, entry: Entry<'_>) -> Result<(), ApiError> {
    let (user, api_key) = match entry.actor {
        Actor::User(id) => (Some(id), None),
        Actor::ApiKey(id) => (None, Some(id)),
        Actor::System | Actor::Anonymous => (None, None),
    };
    sqlx::query!(
        r#"INSERT INTO audit_log
             (org_id, actor_user_id, actor_api_key_id, action, entity, entity_id, before, after, request_id, ip)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"#,
        entry.org_id,
        user,
        api_key,
        entry.action,
        entry.entity,
        entry.entity_id,
        entry.before,
        entry.after,
        crate::http::current_request_id(),
        entry.ip,
    )
    .execute(conn)
    .await?;
    Ok(())
}
