//! One person, several organizations. `GET /api/auth/organizations` lists the caller's;
//! `POST /api/auth/switch` moves this session (this device's sign-in) to another of them, with
//! tokens for it. A sign-in lands in the organization used last.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use shared::AppState;
use shared::audit::{Action, Actor, Change, Entry};
use shared::auth::{AuthUser, Role, tokens};
use shared::error::ApiError;
use shared::http::AppJson;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::me;
use crate::session::{self, SignedIn, TokenPair};

/// Where a sign-in of `user_id` lands: the organization they are an active member of that they
/// used last (then the one they joined first), with their role there.
pub async fn landing(
    conn: &mut PgConnection,
    user_id: Uuid,
) -> Result<Option<(Uuid, Role)>, ApiError> {
    Ok(sqlx::query!(
        r#"SELECT org_id, role AS "role: Role" FROM memberships
           WHERE user_id = $1 AND is_active AND joined_at IS NOT NULL
           ORDER BY last_used_at DESC NULLS LAST, joined_at, org_id LIMIT 1"#,
        user_id
    )
    .fetch_optional(conn)
    .await?
    .map(|m| (m.org_id, m.role)))
}

/// The organization whose log records a person's own events (a failed sign-in, a password
/// reset): the one they would land in, else the one they belonged to last.
pub async fn of_person(conn: &mut PgConnection, user_id: Uuid) -> Result<Option<Uuid>, ApiError> {
    Ok(sqlx::query_scalar!(
        "SELECT org_id FROM memberships WHERE user_id = $1
         ORDER BY is_active AND joined_at IS NOT NULL DESC, last_used_at DESC NULLS LAST,
                  joined_at, org_id
         LIMIT 1",
        user_id
    )
    .fetch_optional(conn)
    .await?)
}

/// An organization the caller belongs to.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MemberOf {
    /// The organization's id (send it to `POST /api/auth/switch`).
    pub id: Uuid,
    pub name: String,
    /// The caller's role there.
    pub role: Role,
    /// Whether this session is in it now.
    pub current: bool,
    pub joined_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MemberOfList {
    pub items: Vec<MemberOf>,
}

/// `GET /api/auth/organizations`: every organization the caller is an active member of, the
/// one used last first.
#[utoipa::path(get, path = "/api/auth/organizations", operation_id = "list_my_organizations", security(("bearer" = [])),
    responses((status = 200, description = "The caller's organizations", body = MemberOfList)))]
pub async fn list(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<MemberOfList>, ApiError> {
    let rows = sqlx::query!(
        r#"SELECT o.id, o.name, m.role AS "role: Role", m.joined_at AS "joined_at!",
                  m.last_used_at
           FROM memberships m JOIN organizations o ON o.id = m.org_id
           WHERE m.user_id = $1 AND m.is_active AND m.joined_at IS NOT NULL
           ORDER BY m.last_used_at DESC NULLS LAST, m.joined_at, o.id"#,
        user.user_id
    )
    .fetch_all(&state.pool)
    .await?;
    let items = rows
        .into_iter()
        .map(|r| MemberOf {
            current: r.id == user.org_id,
            id: r.id,
            name: r.name,
            role: r.role,
            joined_at: r.joined_at,
            last_used_at: r.last_used_at,
        })
        .collect();
    Ok(Json(MemberOfList { items }))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SwitchRequest {
    organization_id: Uuid,
}

/// Moves session `session` of `person` to `org_id` (where they are a member with `role`): its
/// live refresh token is rotated into one for that organization, and the organization is marked
/// used. The new token pair; 401 `session_ended` when the session was signed out.
pub async fn move_session(
    conn: &mut PgConnection,
    state: &AppState,
    (person, session): (Uuid, Uuid),
    org_id: Uuid,
    role: Role,
) -> Result<TokenPair, ApiError> {
    // The session's live refresh token, locked like a refresh locks it.
    let live = sqlx::query!(
        "SELECT id, token_hash FROM refresh_tokens
         WHERE family_id = $1 AND user_id = $2 AND rotated_at IS NULL AND revoked_at IS NULL
           AND expires_at > now()
         FOR UPDATE",
        session,
        person
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| shared::auth::jwt::refused(true))?;
    sqlx::query!(
        "UPDATE refresh_tokens SET rotated_at = now() WHERE id = $1",
        live.id
    )
    .execute(&mut *conn)
    .await?;
    let keys = state.settings.keys.current().await;
    let seed = session::switch_seed(org_id, &live.token_hash);
    let (successor, successor_hash) = tokens::successor(&keys, "rt", &seed);
    let tokens = session::issue(
        &mut *conn,
        state,
        person,
        org_id,
        role,
        session,
        successor,
        successor_hash,
    )
    .await?;
    session::mark_used(conn, person, org_id).await?;
    Ok(tokens)
}

/// `POST /api/auth/switch` `{organization_id}`: this session (device) moves to another of the
/// caller's organizations. Its refresh token is rotated into one for that organization (the old
/// one dies, as on a refresh), and the answer is what a sign-in answers there.
#[utoipa::path(post, path = "/api/auth/switch", operation_id = "switch_organization", security(("bearer" = [])), request_body = SwitchRequest,
    responses((status = 200, description = "Tokens for the organization, and the caller there; the old refresh token is dead", body = SignedIn),
        (status = 401, description = "`session_ended`: the session was signed out"),
        (status = 404, description = "`organization_not_found`: the caller is not an active member of it")))]
pub async fn switch(
    State(state): State<AppState>,
    user: AuthUser,
    AppJson(body): AppJson<SwitchRequest>,
) -> Result<Json<SignedIn>, ApiError> {
    let org_id = body.organization_id;
    let mut tx = state.pool.begin().await?;
    let role = sqlx::query_scalar!(
        r#"SELECT role AS "role: Role" FROM memberships
           WHERE user_id = $1 AND org_id = $2 AND is_active AND joined_at IS NOT NULL"#,
        user.user_id,
        org_id
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| ApiError::NotFound {
        code: "organization_not_found",
        detail: "you are not an active member of this organization".into(),
    })?;
    let (person, session) = (user.user_id, user.session_id);
    let tokens = move_session(&mut tx, &state, (person, session), org_id, role).await?;
    let from = serde_json::json!({ "organization_id": user.org_id, "session_id": session });
    Entry::new(Action::OrganizationSwitched, person)
        .in_org(org_id)
        .by(Actor::User(person))
        .change(Change::none().after(&from))
        .record(&mut tx)
        .await?;
    let me = me::load(&mut tx, person, org_id).await?;
    tx.commit().await?;
    Ok(Json(SignedIn { me, tokens }))
}
