//! An upload as the API shows it, what a request for one must hold, and what a completion
//! finds in the bucket.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use shared::auth::{Caller, Module};
use shared::config::StorageSettings;
use shared::error::{ApiError, FieldError, Fields};
use shared::storage::{Bucket, FileType, PresignedPost, SNIFF_BYTES, filename};
use sqlx::PgConnection;
use uuid::Uuid;

/// What an upload is for: a product's image (an image type; needs write access to products) or
/// an attachment (any allowed type; attaching it checks the access to what it goes on).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    ProductImage,
    Attachment,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ProductImage => "product_image",
            Self::Attachment => "attachment",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        [Self::ProductImage, Self::Attachment]
            .into_iter()
            .find(|p| p.as_str() == text)
    }

    /// Whether `caller` may upload for this purpose: 403 otherwise. Anyone signed in may
    /// upload an attachment (everyone has their own tasks); an API key needs write access
    /// somewhere attachments go.
    pub fn allowed(self, caller: &Caller) -> Result<(), ApiError> {
        if self == Self::Attachment && caller.user_id().is_some() {
            return Ok(());
        }
        let (modules, needed): (&[Module], _) = match self {
            Self::ProductImage => (&[Module::Products], "write access to products"),
            Self::Attachment => (
                &[
                    Module::Products,
                    Module::Suppliers,
                    Module::Purchasing,
                    Module::Tasks,
                ],
                "write access to products, suppliers, purchasing or tasks",
            ),
        };
        if modules.iter().any(|m| caller.can(*m, true)) {
            Ok(())
        } else {
            Err(ApiError::forbidden(
                "missing_permission",
                format!("an upload for a {} needs {needed}", self.as_str()),
            ))
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum UploadStatus {
    /// Asked for; the file is not confirmed yet.
    Pending,
    /// Completed: the file is there and is what it claims to be.
    Complete,
}

/// An upload of the organization.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Upload {
    pub id: Uuid,
    pub purpose: Purpose,
    pub filename: String,
    /// One of `image/jpeg`, `image/png`, `image/webp`, `application/pdf`.
    pub content_type: String,
    /// In bytes.
    pub size: i64,
    pub status: UploadStatus,
    /// An image's pixels (null for a PDF, and until it is completed).
    pub width: Option<i32>,
    pub height: Option<i32>,
    pub created_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
}

/// `POST /api/uploads`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUpload {
    /// `product_image` or `attachment`.
    #[schema(value_type = Purpose)]
    pub purpose: String,
    /// The file's name as the person knows it (no path; at most 255 characters).
    #[schema(format = "filename", min_length = 1, max_length = 255)]
    pub filename: String,
    /// `image/jpeg`, `image/png`, `image/webp` or `application/pdf` (a product image: one of
    /// the first three).
    #[schema(value_type = FileType)]
    pub content_type: String,
    /// The file's exact size in bytes: S3 refuses any other. At most `UPLOAD_MAX_BYTES` (10 MB
    /// unless the deployment says otherwise).
    #[schema(minimum = 1, maximum = 10485760)]
    pub size: i64,
}

/// The upload asked for and the form that sends its file to S3.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UploadForm {
    pub upload: Upload,
    /// POST `form.url` as `multipart/form-data`: every field of `form.fields`, then the file as
    /// the field `file`, within 5 minutes; then complete the upload.
    pub form: PresignedPost,
}

/// A checked [`CreateUpload`].
pub struct NewUpload {
    pub purpose: Purpose,
    pub filename: String,
    pub file_type: FileType,
    pub size: i64,
}

impl NewUpload {
    /// Every invalid field at once (422).
    pub fn parse(body: CreateUpload, settings: &StorageSettings) -> Result<Self, ApiError> {
        let mut fields = Fields::default();
        let purpose = Purpose::parse(body.purpose.trim());
        if purpose.is_none() {
            fields.add(FieldError::new(
                "purpose",
                "invalid",
                format!(
                    "`{}` is not a purpose: product_image or attachment",
                    body.purpose
                ),
            ));
        }
        let name = match filename::check(&body.filename) {
            Ok(name) => Some(name.to_owned()),
            Err((code, message)) => {
                fields.add(FieldError::new("filename", code, message));
                None
            }
        };
        let file_type = FileType::parse(&body.content_type);
        match (file_type, purpose) {
            (None, _) => fields.add(FieldError::new(
                "content_type",
                "not_allowed",
                format!(
                    "`{}` is not allowed: one of {}",
                    body.content_type,
                    FileType::list()
                ),
            )),
            (Some(t), Some(Purpose::ProductImage)) if !t.is_image() => fields.add(FieldError::new(
                "content_type",
                "not_an_image",
                format!(
                    "a product image is image/jpeg, image/png or image/webp, not `{}`",
                    t.mime()
                ),
            )),
            _ => {}
        }
        if body.size < 1 {
            fields.add(FieldError::new("size", "invalid", "at least 1 byte"));
        } else if body.size > settings.max_file_bytes {
            fields.add(FieldError::new(
                "size",
                "too_large",
                format!("a file is at most {} bytes", settings.max_file_bytes),
            ));
        }
        let (Some(purpose), Some(filename), Some(file_type)) = (purpose, name, file_type) else {
            return Err(fields.into_error());
        };
        fields.finish(Self {
            purpose,
            filename,
            file_type,
            size: body.size,
        })
    }
}

