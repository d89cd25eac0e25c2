//! `/api/users`: list, create (with a password or an emailed invitation), read, update,
//! deactivate and reactivate. Nobody deactivates or demotes themselves, only owners touch
//! owners, and an organization always keeps an active owner.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use shared::AppState;
use shared::audit::{Action, Change};
use shared::auth::password::Password;
use shared::auth::step_up::Proof;
use shared::auth::{Permissions, RequireAdmin, Role, tokens};
use shared::domain::{self, Email};
use shared::error::{ApiError, Fields, ResultExt};
use shared::http::{AppJson, AppQuery, PathId};
use shared::idempotency::{self, Claim, IdempotencyKey};
use shared::pagination::{Page, PageQuery, contains_pattern};
use sqlx::PgConnection;
use uuid::Uuid;

/// How long an invitation link works.
const INVITATION_TTL_SECS: u64 = 7 * 24 * 3600;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = Person)]
pub struct UserView {
    id: Uuid,
    email: String,
    name: String,
    role: Role,
    /// What was granted to a `user` (`{"module": "read" | "write"}`).
    permissions: serde_json::Value,
    /// What the user can actually reach (owners and admins: everything).
    effective_permissions: serde_json::Value,
    is_active: bool,
    mfa_enabled: bool,
    /// Invited and not yet signed up.
    invitation_pending: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

#[derive(Clone)]
struct UserRow {
    id: Uuid,
    email: String,
    name: String,
    role: Role,
    permissions: serde_json::Value,
    is_active: bool,
    mfa_enabled: bool,
    invitation_pending: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<UserRow> for UserView {
    fn from(r: UserRow) -> Self {
        Self {
            effective_permissions: Permissions::effective(r.role, &r.permissions).to_json(),
            id: r.id,
            email: r.email,
            name: r.name,
            role: r.role,
            permissions: r.permissions,
            is_active: r.is_active,
            mfa_enabled: r.mfa_enabled,
            invitation_pending: r.invitation_pending,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

async fn load(
    conn: &mut PgConnection,
    org_id: Uuid,
    id: Uuid,
    lock: bool,
) -> Result<UserRow, ApiError> {
    let row = if lock {
        sqlx::query_as!(
            UserRow,
            r#"SELECT id, email, name, role AS "role: Role", permissions, is_active, mfa_enabled,
                      password_hash IS NULL AS "invitation_pending!", created_at, updated_at
               FROM users WHERE id = $1 AND org_id = $2 FOR UPDATE"#,
            id,
            org_id
        )
        .fetch_optional(conn)
        .await?
    } else {
        sqlx::query_as!(
            UserRow,
            r#"SELECT id, email, name, role AS "role: Role", permissions, is_active, mfa_enabled,
                      password_hash IS NULL AS "invitation_pending!", created_at, updated_at
               FROM users WHERE id = $1 AND org_id = $2"#,
            id,
            org_id
        )
        .fetch_optional(conn)
        .await?
    };
    row.ok_or_else(|| ApiError::not_found("user"))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    active: Option<bool>,
    role: Option<Role>,
    /// Text search on name and email.
    q: Option<String>,
}

/// `GET /api/users`: the organization's people, oldest first.
#[utoipa::path(get, path = "/api/users", operation_id = "list", params(ListQuery, PageQuery),
    responses((status = 200, description = "People of the organization", body = Page<UserView>)))]
pub async fn list(
    mut admin: RequireAdmin,
    AppQuery(query): AppQuery<ListQuery>,
    AppQuery(page): AppQuery<PageQuery>,
) -> Result<Json<Page<UserView>>, ApiError> {
    let page = page.parse::<(DateTime<Utc>, Uuid)>()?;
    let org_id = admin.caller.org_id;
    let pattern = query
        .q
        .as_deref()
        .map(str::trim)
        .filter(|q| !q.is_empty())
        .map(contains_pattern);
    let (after_at, after_id) = page.after.unzip();
    let rows = sqlx::query_as!(
        UserRow,
        r#"SELECT id, email, name, role AS "role: Role", permissions, is_active, mfa_enabled,
                  password_hash IS NULL AS "invitation_pending!", created_at, updated_at
           FROM users
           WHERE org_id = $1
             AND ($2::bool IS NULL OR is_active = $2)
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
    let total = if page.include_total {
        Some(
            sqlx::query_scalar!(
                r#"SELECT count(*) AS "count!" FROM users
                   WHERE org_id = $1
                     AND ($2::bool IS NULL OR is_active = $2)
                     AND ($3::user_role IS NULL OR role = $3)
                     AND ($4::text IS NULL OR name ILIKE $4 OR email ILIKE $4)"#,
                org_id,
                query.active,
                query.role as Option<Role>,
                pattern,
            )
            .fetch_one(&mut *admin.db)
            .await?,
        )
    } else {
        None
    };
    let page = Page::from_rows(rows, page.limit, total, |u| (u.created_at, u.id));
    Ok(Json(Page {
        items: page.items.into_iter().map(UserView::from).collect(),
        next_cursor: page.next_cursor,
        total: page.total,
    }))
}

/// `GET /api/users/{id}`.
#[utoipa::path(get, path = "/api/users/{id}", params(("id" = Uuid, Path)),
    responses((status = 200, body = UserView)))]
pub async fn get(mut admin: RequireAdmin, PathId(id): PathId) -> Result<Json<UserView>, ApiError> {
    let org_id = admin.caller.org_id;
    Ok(Json(load(&mut admin.db, org_id, id, false).await?.into()))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    #[schema(format = Email, max_length = 254)]
    email: String,
    #[schema(format = "line", min_length = 1, max_length = 200)]
    name: String,
    #[serde(default = "default_role")]
    role: Role,
    #[serde(default)]
    #[schema(schema_with = shared::auth::permissions_schema)]
    permissions: BTreeMap<String, String>,
    /// An initial password; without one, an invitation link is emailed.
    #[schema(format = "new-password")]
    password: Option<String>,
}

fn default_role() -> Role {
    Role::User
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Created {
    #[serde(flatten)]
    user: UserView,
    /// Whether an invitation email went out (no initial password given).
    invitation_sent: bool,
}

/// `POST /api/users`: a new person in the organization.
#[utoipa::path(post, path = "/api/users", operation_id = "create", params(shared::openapi::IdempotencyKeyHeader, shared::openapi::StepUpHeader), request_body = CreateUser,
    responses((status = 201, description = "Created with a password, or invited by email", body = Created),
        (status = 401, description = "`step_up_required`: adding an owner or admin needs a recent confirmation"),
        (status = 409, description = "The email is taken")))]
pub async fn create(
    State(state): State<AppState>,
    mut admin: RequireAdmin,
    proof: Proof,
    key: IdempotencyKey,
    AppJson(body): AppJson<CreateUser>,
) -> Result<Response, ApiError> {
    // Adding an owner or an admin grants power as a role change does.
    if body.role.is_admin() {
        proof.require(&admin)?;
    }
    if body.role == Role::Owner
        && !matches!(
            admin.caller.kind,
            shared::auth::CallerKind::User {
                role: Role::Owner,
                ..
            }
        )
    {
        return Err(ApiError::forbidden(
            "owner_required",
            "only an owner can add an owner",
        ));
    }
    let mut fields = Fields::default();
    let email = fields.check(Email::parse(&body.email, "email"));
    let name = fields.check(domain::name(&body.name, "name", 200));
    // The request as sent identifies a retry (the password is only ever hashed).
    let request_id_body = serde_json::json!({
        "email": body.email, "name": body.name, "role": body.role,
        "permissions": body.permissions, "password": body.password.is_some(),
    });
    let permissions = Permissions::parse_grants(&body.permissions, &mut fields).to_json();
    let password = body
        .password
        .map(|p| fields.check(Password::new(p, "password")));
    let (Some(email), Some(name)) = (email, name) else {
        return Err(fields.into_error());
    };
    if !fields.is_empty() {
        return Err(fields.into_error());
    }
    let password_hash = match password.flatten() {
        Some(password) => Some(password.hash().await?),
        None => None,
    };

    let caller = admin.caller.clone();
    let org_id = caller.org_id;
    let tx = &mut *admin.db;
    let claimed = match idempotency::claim(&mut *tx, &caller, &key, &request_id_body).await? {
        Claim::Replay(response) => return Ok(response),
        Claim::Fresh(claimed) => Some(claimed),
        Claim::Untracked => None,
    };
    let id = sqlx::query_scalar!(
        "INSERT INTO users (org_id, email, name, password_hash, role, permissions)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        org_id,
        email.as_str(),
        name,
        password_hash,
        body.role as Role,
        permissions
    )
    .fetch_one(&mut *tx)
    .await
    .on_constraint("users_email_key", |_| {
        ApiError::conflict("email_taken", "an account with this email already exists")
    })?;
    let invitation = if password_hash.is_none() {
        let (token, hash) = tokens::generate("inv");
        sqlx::query!(
            "INSERT INTO user_invitations (user_id, token_hash, expires_at)
             VALUES ($1, $2, now() + make_interval(secs => $3))",
            id,
            hash,
            INVITATION_TTL_SECS as f64
        )
        .execute(&mut *tx)
        .await?;
        Some(token)
    } else {
        None
    };
    let user: UserView = load(&mut *tx, org_id, id, false).await?.into();
    caller
        .audit(&mut *tx, Action::UserCreated, id, Change::created(&user))
        .await?;
    if let Some(claimed) = claimed {
        // A replay reports the invitation as sent; it never sends a second email.
        let stored = Created {
            user: user.clone(),
            invitation_sent: invitation.is_some(),
        };
        claimed
            .store(&mut *tx, StatusCode::CREATED, &stored)
            .await?;
    }

    let org_name = match invitation {
        Some(_) => Some(
            sqlx::query_scalar!("SELECT name FROM organizations WHERE id = $1", org_id)
                .fetch_one(&mut *tx)
                .await?,
        ),
        None => None,
    };
    // The user exists before the link is mailed, and no transaction waits on the mail server.
    admin.db.suspend(true).await?;

    let mut invitation_sent = false;
    if let (Some(token), Some(org_name)) = (invitation, org_name) {
        let link = format!("{}/accept-invitation?token={token}", state.settings.app_url);
        let text = format!(
            "You have been invited to {org_name} on Stockroom.\n\n\
             To choose your password and sign in, open this link within 7 days:\n\n{link}\n\n\
             The link works once.\n"
        );
        match state
            .mailer
            .send(
                email.as_str(),
                &format!("You're invited to {org_name} on Stockroom"),
                text,
            )
            .await
        {
            Ok(()) => invitation_sent = true,
            Err(error) => tracing::error!(error = %error, "could not send the invitation email"),
        }
    }
    Ok((
        StatusCode::CREATED,
        Json(Created {
            user,
            invitation_sent,
        }),
    )
        .into_response())
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUser {
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
#[utoipa::path(patch, path = "/api/users/{id}", params(("id" = Uuid, Path), shared::openapi::StepUpHeader), request_body = UpdateUser,
    responses((status = 200, body = UserView),
        (status = 401, description = "`step_up_required`: a role or permission change needs a recent confirmation"),
        (status = 409, description = "The organization would lose its last active owner")))]
pub async fn update(
    admin: RequireAdmin,
    proof: Proof,
    PathId(id): PathId,
    AppJson(body): AppJson<UpdateUser>,
) -> Result<Json<UserView>, ApiError> {
    if body.role.is_some() || body.permissions.is_some() {
        proof.require(&admin)?;
    }
    let change = UserChange::try_from(body)?;
    save(admin, id, change).await.map(Json)
}

/// `POST /api/users/{id}/deactivate`: the user can no longer sign in; their sessions end.
#[utoipa::path(post, path = "/api/users/{id}/deactivate", params(("id" = Uuid, Path)),
    responses((status = 200, description = "Deactivated; their sessions are revoked", body = UserView),
        (status = 409, description = "The organization would lose its last active owner")))]
