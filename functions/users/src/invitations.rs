//! Adding someone to the organization: `POST /api/users` invites an address, and
//! `POST /api/users/{id}/invitation` sends an invitation again.
//!
//! Nobody gets a password chosen by someone else, and no address is taken by being invited: the
//! invited person accepts with the link (choosing their password if the address has no account
//! yet, or signing in if it has one; `POST /api/auth/invitation/accept`). The answer is the same
//! whether or not the address has an account, and the mail, whose text depends on that, goes out
//! after it. An organization sends at most `INVITATIONS_PER_HOUR` invitations an hour.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use shared::AppState;
use shared::audit::{Action, Change};
use shared::auth::membership::tell_owners_of_admin_invitation;
use shared::auth::step_up::Proof;
use shared::auth::{CallerKind, Permissions, RequireAdmin, Role, tokens};
use shared::domain::Email;
use shared::email::outbox::{Mail, Text};
use shared::error::{ApiError, Fields, ResultExt};
use shared::http::idempotency::{self, Claim, IdempotencyKey};
use shared::http::{AppJson, PathId};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::member::{self, UserView};

/// How long an invitation link works.
const INVITATION_TTL_SECS: u64 = 7 * 24 * 3600;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    #[schema(format = Email, max_length = 254)]
    email: String,
    /// The name the invitation is made out to (the person's own name once they join).
    #[schema(format = "line", min_length = 1, max_length = 200)]
    name: String,
    /// `user` when left out.
    #[serde(default = "default_role")]
    role: Role,
    /// What a `user` may reach, module by module; left out, a `user` reaches no module until
    /// granted one (owners and admins reach everything whatever it says).
    #[serde(default)]
    #[schema(schema_with = shared::auth::permissions_schema)]
    permissions: BTreeMap<String, String>,
    /// Not part of the document: refused with a 422 that says why (members choose their own
    /// password when they accept), rather than as an unknown member.
    #[schema(ignore)]
    password: Option<serde_json::Value>,
}

/// A [`CreateUser`] checked.
struct NewInvitation {
    email: Email,
    name: String,
    role: Role,
    permissions: serde_json::Value,
}

impl TryFrom<CreateUser> for NewInvitation {
    type Error = ApiError;

    /// Every invalid field in one 422; a password is refused with why.
    fn try_from(body: CreateUser) -> Result<Self, ApiError> {
        let mut fields = Fields::default();
        let email = fields.check(Email::parse(&body.email, "email"));
        let name = fields.name(&body.name, "name", 200);
        let permissions = Permissions::parse_grants(&body.permissions, &mut fields).to_json();
        if body.password.is_some() {
            fields.add(shared::error::FieldError::new(
                "password",
                "not_allowed",
                "members choose their own password: they are invited by email",
            ));
        }
        match (email, name) {
            (Some(email), Some(name)) if fields.is_empty() => Ok(Self {
                email,
                name,
                role: body.role,
                permissions,
            }),
            _ => Err(fields.into_error()),
        }
    }
}

fn default_role() -> Role {
    Role::User
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Created {
    #[serde(flatten)]
    user: UserView,
    /// The invitation email is queued (it goes out after this answer).
    invitation_sent: bool,
}

/// `POST /api/users`: invites an address to the organization (honours `Idempotency-Key`); the
/// member is `invited` until they accept.
#[utoipa::path(post, path = "/api/users", operation_id = "create", params(shared::http::openapi::IdempotencyKeyHeader, shared::http::openapi::StepUpHeader), request_body = CreateUser,
    responses((status = 201, description = "Invited: the member, `status: invited`", body = Created),
        (status = 401, description = "`step_up_required`: inviting an owner or admin needs a recent confirmation"),
        (status = 409, description = "`already_member`: the address is a member or invited already"),
        (status = 422, description = "Invalid fields; `password`: members choose their own password"),
        (status = 429, description = "`invitation_limit`: the organization sent its invitations for this hour")))]
