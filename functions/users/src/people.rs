//! `/api/users`: the organization's members (people and their membership: role, permissions,
//! standing) — list, read, update, deactivate and reactivate. A person may belong to several
//! organizations; everything here changes their membership of this one only. Nobody
//! deactivates or demotes themselves, only owners touch owners, and an organization always
//! keeps an active owner. Adding someone is an invitation ([`crate::invitations`]); the member
//! as the API shows it is [`crate::member`]'s.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use shared::AppState;
use shared::audit::{Action, Change};
use shared::auth::membership::tell_owners_of_new_admin;
use shared::auth::step_up::Proof;
use shared::auth::{CallerKind, Permissions, RequireAdmin, Role};
use shared::domain;
use shared::error::{ApiError, Fields};
use shared::http::pagination::{Page, PageQuery, PageRequest, contains_pattern};
use shared::http::{AppJson, AppQuery, PathId};
use uuid::Uuid;

use crate::member::{UserRow, UserView, load, lock};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    active: Option<bool>,
    role: Option<Role>,
    /// Text search on name and email.
    q: Option<String>,
}

/// `GET /api/users`: the organization's members (invited ones too), oldest first.
#[utoipa::path(get, path = "/api/users", operation_id = "list", params(ListQuery, PageQuery),
    responses((status = 200, description = "Members of the organization", body = Page<UserView>)))]
pub async fn list(
    mut admin: RequireAdmin,
    AppQuery(query): AppQuery<ListQuery>,
    page: PageRequest<(DateTime<Utc>, Uuid)>,
) -> Result<Json<Page<UserView>>, ApiError> {
    let org_id = admin.caller.org_id;
    let pattern = query
        .q
        .as_deref()
        .map(str::trim)
        .filter(|q| !q.is_empty())
        .map(contains_pattern);
    let (after_at, after_id) = page.after.unzip();
    let total = page
        .total(
            sqlx::query_scalar!(
                r#"SELECT count(*) AS "count!"
                   FROM memberships m JOIN users u ON u.id = m.user_id
                   WHERE m.org_id = $1
                     AND ($2::bool IS NULL OR m.is_active = $2)
                     AND ($3::user_role IS NULL OR m.role = $3)
                     AND ($4::text IS NULL
                          OR CASE WHEN m.joined_at IS NULL
                                  THEN coalesce(m.invited_name, u.name) ILIKE $4
                                       OR coalesce(m.invited_email, u.email) ILIKE $4
                                  ELSE u.name ILIKE $4 OR u.email ILIKE $4 END)"#,
                org_id,
                query.active,
                query.role as Option<Role>,
                pattern,
            )
            .fetch_one(&mut *admin.db),
        )
        .await?;
    let rows = sqlx::query_as!(
        UserRow,
        r#"SELECT id AS "id!", email AS "email!", name AS "name!", role AS "role!: Role",
                  permissions AS "permissions!", is_active AS "is_active!",
                  mfa_enabled AS "mfa_enabled!", joined AS "joined!",
                  created_at AS "created_at!", updated_at AS "updated_at!"
           FROM (SELECT u.id,
                        CASE WHEN m.joined_at IS NULL THEN coalesce(m.invited_email, u.email)
                             ELSE u.email END AS email,
                        CASE WHEN m.joined_at IS NULL THEN coalesce(m.invited_name, u.name)
                             ELSE u.name END AS name,
                        m.role, m.permissions, m.is_active, u.mfa_enabled,
                        m.joined_at IS NOT NULL AS joined, m.created_at, m.updated_at
                 FROM memberships m JOIN users u ON u.id = m.user_id
                 WHERE m.org_id = $1) member
           WHERE ($2::bool IS NULL OR is_active = $2)
             AND ($3::user_role IS NULL OR role = $3)
             AND ($4::text IS NULL OR name ILIKE $4 OR email ILIKE $4)
             AND ($5::timestamptz IS NULL OR (created_at, id) > ($5, $6))
           ORDER BY created_at, id
           LIMIT $7"#,
        org_id,
        query.active,
        query.role as Option<Role>,
        pattern,
        after_at,
        after_id,
        page.limit + 1
    )
    .fetch_all(&mut *admin.db)
    .await?;
    Ok(Json(
        Page::from_rows(rows, page.limit, total, |u| (u.created_at, u.id)).map(UserView::from),
    ))
}

/// `GET /api/users/{id}`.
#[utoipa::path(get, path = "/api/users/{id}", params(("id" = Uuid, Path)),
    responses((status = 200, body = UserView)))]