pub async fn deactivate(
    admin: RequireAdmin,
    PathId(id): PathId,
) -> Result<Json<UserView>, ApiError> {
    save(
        admin,
        id,
        UserChange {
            is_active: Some(false),
            ..Default::default()
        },
    )
    .await
    .map(Json)
}

/// `POST /api/users/{id}/reactivate`.
#[utoipa::path(post, path = "/api/users/{id}/reactivate", params(("id" = Uuid, Path)),
    responses((status = 200, body = UserView)))]
pub async fn reactivate(
    admin: RequireAdmin,
    PathId(id): PathId,
) -> Result<Json<UserView>, ApiError> {
    save(
        admin,
        id,
        UserChange {
            is_active: Some(true),
            ..Default::default()
        },
    )
    .await
    .map(Json)
}

/// A change to a person, checked (`None`: unchanged).
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
            name: body
                .name
                .and_then(|n| fields.check(domain::name(&n, "name", 200))),
            role: body.role,
            permissions: body
                .permissions
                .map(|p| Permissions::parse_grants(&p, &mut fields).to_json()),
            is_active: body.is_active,
        };
        if !fields.is_empty() {
            return Err(fields.into_error());
        }
        Ok(change)
    }
}

impl UserChange {
    /// The person with this change made.
    fn apply(self, mut user: UserRow) -> UserRow {
        user.name = self.name.unwrap_or(user.name);
        user.role = self.role.unwrap_or(user.role);
        user.permissions = self.permissions.unwrap_or(user.permissions);
        user.is_active = self.is_active.unwrap_or(user.is_active);
        user
    }
}