/// The upload `id` of `org` (not removed); 404 when there is none.
pub async fn load(conn: &mut PgConnection, org: Uuid, id: Uuid) -> Result<Upload, ApiError> {
    let row = sqlx::query!(
        "SELECT id, purpose, filename, content_type, size, width, height, created_at,
                completed_at
         FROM uploads
         WHERE org_id = $1 AND id = $2 AND deleted_at IS NULL",
        org,
        id
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| ApiError::not_found("upload"))?;
    Ok(Upload {
        id: row.id,
        purpose: Purpose::parse(&row.purpose).unwrap_or(Purpose::Attachment),
        filename: row.filename,
        content_type: row.content_type,
        size: row.size,
        status: if row.completed_at.is_some() {
            UploadStatus::Complete
        } else {
            UploadStatus::Pending
        },
        width: row.width,
        height: row.height,
        created_at: row.created_at,
        completed_at: row.completed_at,
    })
}

/// Why a completion does not keep what arrived.
pub enum Refusal {
    /// Nothing is at the key yet: the upload stays pending.
    NotReceived,
    /// What arrived is not what was declared: it is deleted with its upload.
    Rejected { code: &'static str, message: String },
}

impl From<Refusal> for ApiError {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::NotReceived => ApiError::conflict(
                "upload_not_received",
                "the file has not reached storage: send it with the upload's form, then complete",
            ),
            Refusal::Rejected { code, message } => ApiError::invalid_field("file", code, message),
        }
    }
}

/// What S3 holds at `key` for `upload`: there, its declared size, its first bytes its declared
/// type, an image's header within the pixel limit. An image's pixels when it passes.
pub async fn inspect(
    bucket: &Bucket,
    key: &str,
    upload: &Upload,
    settings: &StorageSettings,
) -> Result<Result<Option<(u32, u32)>, Refusal>, ApiError> {
    let Some(head) = bucket.head(key).await.map_err(ApiError::Internal)? else {
        return Ok(Err(Refusal::NotReceived));
    };
    if head.size != upload.size {
        return Ok(Err(Refusal::Rejected {
            code: "size_mismatch",
            message: format!(
                "the file is {} bytes; the upload declared {}",
                head.size, upload.size
            ),
        }));
    }
    let declared = FileType::parse(&upload.content_type)
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("an upload of an unknown type")))?;
    let mut first = bucket
        .first_bytes(key, SNIFF_BYTES)
        .await
        .map_err(ApiError::Internal)?;
    let found = FileType::sniff(&first);
    if found != Some(declared) {
        let what = found.map_or("no allowed type".to_owned(), |t| t.mime().to_owned());
        return Ok(Err(Refusal::Rejected {
            code: "content_mismatch",
            message: format!(
                "the file is not {}: its first bytes are those of {what}",
                declared.mime()
            ),
        }));
    }
    if !declared.is_image() {
        return Ok(Ok(None));
    }
    let mut dimensions = declared.dimensions(&first);
    // A JPEG's frame header may follow more metadata than the first read held.
    if dimensions.is_none() && head.size > first.len() as i64 {
        first = bucket
            .first_bytes(key, 16 * SNIFF_BYTES)
            .await
            .map_err(ApiError::Internal)?;
        dimensions = declared.dimensions(&first);
    }
    let Some((width, height)) = dimensions else {
        return Ok(Err(Refusal::Rejected {
            code: "invalid_image",
            message: format!("the file's {} header cannot be read", declared.mime()),
        }));
    };
    if u64::from(width) * u64::from(height) > settings.max_image_pixels {
        return Ok(Err(Refusal::Rejected {
            code: "image_too_large",
            message: format!(
                "{width} × {height} pixels is more than the {} an image may have",
                settings.max_image_pixels
            ),
        }));
    }
    Ok(Ok(Some((width, height))))
}