pub async fn get(mut admin: RequireAdmin, PathId(id): PathId) -> Result<Json<UserView>, ApiError> {
    let org_id = admin.caller.org_id;
    Ok(Json(load(&mut admin.db, org_id, id).await?.into()))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUser {
    /// Your own name; an invited member's (until they accept). Everyone else's name is theirs.
    #[schema(value_type = String, format = "line", min_length = 1, max_length = 200)]
    #[serde(default, deserialize_with = "domain::non_null")]
    name: Option<String>,
    #[schema(value_type = Role)]
    #[serde(default, deserialize_with = "domain::non_null")]
    role: Option<Role>,
    #[schema(schema_with = shared::auth::permissions_schema)]
    #[serde(default, deserialize_with = "domain::non_null")]
    permissions: Option<BTreeMap<String, String>>,
    #[schema(value_type = bool)]
    #[serde(default, deserialize_with = "domain::non_null")]
    is_active: Option<bool>,
}

/// `PATCH /api/users/{id}`: name, role, module permissions, active. Changing a role or
/// permissions needs a step-up (`X-Step-Up-Token`).
#[utoipa::path(patch, path = "/api/users/{id}", params(("id" = Uuid, Path), shared::http::openapi::StepUpHeader), request_body = UpdateUser,
    responses((status = 200, body = UserView),
        (status = 401, description = "`step_up_required`: a role or permission change needs a recent confirmation"),
        (status = 403, description = "`name_is_personal`: another member's name is theirs to change; `owner_required`; `cannot_change_own_role`; `cannot_deactivate_self`"),
        (status = 409, description = "The organization would lose its last active owner")))]
pub async fn update(
    State(state): State<AppState>,
    admin: RequireAdmin,
    proof: Proof,
    PathId(id): PathId,
    AppJson(body): AppJson<UpdateUser>,
) -> Result<Json<UserView>, ApiError> {
    let mut admin = admin;
    if body.role.is_some() || body.permissions.is_some() {
        proof.redeem(&mut admin, &state.pool).await?;
    }
    let change = UserChange::try_from(body)?;
    save(&state, admin, id, change).await.map(Json)
}

/// `POST /api/users/{id}/deactivate`: the member can no longer use this organization: its tokens
/// are refused at once and the sessions in it end (their other organizations are untouched); an
/// invitation is cancelled.
#[utoipa::path(post, path = "/api/users/{id}/deactivate", params(("id" = Uuid, Path)),
    responses((status = 200, description = "Deactivated: this organization refuses their tokens at once", body = UserView),
        (status = 409, description = "The organization would lose its last active owner")))]
pub async fn deactivate(
    State(state): State<AppState>,
    admin: RequireAdmin,
    PathId(id): PathId,
) -> Result<Json<UserView>, ApiError> {
    let change = UserChange {
        is_active: Some(false),
        ..Default::default()
    };
    save(&state, admin, id, change).await.map(Json)
}

/// `POST /api/users/{id}/reactivate`.
#[utoipa::path(post, path = "/api/users/{id}/reactivate", params(("id" = Uuid, Path)),
    responses((status = 200, description = "Active again (an invited member is invited again: send a new link with `POST /api/users/{id}/invitation`)", body = UserView)))]
pub async fn reactivate(
    State(state): State<AppState>,
    admin: RequireAdmin,
    PathId(id): PathId,
) -> Result<Json<UserView>, ApiError> {
    let change = UserChange {
        is_active: Some(true),
        ..Default::default()
    };
    save(&state, admin, id, change).await.map(Json)
}

/// A change to a member, checked (`None`: unchanged).
#[derive(Default)]
struct UserChange {
    name: Option<String>,
    role: Option<Role>,
    /// The grants, as stored.
    permissions: Option<serde_json::Value>,
    is_active: Option<bool>,
}

impl TryFrom<UpdateUser> for UserChange {
    type Error = ApiError;

    /// Every invalid field in one 422.
    fn try_from(body: UpdateUser) -> Result<Self, ApiError> {
        let mut fields = Fields::default();
        let change = Self {
            name: fields.new_name(body.name, "name", 200),
            role: body.role,
            permissions: body
                .permissions
                .map(|p| Permissions::parse_grants(&p, &mut fields).to_json()),
            is_active: body.is_active,
        };
        fields.finish(change)
    }
}

impl UserChange {
    /// The member with this change made.
    fn apply(self, mut user: UserRow) -> UserRow {
        shared::edit!(self => user; name, role, permissions, is_active);
        user
    }
}

