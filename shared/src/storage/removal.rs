//! Removing an upload, file and all, without ever deleting from S3 inside a transaction.

use uuid::Uuid;

use super::{Bucket, upload_keys};
use crate::auth::Tenant;
use crate::error::ApiError;

/// Removes the upload `upload` of the tenant's organization: marked removed (its room freed)
/// and committed with whatever the request did before, then its objects deleted, then its row,
/// committed too (so it stands even when the request answers an error, as a refused
/// completion does). Without a bucket, or when S3 fails, the upload stays marked and the
/// scheduler's `purge_uploads` finishes the job.
pub async fn remove_upload(
    tenant: &mut Tenant,
    bucket: Option<&Bucket>,
    upload: Uuid,
) -> Result<(), ApiError> {
    let org = tenant.caller.org_id;
    let thumbnails = sqlx::query_scalar!(
        "UPDATE uploads SET deleted_at = now() WHERE org_id = $1 AND id = $2
         RETURNING thumbnail_format",
        org,
        upload
    )
    .fetch_optional(&mut *tenant.db)
    .await?
    .flatten();
    tenant.db.suspend(true).await?;
    let Some(bucket) = bucket else {
        return Ok(());
    };
    if let Err(error) = bucket
        .delete(&upload_keys(org, upload, thumbnails.as_deref()))
        .await
    {
        tracing::warn!(error = format!("{error:#}"), %upload, "an upload's objects stay for the scheduler");
        return Ok(());
    }
    tenant.db.resume().await?;
    sqlx::query!(
        "DELETE FROM uploads WHERE org_id = $1 AND id = $2 AND deleted_at IS NOT NULL",
        org,
        upload
    )
    .execute(&mut *tenant.db)
    .await?;
    tenant.db.suspend(true).await?;
    Ok(())
}
