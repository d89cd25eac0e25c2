//! `/api/uploads`: ask for an upload, send the file to S3, complete it.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use shared::AppState;
use shared::auth::Tenant;
use shared::error::ApiError;
use shared::http::{AppJson, PathId};
use shared::storage::removal::remove_upload;
use shared::storage::{UPLOAD_TTL, bucket_of, original_key};
use uuid::Uuid;

use crate::upload::{self, CreateUpload, NewUpload, Purpose, Refusal, Upload, UploadForm, load};

/// `POST /api/uploads`: a pending upload, counted against the organization's storage quota at
/// once, and the form that sends its file straight to S3 (valid 5 minutes; its policy fixes the
/// key, the type and the exact size). Complete it once the file is sent.
#[utoipa::path(post, path = "/api/uploads", operation_id = "create_upload", request_body = CreateUpload,
    responses((status = 201, description = "The pending upload and its form", body = UploadForm),
        (status = 403, description = "`missing_permission`: no write access the purpose needs"),
        (status = 413, description = "`quota_exceeded`: the organization's files would pass its quota (`used_bytes`, `quota_bytes`)"),
        (status = 422, description = "Every invalid field: an unknown purpose, a name that is a path or holds quotes or line breaks, a type not allowed (named), a size of 0 or over the limit"),
        (status = 503, description = "`storage_unavailable`: the deployment has no files bucket")))]
pub async fn create(
    State(state): State<AppState>,
    mut tenant: Tenant,
    AppJson(body): AppJson<CreateUpload>,
) -> Result<(StatusCode, Json<UploadForm>), ApiError> {
    let settings = &state.settings.storage;
    let new = NewUpload::parse(body, settings)?;
    new.purpose.allowed(&tenant.caller)?;
    let bucket = bucket_of(state.files.as_ref()).await?;
    let id = Uuid::new_v4();
    let (caller, tx) = tenant.parts();
    let org = caller.org_id;
    let (user, key) = caller.actor_ids();
    sqlx::query!(
        "INSERT INTO uploads (id, org_id, purpose, filename, content_type, size, actor_user_id,
                              actor_api_key_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        id,
        org,
        new.purpose.as_str(),
        new.filename,
        new.file_type.mime(),
        new.size,
        user,
        key
    )
    .execute(&mut *tx)
    .await?;
    // The trigger counted it; the row is locked until the end of this transaction, so uploads
    // asked for at once are counted one after the other.
    let used = sqlx::query_scalar!("SELECT bytes FROM storage_usage WHERE org_id = $1", org)
        .fetch_one(&mut *tx)
        .await?;
    if used > settings.quota_bytes {
        let before = used - new.size;
        let mut extra = serde_json::Map::new();
        extra.insert("used_bytes".into(), before.into());
        extra.insert("quota_bytes".into(), settings.quota_bytes.into());
        return Err(ApiError::OverLimit {
            code: "quota_exceeded",
            detail: format!(
                "a file of {} bytes would pass the organization's storage quota: {before} of {} \
                 bytes are used",
                new.size, settings.quota_bytes
            ),
            extra,
        });
    }
    let form = bucket
        .presigned_post(
            &original_key(org, id),
            new.file_type.mime(),
            new.size,
            UPLOAD_TTL,
        )
        .await
        .map_err(ApiError::Internal)?;
    let upload = load(tx, org, id).await?;
    Ok((StatusCode::CREATED, Json(UploadForm { upload, form })))
}

/// `GET /api/uploads/{id}`.
#[utoipa::path(get, path = "/api/uploads/{id}", operation_id = "get_upload", params(("id" = Uuid, Path)),
    responses((status = 200, body = Upload), (status = 404, description = "No such upload")))]
pub async fn get(mut tenant: Tenant, PathId(id): PathId) -> Result<Json<Upload>, ApiError> {
    let org = tenant.caller.org_id;
    load(&mut tenant.db, org, id).await.map(Json)
}