pub async fn create(
    State(state): State<AppState>,
    mut admin: RequireAdmin,
    proof: Proof,
    key: IdempotencyKey,
    AppJson(body): AppJson<CreateUser>,
) -> Result<Response, ApiError> {
    // Inviting an owner or an admin grants power as a role change does.
    if body.role.is_admin() {
        proof.redeem(&mut admin, &state.pool).await?;
    }
    let CallerKind::User {
        user_id: inviter,
        role: inviter_role,
        ..
    } = admin.caller.kind
    else {
        return Err(ApiError::forbidden(
            "admin_required",
            "only owners and admins can do this",
        ));
    };
    if body.role == Role::Owner && inviter_role != Role::Owner {
        return Err(ApiError::forbidden(
            "owner_required",
            "only an owner can add an owner",
        ));
    }
    let request = serde_json::json!({
        "email": body.email, "name": body.name, "role": body.role,
        "permissions": body.permissions,
    });
    let NewInvitation {
        email,
        name,
        role,
        permissions,
    } = NewInvitation::try_from(body)?;
    let (caller, tx) = admin.parts();
    let org_id = caller.org_id;
    let claimed = match idempotency::claim(&mut *tx, caller, &key, &request).await? {
        Claim::Replay(response) => return Ok(response),
        Claim::Fresh(claimed) => Some(claimed),
        Claim::Untracked => None,
    };
    within_hourly_limit(&mut *tx, &state, org_id).await?;
    // The address's person, found or made (without a password), the same way either way.
    let id = sqlx::query_scalar!(
        r#"SELECT stockroom_invite_person($1, $2) AS "id!""#,
        email.as_str(),
        name
    )
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query!(
        "INSERT INTO memberships (org_id, user_id, role, permissions, invited_by, invited_at,
                                  invited_name, invited_email, admin_granted_at, admin_granted_by)
         VALUES ($1, $2, $3, $4, $5, now(), $6, $7,
                 CASE WHEN $8 THEN now() END, CASE WHEN $8 THEN $5::uuid END)",
        org_id,
        id,
        role as Role,
        permissions,
        inviter,
        name,
        email.as_str(),
        role.is_admin()
    )
    .execute(&mut *tx)
    .await
    .on_constraint("memberships_pkey", |_| {
        ApiError::conflict_on(
            "email",
            "already_member",
            "this address is already a member of the organization, or invited",
        )
    })?;
    send_invitation(&mut *tx, &state, org_id, id, inviter).await?;
    if role.is_admin() {
        let by = sqlx::query_scalar!("SELECT name FROM users WHERE id = $1", inviter)
            .fetch_one(&mut *tx)
            .await?;
        let outbox = &state.outbox;
        tell_owners_of_admin_invitation(&mut *tx, outbox, org_id, email.as_str(), role, &by)
            .await?;
    }
    let user: UserView = member::load(&mut *tx, org_id, id).await?.into();
    caller
        .audit(&mut *tx, Action::UserInvited, id, Change::created(&user))
        .await?;
    let created = Created {
        user,
        invitation_sent: true,
    };
    if let Some(claimed) = claimed {
        claimed
            .store(&mut *tx, StatusCode::CREATED, &created)
            .await?;
    }
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

/// `POST /api/users/{id}/invitation`: sends the invitation of an invited member again, with a
/// new link (the old one stops working).
#[utoipa::path(post, path = "/api/users/{id}/invitation", operation_id = "resend_invitation", params(("id" = Uuid, Path)),
    responses((status = 200, description = "A new invitation is queued", body = UserView),
        (status = 409, description = "`not_invited`: the member has joined, or the invitation was cancelled"),
        (status = 429, description = "`invitation_limit`")))]
