//! Storage: files a tenant sends straight to S3 and reads back through short-lived links, never
//! through a function (docs/storage.md).
//!
//! An organization's objects live under its own prefix, one folder per upload:
//! `org/<org_id>/<upload_id>/original`, and its thumbnails beside it
//! (`org/<org_id>/<upload_id>/256.webp`, ...). Nothing in a key comes from the client.

pub mod attachments;
pub mod bucket;
pub mod file_type;
pub mod filename;
pub mod removal;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::OnceCell;
use uuid::Uuid;

pub use bucket::{Bucket, PresignedPost};
pub use file_type::FileType;

/// How long a pre-signed upload form works.
pub const UPLOAD_TTL: Duration = Duration::from_secs(300);

/// The window download links are made for: a link works at least this long, and the same
/// object gets the same link within one window (see [`Bucket::presigned_get`]).
pub const LINK_WINDOW: Duration = Duration::from_secs(3600);

/// How many of an object's first bytes a completion reads: enough for a JPEG's frame header
/// after its metadata.
pub const SNIFF_BYTES: u64 = 64 * 1024;

/// The thumbnails made of a product image: the longer side in pixels.
pub const THUMBNAIL_SIZES: [u32; 2] = [256, 1024];

/// The key of an upload's file.
pub fn original_key(org: Uuid, upload: Uuid) -> String {
    format!("org/{org}/{upload}/original")
}

/// The key of an upload's thumbnail of `px` pixels in `format` (`webp`, `jpeg`).
pub fn thumbnail_key(org: Uuid, upload: Uuid, px: u32, format: &str) -> String {
    format!("org/{org}/{upload}/{px}.{format}")
}

/// Every key an upload may have objects at.
pub fn upload_keys(org: Uuid, upload: Uuid, thumbnail_format: Option<&str>) -> Vec<String> {
    let mut keys = vec![original_key(org, upload)];
    // A thumbnail written just before its upload was removed is not recorded yet: both formats.
    for format in thumbnail_format.map_or(vec!["webp", "jpeg"], |f| vec![f]) {
        keys.extend(THUMBNAIL_SIZES.map(|px| thumbnail_key(org, upload, px, format)));
    }
    keys
}

/// The organization and upload an original's key names; `None` for any other key.
pub fn parse_original_key(key: &str) -> Option<(Uuid, Uuid)> {
    let rest = key.strip_prefix("org/")?.strip_suffix("/original")?;
    let (org, upload) = rest.split_once('/')?;
    Some((org.parse().ok()?, upload.parse().ok()?))
}

/// The deployment's files bucket (`AppState::files`), or 503 `storage_unavailable` when it has
/// none.
pub async fn bucket_of(files: Option<&Files>) -> Result<&Bucket, crate::error::ApiError> {
    match files {
        Some(files) => Ok(files.bucket().await),
        None => Err(crate::error::ApiError::NotConfigured {
            code: "storage_unavailable",
            detail: "this deployment has no files bucket (FILES_BUCKET)".into(),
        }),
    }
}

/// Locks the upload `upload` of `org` for a use of `purpose` (`product_image`, `attachment`):
/// 404 `unknown_upload` (on `upload_id`) when the organization has none, 409 when it is for
/// the other purpose, not completed, or already used.
pub async fn take_upload(
    conn: &mut sqlx::PgConnection,
    org: Uuid,
    upload: Uuid,
    purpose: &str,
) -> Result<(), crate::error::ApiError> {
    use crate::error::ApiError;
    let found = sqlx::query!(
        r#"SELECT purpose, completed_at IS NOT NULL AS "completed!",
                  stockroom_upload_in_use(org_id, id) AS "in_use!"
           FROM uploads WHERE org_id = $1 AND id = $2 AND deleted_at IS NULL FOR UPDATE"#,
        org,
        upload
    )
    .fetch_optional(conn)
    .await?
    .ok_or_else(|| ApiError::unknown_reference("upload_id", "unknown_upload", "no such upload"))?;
    if found.purpose != purpose {
        let (code, detail) = match purpose {
            "product_image" => (
                "not_a_product_image",
                "this upload is an attachment; upload the image with purpose product_image",
            ),
            _ => (
                "not_an_attachment",
                "this upload is a product image; upload the file with purpose attachment",
            ),
        };
        return Err(ApiError::conflict(code, detail));
    }
    if !found.completed {
        return Err(ApiError::conflict(
            "upload_not_completed",
            "complete the upload first (POST /api/uploads/{id}/complete)",
        ));
    }
    if found.in_use {
        return Err(ApiError::conflict(
            "upload_in_use",
            "this upload is already in use",
        ));
    }
    Ok(())
}

/// The files bucket (`FILES_BUCKET`), its client made on first use.
#[derive(Clone, Debug)]
pub struct Files {
    name: Arc<str>,
    bucket: Arc<OnceCell<Bucket>>,
}

impl Files {
    pub fn new(name: &str) -> Self {
        Self {
            name: name.into(),
            bucket: Arc::new(OnceCell::new()),
        }
    }

    pub async fn bucket(&self) -> &Bucket {
        self.bucket
            .get_or_init(|| async {
                Bucket::new(&self.name, &crate::config::secrets::sdk_config().await)
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::{original_key, parse_original_key, upload_keys};

    #[test]
    fn an_uploads_objects_share_its_organizations_prefix() {
        let (org, upload) = (Uuid::new_v4(), Uuid::new_v4());
        let key = original_key(org, upload);
        assert_eq!(parse_original_key(&key), Some((org, upload)));
        assert_eq!(
            parse_original_key(&format!("org/{org}/{upload}/256.webp")),
            None
        );
        assert_eq!(
            parse_original_key(&format!("exports/{org}/{upload}/original")),
            None
        );
        for key in upload_keys(org, upload, None) {
            assert!(key.starts_with(&format!("org/{org}/{upload}/")), "{key}");
        }
        assert_eq!(upload_keys(org, upload, Some("jpeg")).len(), 3);
    }
}