/// `POST /api/uploads/{id}/complete`: keeps the file sent with the upload's form if it is there,
/// has the declared size, starts with the declared type's signature and, for an image, has at
/// most `IMAGE_MAX_PIXELS` pixels (read from its header, nothing decoded). A file that fails is
/// deleted with its upload (422). Completing a completed upload answers it again.
#[utoipa::path(post, path = "/api/uploads/{id}/complete", operation_id = "complete_upload", params(("id" = Uuid, Path)),
    responses((status = 200, description = "Complete", body = Upload),
        (status = 404, description = "No such upload (or it was refused and removed)"),
        (status = 409, description = "`upload_not_received`: nothing was sent yet; the upload stays pending"),
        (status = 422, description = "The file is refused and deleted: `size_mismatch`, `content_mismatch` (not the declared type), `invalid_image`, `image_too_large`"),
        (status = 503, description = "`storage_unavailable`")))]
pub async fn complete(
    State(state): State<AppState>,
    mut tenant: Tenant,
    PathId(id): PathId,
) -> Result<Json<Upload>, ApiError> {
    let org = tenant.caller.org_id;
    let before = load(&mut tenant.db, org, id).await?;
    let bucket = bucket_of(state.files.as_ref()).await?;
    if before.completed_at.is_some() {
        return Ok(Json(before));
    }
    before.purpose.allowed(&tenant.caller)?;
    let key = original_key(org, id);
    // S3 is asked with no transaction open.
    tenant.db.suspend(false).await?;
    let verdict = upload::inspect(bucket, &key, &before, &state.settings.storage).await?;
    let dimensions = match verdict {
        Ok(dimensions) => dimensions,
        Err(Refusal::NotReceived) => return Err(Refusal::NotReceived.into()),
        Err(refusal) => {
            tenant.db.resume().await?;
            remove_upload(&mut tenant, Some(bucket), id).await?;
            return Err(refusal.into());
        }
    };
    // Spared by the lifecycle rule from now on.
    bucket.completed(&key).await.map_err(ApiError::Internal)?;
    tenant.db.resume().await?;
    let (width, height) = dimensions.map_or((None, None), |(w, h)| {
        (i32::try_from(w).ok(), i32::try_from(h).ok())
    });
    sqlx::query!(
        "UPDATE uploads SET completed_at = now(), width = $3, height = $4
         WHERE org_id = $1 AND id = $2 AND deleted_at IS NULL AND completed_at IS NULL",
        org,
        id,
        width,
        height
    )
    .execute(&mut *tenant.db)
    .await?;
    load(&mut tenant.db, org, id).await.map(Json)
}

/// `DELETE /api/uploads/{id}`: an upload nothing uses (pending, or completed but not yet a
/// product's image or an attachment) goes with its file; one in use is removed where it is used.
#[utoipa::path(delete, path = "/api/uploads/{id}", operation_id = "delete_upload", params(("id" = Uuid, Path)),
    responses((status = 204, description = "Removed, file and all"),
        (status = 404, description = "No such upload"),
        (status = 409, description = "`upload_in_use`: remove the image or the attachment instead")))]
pub async fn delete(
    State(state): State<AppState>,
    mut tenant: Tenant,
    PathId(id): PathId,
) -> Result<StatusCode, ApiError> {
    let org = tenant.caller.org_id;
    let upload = load(&mut tenant.db, org, id).await?;
    let bucket = bucket_of(state.files.as_ref()).await?;
    let purpose = upload.purpose;
    purpose.allowed(&tenant.caller)?;
    let in_use = sqlx::query_scalar!(
        r#"SELECT stockroom_upload_in_use($1, $2) AS "in_use!""#,
        org,
        id
    )
    .fetch_one(&mut *tenant.db)
    .await?;
    if in_use {
        let place = match purpose {
            Purpose::ProductImage => "the product's image",
            Purpose::Attachment => "the attachment",
        };
        return Err(ApiError::conflict(
            "upload_in_use",
            format!("this upload is in use: remove {place} instead"),
        ));
    }
    remove_upload(&mut tenant, Some(bucket), id).await?;
    Ok(StatusCode::NO_CONTENT)
}