pub async fn resend(
    State(state): State<AppState>,
    mut admin: RequireAdmin,
    PathId(id): PathId,
) -> Result<Json<UserView>, ApiError> {
    let (caller, tx) = admin.parts();
    let inviter = caller.user_id().ok_or_else(|| {
        ApiError::forbidden("admin_required", "only owners and admins can do this")
    })?;
    let org_id = caller.org_id;
    member::lock(&mut *tx, org_id, id).await?;
    let member = member::load(&mut *tx, org_id, id).await?;
    if member.joined || !member.is_active {
        return Err(ApiError::conflict(
            "not_invited",
            "only a member still invited (not joined, not cancelled) can be invited again",
        ));
    }
    within_hourly_limit(&mut *tx, &state, org_id).await?;
    member::void_invitation_links(&mut *tx, org_id, id).await?;
    send_invitation(&mut *tx, &state, org_id, id, inviter).await?;
    let user: UserView = member.into();
    caller
        .audit(
            &mut *tx,
            Action::UserInvited,
            id,
            Change::none().after(&user),
        )
        .await?;
    Ok(Json(user))
}

/// 429 `invitation_limit` when the organization sent `INVITATIONS_PER_HOUR` invitations in the
/// last hour (counted from its audit log, which nothing can take back; the organization's row is
/// locked meanwhile, so two requests cannot both take the last one).
async fn within_hourly_limit(
    conn: &mut PgConnection,
    state: &AppState,
    org_id: Uuid,
) -> Result<(), ApiError> {
    sqlx::query_scalar!(
        "SELECT 1 AS one FROM organizations WHERE id = $1 FOR UPDATE",
        org_id
    )
    .fetch_one(&mut *conn)
    .await?;
    let sent = sqlx::query!(
        r#"SELECT count(*) AS "count!",
                  ceil(extract(epoch FROM min(created_at) + interval '1 hour' - now()))::bigint
                      AS retry_after
           FROM audit_log
           WHERE org_id = $1 AND action = $2 AND created_at > now() - interval '1 hour'"#,
        org_id,
        Action::UserInvited.name()
    )
    .fetch_one(&mut *conn)
    .await?;
    if sent.count >= state.settings.invitations_per_hour {
        return Err(ApiError::RateLimited {
            retry_after_secs: sent.retry_after.unwrap_or(3600).max(1) as u64,
        });
    }
    Ok(())
}

/// A new invitation link for member `id` of `org_id`, mailed after the response: to choose a
/// password, or, for an address that has an account, to sign in and accept.
async fn send_invitation(
    conn: &mut PgConnection,
    state: &AppState,
    org_id: Uuid,
    id: Uuid,
    inviter: Uuid,
) -> Result<(), ApiError> {
    let (token, hash) = tokens::generate("inv");
    sqlx::query!(
        "INSERT INTO user_invitations (user_id, org_id, token_hash, expires_at)
         VALUES ($1, $2, $3, now() + make_interval(secs => $4))",
        id,
        org_id,
        hash,
        INVITATION_TTL_SECS as f64
    )
    .execute(&mut *conn)
    .await?;
    let names = sqlx::query!(
        r#"SELECT o.name AS org, i.name AS inviter, m.invited_email AS "email!"
           FROM organizations o, users i, memberships m
           WHERE o.id = $1 AND i.id = $2 AND m.org_id = $1 AND m.user_id = $3"#,
        org_id,
        inviter,
        id
    )
    .fetch_one(&mut *conn)
    .await?;
    let (org, who) = (&names.org, &names.inviter);
    let link = format!("{}/accept-invitation?token={token}", state.settings.app_url);
    let subject = format!("{who} invited you to {org} on Stockroom");
    let new_person = Text::new(
        subject.clone(),
        format!(
            "{who} invited you to join {org} on Stockroom.\n\n\
             To choose your password and join, open this link within 7 days:\n\n{link}\n\n\
             The link works once. If you did not expect this, ignore this email.\n"
        ),
    );
    let has_account = Text::new(
        subject,
        format!(
            "{who} invited you to join {org} on Stockroom.\n\n\
             You already have a Stockroom account with this address: open this link within \
             7 days and sign in with it to join:\n\n{link}\n\n\
             The link works once. If you did not expect this, ignore this email.\n"
        ),
    );
    let mail = Mail::depending_on_account("invitation", names.email, Some(new_person), has_account);
    state.outbox.queue(conn, Some(org_id), mail).await?;
    Ok(())
}
