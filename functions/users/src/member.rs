//! A member of the organization as the API shows it: the person and their membership (role,
//! permissions, standing). Until they join, the organization sees the invitation's name and
//! address, never the person's own account.

use chrono::{DateTime, Utc};
use serde::Serialize;
use shared::auth::{Permissions, Role};
use shared::error::ApiError;
use sqlx::PgConnection;
use uuid::Uuid;

/// Where a member stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MemberStatus {
    /// Invited; has not accepted yet.
    Invited,
    Active,
    /// Deactivated by an owner or admin (an invitation: cancelled).
    Deactivated,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = Person)]
pub struct UserView {
    /// The person's id (the same in every organization they belong to).
    pub id: Uuid,
    /// While invited: the address the invitation was sent to.
    pub email: String,
    /// While invited: the name the invitation was made out to.
    pub name: String,
    pub role: Role,
    /// What was granted to a `user` (`{"module": "read" | "write"}`).
    #[schema(schema_with = shared::auth::permissions_schema)]
    pub permissions: serde_json::Value,
    /// What the member can actually reach (owners and admins: everything).
    #[schema(schema_with = shared::auth::permissions_schema)]
    pub effective_permissions: serde_json::Value,
    pub status: MemberStatus,
    /// `status` is not `deactivated`.
    pub is_active: bool,
    /// Whether the person signs in with an authenticator code (false while invited).
    pub mfa_enabled: bool,
    /// `status` is `invited`.
    pub invitation_pending: bool,
    /// When they were invited or added.
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A membership and its person, as stored.
#[derive(Clone)]
pub struct UserRow {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub permissions: serde_json::Value,
    pub is_active: bool,
    pub mfa_enabled: bool,
    pub joined: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<UserRow> for UserView {
    fn from(r: UserRow) -> Self {
        let status = match (r.is_active, r.joined) {
            (false, _) => MemberStatus::Deactivated,
            (true, false) => MemberStatus::Invited,
            (true, true) => MemberStatus::Active,
        };
        Self {
            effective_permissions: Permissions::effective(r.role, &r.permissions).to_json(),
            id: r.id,
            email: r.email,
            name: r.name,
            role: r.role,
            permissions: r.permissions,
            status,
            is_active: r.is_active,
            mfa_enabled: r.joined && r.mfa_enabled,
            invitation_pending: !r.joined,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// Member `id` of `org_id`, or 404.
pub async fn load(conn: &mut PgConnection, org_id: Uuid, id: Uuid) -> Result<UserRow, ApiError> {
    // Until they join, the organization sees the invitation, never the person's account.
    let row = sqlx::query_as!(
        UserRow,
        r#"SELECT u.id,
                  CASE WHEN m.joined_at IS NULL THEN coalesce(m.invited_email, u.email)
                       ELSE u.email END AS "email!",
                  CASE WHEN m.joined_at IS NULL THEN coalesce(m.invited_name, u.name)
                       ELSE u.name END AS "name!",
                  m.role AS "role: Role", m.permissions, m.is_active, u.mfa_enabled,
                  m.joined_at IS NOT NULL AS "joined!", m.created_at, m.updated_at
           FROM memberships m JOIN users u ON u.id = m.user_id
           WHERE m.user_id = $1 AND m.org_id = $2"#,
        id,
        org_id
    )
    .fetch_optional(&mut *conn)
    .await?;
    row.ok_or_else(|| ApiError::not_found("user"))
}

/// Locks member `id` of `org_id` for a change, or 404.
pub async fn lock(conn: &mut PgConnection, org_id: Uuid, id: Uuid) -> Result<(), ApiError> {
    sqlx::query_scalar!(
        "SELECT 1 AS one FROM memberships WHERE user_id = $1 AND org_id = $2 FOR UPDATE",
        id,
        org_id
    )
    .fetch_optional(conn)
    .await?
    .ok_or_else(|| ApiError::not_found("user"))?;
    Ok(())
}

/// Ends every open invitation link of `person` to `org_id` (a new one is sent, or the invitation
/// is cancelled).
pub async fn void_invitation_links(
    conn: &mut PgConnection,
    org_id: Uuid,
    person: Uuid,
) -> Result<(), ApiError> {
    sqlx::query!(
        "UPDATE user_invitations SET used_at = now()
         WHERE user_id = $1 AND org_id = $2 AND used_at IS NULL",
        person,
        org_id
    )
    .execute(conn)
    .await?;
    Ok(())
}
