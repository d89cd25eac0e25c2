//! `/api/suppliers/{id}/attachments`: files attached to a product (a data sheet, a certificate),
//! behind the products module's permissions (see `shared::storage::attachments`).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use shared::AppState;
use shared::auth::Require;
use shared::auth::caller::{Read, Suppliers, Write};
use shared::error::ApiError;
use shared::http::{AppJson, PathId, PathIds};
use shared::storage::attachments::{self, Attach, Attachment, AttachmentLink, Attachments, Owner};

/// `GET /api/suppliers/{id}/attachments`: oldest first.
#[utoipa::path(get, path = "/api/suppliers/{id}/attachments", operation_id = "list_supplier_attachments", params(("id" = Uuid, Path)),
    responses((status = 200, body = Attachments), (status = 404, description = "No such supplier")))]
pub async fn list(
    mut tenant: Require<Suppliers, Read>,
    PathId(id): PathId,
) -> Result<Json<Attachments>, ApiError> {
    let org = tenant.caller.org_id;
    attachments::list(&mut tenant.db, org, Owner::Supplier, id)
        .await
        .map(Json)
}

/// `POST /api/suppliers/{id}/attachments`: attaches a completed upload (purpose `attachment`).
#[utoipa::path(post, path = "/api/suppliers/{id}/attachments", operation_id = "attach_to_supplier", params(("id" = Uuid, Path)), request_body = Attach,
    responses((status = 201, body = Attachment),
        (status = 404, description = "No such supplier, or `unknown_upload`"),
        (status = 409, description = "`upload_not_completed`, `upload_in_use`, `not_an_attachment`")))]
pub async fn attach(
    mut tenant: Require<Suppliers, Write>,
    PathId(id): PathId,
    AppJson(body): AppJson<Attach>,
) -> Result<(StatusCode, Json<Attachment>), ApiError> {
    let (caller, tx) = tenant.parts();
    let attached = attachments::attach(tx, caller, Owner::Supplier, id, body).await?;
    Ok((StatusCode::CREATED, Json(attached)))
}

/// `GET /api/suppliers/{id}/attachments/{attachment_id}`: with a 5-minute link that downloads
/// the file under its name.
#[utoipa::path(get, path = "/api/suppliers/{id}/attachments/{attachment_id}", operation_id = "get_supplier_attachment",
    params(("id" = Uuid, Path), ("attachment_id" = Uuid, Path)),
    responses((status = 200, body = AttachmentLink), (status = 404, description = "No such supplier or attachment")))]
pub async fn get(
    State(state): State<AppState>,
    mut tenant: Require<Suppliers, Read>,
    PathIds(id, attachment): PathIds,
) -> Result<Json<AttachmentLink>, ApiError> {
    let org = tenant.caller.org_id;
    attachments::link(&state, &mut tenant.db, org, Owner::Supplier, id, attachment)
        .await
        .map(Json)
}

/// `DELETE /api/suppliers/{id}/attachments/{attachment_id}`: the file goes too.
#[utoipa::path(delete, path = "/api/suppliers/{id}/attachments/{attachment_id}", operation_id = "remove_supplier_attachment",
    params(("id" = Uuid, Path), ("attachment_id" = Uuid, Path)),
    responses((status = 204, description = "Removed, file and all"), (status = 404, description = "No such supplier or attachment")))]
pub async fn remove(
    State(state): State<AppState>,
    mut tenant: Require<Suppliers, Write>,
    PathIds(id, attachment): PathIds,
) -> Result<StatusCode, ApiError> {
    attachments::remove(&state, &mut tenant, Owner::Supplier, id, attachment).await?;
    Ok(StatusCode::NO_CONTENT)
}
