//! Whose tasks a request reaches: the [`Owner`] extractor every route takes.

use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::request::Parts;
use shared::auth::Tenant;
use shared::error::ApiError;
use shared::state::HasApp;
use uuid::Uuid;

/// Whose tasks a request reaches, after checking the caller: a user (tasks belong to people,
/// not API keys; no module grant is needed for one's own), the `{user_id}` of the path (only
/// owners and admins reach someone else's: team to-dos), and the task `{id}` if the route has
/// one.
pub struct Owner {
    pub tenant: Tenant,
    /// The person whose tasks these are.
    pub user_id: Uuid,
    /// The caller, who is recorded as the one who acted (and who made a task).
    pub actor: Uuid,
    pub task_id: Option<Uuid>,
}

impl<S: HasApp> FromRequestParts<S> for Owner {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let mut tenant = Tenant::from_request_parts(parts, state).await?;
        let actor = tenant.caller.user_id().ok_or_else(|| {
            ApiError::forbidden("user_required", "tasks belong to users; API keys have none")
        })?;
        let mut user_id = actor;
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::not_found("task"))?;
        let mut task_id = None;
        for (name, value) in &params {
            match name {
                // Not an id at all: no such path (404), as for any malformed id.
                "user_id" if value.parse::<Uuid>().is_err() => {
                    return Err(ApiError::not_found("user"));
                }
                "user_id" => {
                    let requested = value
                        .parse::<Uuid>()
                        .map_err(|_| ApiError::not_found("user"))?;
                    if requested != actor {
                        // Owners and admins manage their organization's members; any other id,
                        // whether or not it is a person anywhere, is one the caller may not
                        // manage: the same 403, which tells nothing about that id.
                        let manages =
                            tenant.caller.is_admin() && is_member(&mut tenant, requested).await?;
                        if !manages {
                            tracing::warn!(
                                caller = %actor,
                                requested = value,
                                "tasks of another user requested"
                            );
                            return Err(ApiError::forbidden(
                                "other_user",
                                "User ID mismatch: you can only reach your own tasks; owners and \
                                 admins reach their organization's members'",
                            ));
                        }
                    }
                    user_id = requested;
                }
                "id" => {
                    task_id = Some(
                        value
                            .parse::<Uuid>()
                            .map_err(|_| ApiError::not_found("task"))?,
                    )
                }
                _ => {}
            }
        }
        Ok(Self {
            tenant,
            user_id,
            actor,
            task_id,
        })
    }
}

impl Owner {
    /// The `{id}` of the route (every route that asks for it has one).
    pub fn task_id(&self) -> Result<Uuid, ApiError> {
        self.task_id.ok_or_else(|| ApiError::not_found("task"))
    }
}

/// Whether `user` is a member of the tenant's organization.
async fn is_member(tenant: &mut Tenant, user: Uuid) -> Result<bool, ApiError> {
    let org = tenant.caller.org_id;
    Ok(sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM memberships WHERE user_id = $1 AND org_id = $2) AS "member!""#,
        user,
        org
    )
    .fetch_one(&mut *tenant.db)
    .await?)
}
