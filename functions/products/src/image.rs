//! A product's primary image as the API shows it: links to the file and its thumbnails (the
//! thumbnail function writes those shortly after the upload). Setting it is `set_image`'s.

use serde::Serialize;
use shared::AppState;
use shared::error::ApiError;
use shared::storage::{LINK_WINDOW, THUMBNAIL_SIZES, original_key, thumbnail_key};
use sqlx::PgConnection;
use uuid::Uuid;

/// A product's image as links, each good for at least an hour and the same link within that
/// hour (a page's images stay in the browser's cache).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ProductImage {
    pub upload_id: Uuid,
    /// The file as it was sent.
    pub url: String,
    /// 256 pixels on its longer side; null until the thumbnails are made.
    pub thumbnail_url: Option<String>,
    /// 1024 pixels on its longer side; null until the thumbnails are made.
    pub preview_url: Option<String>,
    pub width: Option<i32>,
    pub height: Option<i32>,
}

/// What a product's row holds of its image.
#[derive(Debug, Clone, Default, sqlx::FromRow)]
pub struct ImageRow {
    pub image_width: Option<i32>,
    pub image_height: Option<i32>,
    /// `webp` or `jpeg` once the thumbnails are written.
    pub image_thumbnails: Option<String>,
}

/// The links of the image `upload` of `org` (none where the deployment has no files bucket).
pub async fn links(
    state: &AppState,
    org: Uuid,
    upload: Option<Uuid>,
    row: &ImageRow,
) -> Result<Option<ProductImage>, ApiError> {
    let (Some(upload), Some(files)) = (upload, &state.files) else {
        return Ok(None);
    };
    let bucket = files.bucket().await;
    let link = async |key: String| {
        bucket
            .presigned_get(&key, None, LINK_WINDOW)
            .await
            .map_err(ApiError::Internal)
    };
    let (thumbnail_url, preview_url) = match &row.image_thumbnails {
        Some(format) => (
            Some(link(thumbnail_key(org, upload, THUMBNAIL_SIZES[0], format)).await?),
            Some(link(thumbnail_key(org, upload, THUMBNAIL_SIZES[1], format)).await?),
        ),
        None => (None, None),
    };
    Ok(Some(ProductImage {
        upload_id: upload,
        url: link(original_key(org, upload)).await?,
        thumbnail_url,
        preview_url,
        width: row.image_width,
        height: row.image_height,
    }))
}

/// What a product's image row is: the upload's pixels and thumbnails, read on `conn`.
pub async fn row_of(
    conn: &mut PgConnection,
    org: Uuid,
    upload: Option<Uuid>,
) -> Result<ImageRow, ApiError> {
    let Some(upload) = upload else {
        return Ok(ImageRow::default());
    };
    Ok(sqlx::query_as!(
        ImageRow,
        "SELECT width AS image_width, height AS image_height, thumbnail_format AS image_thumbnails
         FROM uploads WHERE org_id = $1 AND id = $2",
        org,
        upload
    )
    .fetch_optional(conn)
    .await?
    .unwrap_or_default())
}