/// Makes `change` to person `id` (locked while it is made, with the organization's active
/// owners), audited; refused when it would change one's own role, deactivate oneself, touch an
/// owner without being one, or leave the organization without an active owner.
async fn save(mut admin: RequireAdmin, id: Uuid, change: UserChange) -> Result<UserView, ApiError> {
    let caller = admin.caller.clone();
    let shared::auth::CallerKind::User {
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
    let tx = &mut *admin.db;
    // Lock the organization's active owners first, always in the same order, so concurrent
    // changes cannot remove the last owner and cannot deadlock.
    let owners = sqlx::query_scalar!(
        "SELECT id FROM users WHERE org_id = $1 AND role = 'owner' AND is_active ORDER BY id FOR UPDATE",
        org_id
    )
    .fetch_all(&mut *tx)
    .await?;
    let before = load(&mut *tx, org_id, id, true).await?;
    let next = change.apply(before.clone());

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
    let loses_owner = before.role == Role::Owner
        && before.is_active
        && (next.role != Role::Owner || !next.is_active);
    if loses_owner && owners.len() <= 1 {
        return Err(ApiError::conflict(
            "last_owner",
            "an organization must keep at least one active owner",
        ));
    }

    sqlx::query!(
        "UPDATE users SET name = $3, role = $4, permissions = $5, is_active = $6, updated_at = now()
         WHERE id = $1 AND org_id = $2",
        id,
        org_id,
        next.name,
        next.role as Role,
        next.permissions,
        next.is_active
    )
    .execute(&mut *tx)
    .await?;
    if before.is_active && !next.is_active {
        shared::auth::sessions::revoke_all(&mut *tx, id).await?;
    }
    let after: UserView = load(&mut *tx, org_id, id, false).await?.into();
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