/// Makes `change` to member `id` (locked while it is made, with the organization's active
/// owners), audited; refused when it would change one's own role, deactivate oneself, touch an
/// owner without being one, rename another member who has joined, or leave the organization
/// without an active owner. Making someone an owner or admin starts their cooling-off and mails
/// every owner.
async fn save(
    state: &AppState,
    mut admin: RequireAdmin,
    id: Uuid,
    change: UserChange,
) -> Result<UserView, ApiError> {
    let (caller, tx) = admin.parts();
    let CallerKind::User {
        user_id: caller_id,
        role: caller_role,
        ..
    } = caller.kind
    else {
        return Err(ApiError::forbidden(
            "admin_required",
            "only owners and admins can do this",
        ));
    };
    let org_id = caller.org_id;
    // Lock the organization's active owners first, always in the same order, so concurrent
    // changes cannot remove the last owner and cannot deadlock.
    let owners = sqlx::query_scalar!(
        "SELECT user_id FROM memberships
         WHERE org_id = $1 AND role = 'owner' AND is_active AND joined_at IS NOT NULL
         ORDER BY user_id FOR UPDATE",
        org_id
    )
    .fetch_all(&mut *tx)
    .await?;
    lock(&mut *tx, org_id, id).await?;
    let before = load(&mut *tx, org_id, id).await?;
    let renames = change.name.as_ref().is_some_and(|n| *n != before.name);
    let next = change.apply(before.clone());

    if renames && before.joined && id != caller_id {
        return Err(ApiError::forbidden(
            "name_is_personal",
            "a member's name is theirs: they change it themselves",
        ));
    }
    if id == caller_id && next.role != before.role {
        return Err(ApiError::forbidden(
            "cannot_change_own_role",
            "nobody can change their own role",
        ));
    }
    if id == caller_id && !next.is_active {
        return Err(ApiError::forbidden(
            "cannot_deactivate_self",
            "nobody can deactivate themselves",
        ));
    }
    if (before.role == Role::Owner || next.role == Role::Owner) && caller_role != Role::Owner {
        return Err(ApiError::forbidden(
            "owner_required",
            "only an owner can change an owner or make one",
        ));
    }
    let counts_as_owner = |m: &UserRow| m.role == Role::Owner && m.is_active && m.joined;
    if counts_as_owner(&before) && !counts_as_owner(&next) && owners.len() <= 1 {
        return Err(ApiError::conflict(
            "last_owner",
            "an organization must keep at least one active owner",
        ));
    }

    // Made an owner or admin by someone else (a user made admin, anyone made owner): their
    // cooling-off starts now, and every owner is told.
    let rank = |role: Role| match role {
        Role::User => 0,
        Role::Admin => 1,
        Role::Owner => 2,
    };
    let promoted = next.is_active && rank(next.role) > rank(before.role);
    sqlx::query!(
        "UPDATE memberships SET role = $3, permissions = $4, is_active = $5,
             invited_name = CASE WHEN joined_at IS NULL THEN $6 ELSE invited_name END,
             admin_granted_at = CASE WHEN $7 THEN now() ELSE admin_granted_at END,
             admin_granted_by = CASE WHEN $7 THEN $8 ELSE admin_granted_by END,
             updated_at = now()
         WHERE user_id = $1 AND org_id = $2",
        id,
        org_id,
        next.role as Role,
        next.permissions,
        next.is_active,
        next.name,
        promoted,
        caller_id
    )
    .execute(&mut *tx)
    .await?;
    if renames && before.joined {
        // One's own name, for every organization.
        sqlx::query!(
            "UPDATE users SET name = $2, updated_at = now() WHERE id = $1",
            id,
            next.name
        )
        .execute(&mut *tx)
        .await?;
    }
    if before.is_active && !next.is_active {
        // The sessions (devices) that are in this organization end; those the person has
        // switched to another of their organizations go on.
        sqlx::query!(
            "UPDATE refresh_tokens SET revoked_at = now()
             WHERE revoked_at IS NULL AND family_id IN (
                 SELECT family_id FROM refresh_tokens
                 WHERE user_id = $1 AND org_id = $2 AND rotated_at IS NULL AND revoked_at IS NULL)",
            id,
            org_id
        )
        .execute(&mut *tx)
        .await?;
    }
    if !before.joined && before.is_active != next.is_active {
        // A cancelled invitation's link dies; a renewed one needs a new link.
        crate::member::void_invitation_links(&mut *tx, org_id, id).await?;
    }
    let after: UserView = load(&mut *tx, org_id, id).await?.into();
    if promoted && next.joined {
        let by = sqlx::query_scalar!("SELECT name FROM users WHERE id = $1", caller_id)
            .fetch_one(&mut *tx)
            .await?;
        let who = (after.name.as_str(), after.email.as_str());
        let cooling_off = state.settings.admin_cooling_off;
        tell_owners_of_new_admin(
            &mut *tx,
            &state.outbox,
            org_id,
            who,
            next.role,
            &by,
            cooling_off,
        )
        .await?;
    }
    let before: UserView = before.into();
    let action = match (before.is_active, after.is_active) {
        (true, false) => Action::UserDeactivated,
        (false, true) => Action::UserReactivated,
        _ => Action::UserUpdated,
    };
    caller
        .audit(tx, action, id, Change::updated(&before, &after))
        .await?;
    Ok(after)
}
