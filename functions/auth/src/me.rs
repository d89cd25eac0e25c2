//! `GET /api/auth/me` and the user/organization views the auth responses share.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::Serialize;
use shared::AppState;
use shared::auth::{AuthUser, Permissions, Role};
use shared::error::ApiError;
use sqlx::PgConnection;
use uuid::Uuid;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UserView {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub role: Role,
    /// What was granted to a `user`, module by module (`read` or `write`); as `/api/users`
    /// shows and changes it.
    #[schema(schema_with = shared::auth::permissions_schema)]
    pub permissions: serde_json::Value,
    /// What the user can actually reach (owners and admins: every module, `write`).
    #[schema(schema_with = shared::auth::permissions_schema)]
    pub effective_permissions: serde_json::Value,
    pub mfa_enabled: bool,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OrganizationView {
    pub id: Uuid,
    pub name: String,
    /// ISO 4217 code that products and purchase orders created without a currency take.
    #[schema(value_type = shared::domain::CurrencyCode)]
    pub default_currency: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Me {
    pub user: UserView,
    pub organization: OrganizationView,
}

/// The person and their membership of `org_id`, as the API shows them.
pub async fn load(conn: &mut PgConnection, user_id: Uuid, org_id: Uuid) -> Result<Me, ApiError> {
    let row = sqlx::query!(
        r#"SELECT u.id, u.email, u.name, m.role AS "role: Role", m.permissions, u.mfa_enabled,
                  u.created_at, o.id AS org_id, o.name AS org_name,
                  o.default_currency AS "default_currency!"
           FROM users u
           JOIN memberships m ON m.user_id = u.id
           JOIN organizations o ON o.id = m.org_id
           WHERE u.id = $1 AND m.org_id = $2"#,
        user_id,
        org_id
    )
    .fetch_one(conn)
    .await?;
    Ok(Me {
        user: UserView {
            id: row.id,
            email: row.email,
            name: row.name,
            role: row.role,
            effective_permissions: Permissions::effective(row.role, &row.permissions).to_json(),
            permissions: row.permissions,
            mfa_enabled: row.mfa_enabled,
            created_at: row.created_at,
        },
        organization: OrganizationView {
            id: row.org_id,
            name: row.org_name,
            default_currency: row.default_currency,
        },
    })
}

/// `GET /api/auth/me`: the current user, the organization their token is for, and their role and
/// permissions there.
#[utoipa::path(get, path = "/api/auth/me", security(("bearer" = [])),
    responses((status = 200, description = "The current user, organization, role and permissions", body = Me)))]
pub async fn me(State(state): State<AppState>, user: AuthUser) -> Result<Json<Me>, ApiError> {
    let mut conn = state.pool.acquire().await?;
    Ok(Json(load(&mut conn, user.user_id, user.org_id).await?))
}
