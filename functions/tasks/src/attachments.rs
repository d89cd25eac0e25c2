//! `/api/tasks/{id}/attachments` (and under `/api/{user_id}/tasks`): files attached to a task
//! (a photo of the shelf to fix, a form to fill in), reached by whoever reaches the task (see
//! `shared::storage::attachments`).

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use shared::AppState;
use shared::error::ApiError;
use shared::http::AppJson;
use shared::storage::attachments::{
    self, Attach, Attachment, AttachmentLink, Attachments, Owner as On,
};
use uuid::Uuid;

use crate::owner::Owner;

/// The task of the route, which must be the owner's (404 otherwise).
async fn task(owner: &mut Owner) -> Result<Uuid, ApiError> {
    let (org, user, id) = (owner.tenant.caller.org_id, owner.user_id, owner.task_id()?);
    let found = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM tasks WHERE id = $1 AND user_id = $2 AND org_id = $3)
           AS "found!""#,
        id,
        user,
        org
    )
    .fetch_one(&mut *owner.tenant.db)
    .await?;
    if found {
        Ok(id)
    } else {
        Err(ApiError::not_found("task"))
    }
}

/// The `{attachment_id}` of the route.
fn attachment_id(params: &HashMap<String, String>) -> Result<Uuid, ApiError> {
    params
        .get("attachment_id")
        .and_then(|id| id.parse().ok())
        .ok_or_else(|| ApiError::not_found("attachment"))
}

/// `GET /api/tasks/{id}/attachments`: oldest first.
#[utoipa::path(get, path = "/api/tasks/{id}/attachments", operation_id = "list_task_attachments", params(("id" = Uuid, Path)),
    responses((status = 200, body = Attachments), (status = 404, description = "No such task")))]
pub async fn list(mut owner: Owner) -> Result<Json<Attachments>, ApiError> {
    let id = task(&mut owner).await?;
    let org = owner.tenant.caller.org_id;
    attachments::list(&mut owner.tenant.db, org, On::Task, id)
        .await
        .map(Json)
}

/// `POST /api/tasks/{id}/attachments`: attaches a completed upload (purpose `attachment`).
#[utoipa::path(post, path = "/api/tasks/{id}/attachments", operation_id = "attach_to_task", params(("id" = Uuid, Path)), request_body = Attach,
    responses((status = 201, body = Attachment),
        (status = 404, description = "No such task, or `unknown_upload`"),
        (status = 409, description = "`upload_not_completed`, `upload_in_use`, `not_an_attachment`")))]
pub async fn attach(
    mut owner: Owner,
    AppJson(body): AppJson<Attach>,
) -> Result<(StatusCode, Json<Attachment>), ApiError> {
    let id = task(&mut owner).await?;
    let (caller, tx) = owner.tenant.parts();
    let attached = attachments::attach(tx, caller, On::Task, id, body).await?;
    Ok((StatusCode::CREATED, Json(attached)))
}

/// `GET /api/tasks/{id}/attachments/{attachment_id}`: with a 5-minute link that downloads the
/// file under its name.
#[utoipa::path(get, path = "/api/tasks/{id}/attachments/{attachment_id}", operation_id = "get_task_attachment",
    params(("id" = Uuid, Path), ("attachment_id" = Uuid, Path)),
    responses((status = 200, body = AttachmentLink), (status = 404, description = "No such task or attachment")))]
pub async fn get(
    State(state): State<AppState>,
    mut owner: Owner,
    Path(params): Path<HashMap<String, String>>,
) -> Result<Json<AttachmentLink>, ApiError> {
    let id = task(&mut owner).await?;
    let attachment = attachment_id(&params)?;
    let org = owner.tenant.caller.org_id;
    attachments::link(&state, &mut owner.tenant.db, org, On::Task, id, attachment)
        .await
        .map(Json)
}

/// `DELETE /api/tasks/{id}/attachments/{attachment_id}`: the file goes too.
#[utoipa::path(delete, path = "/api/tasks/{id}/attachments/{attachment_id}", operation_id = "remove_task_attachment",
    params(("id" = Uuid, Path), ("attachment_id" = Uuid, Path)),
    responses((status = 204, description = "Removed, file and all"), (status = 404, description = "No such task or attachment")))]
pub async fn remove(
    State(state): State<AppState>,
    mut owner: Owner,
    Path(params): Path<HashMap<String, String>>,
) -> Result<StatusCode, ApiError> {
    let id = task(&mut owner).await?;
    let attachment = attachment_id(&params)?;
    attachments::remove(&state, &mut owner.tenant, On::Task, id, attachment).await?;
    Ok(StatusCode::NO_CONTENT)
}
