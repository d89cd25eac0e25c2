//! Attachments: completed uploads attached to a product, a supplier, a purchase order, a goods
//! receipt or a task, listed, read through a short-lived link that downloads them under their
//! name, and removed with their file. The functions that own those things serve the routes
//! (`/api/products/{id}/attachments`, ...), each behind its own module's permissions; this is
//! what they share.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use uuid::Uuid;

use super::{filename, original_key};
use crate::audit::{Action, Change};
use crate::auth::{Caller, Tenant};
use crate::error::ApiError;
use crate::state::AppState;

/// How long an attachment's download link works.
pub const LINK_TTL: Duration = Duration::from_secs(300);

/// What an attachment belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owner {
    Product,
    Supplier,
    PurchaseOrder,
    Receipt,
    Task,
}

impl Owner {
    /// The owner's column in `attachments` and its table (fixed names, never input).
    fn column_and_table(self) -> (&'static str, &'static str) {
        match self {
            Self::Product => ("product_id", "products"),
            Self::Supplier => ("supplier_id", "suppliers"),
            Self::PurchaseOrder => ("purchase_order_id", "purchase_orders"),
            Self::Receipt => ("receipt_id", "goods_receipts"),
            Self::Task => ("task_id", "tasks"),
        }
    }

    fn noun(self) -> &'static str {
        match self {
            Self::Product => "product",
            Self::Supplier => "supplier",
            Self::PurchaseOrder => "purchase order",
            Self::Receipt => "receipt",
            Self::Task => "task",
        }
    }

    /// 404 unless the owner `id` is the organization's.
    pub async fn exists(
        self,
        conn: &mut PgConnection,
        org: Uuid,
        id: Uuid,
    ) -> Result<(), ApiError> {
        let (_, table) = self.column_and_table();
        let found: bool = sqlx::query_scalar(&format!(
            "SELECT EXISTS (SELECT 1 FROM {table} WHERE org_id = $1 AND id = $2)"
        ))
        .bind(org)
        .bind(id)
        .fetch_one(conn)
        .await?;
        if found {
            Ok(())
        } else {
            Err(ApiError::not_found(self.noun()))
        }
    }
}

/// An attachment: its file's name, type and size, and who attached it when.
#[derive(Clone, Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Attachment {
    pub id: Uuid,
    pub upload_id: Uuid,
    pub filename: String,
    pub content_type: String,
    /// In bytes.
    pub size: i64,
    pub created_by_user_id: Option<Uuid>,
    pub created_by_api_key_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

/// An attachment with a link that downloads it under its name.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AttachmentLink {
    #[serde(flatten)]
    pub attachment: Attachment,
    /// Works without credentials until `url_expires_at` (5 minutes).
    pub url: String,
    pub url_expires_at: DateTime<Utc>,
}

/// The attachments of one thing, oldest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Attachments {
    pub items: Vec<Attachment>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Attach {
    /// A completed upload of purpose `attachment` that nothing else uses.
    pub upload_id: Uuid,
}

const COLUMNS: &str = "a.id, a.upload_id, u.filename, u.content_type, u.size,
    a.actor_user_id AS created_by_user_id, a.actor_api_key_id AS created_by_api_key_id,
    a.created_at";

/// The attachments of `owner` `id` (which must exist), oldest first.
pub async fn list(
    conn: &mut PgConnection,
    org: Uuid,
    owner: Owner,
    id: Uuid,
) -> Result<Attachments, ApiError> {
    owner.exists(conn, org, id).await?;
    let (column, _) = owner.column_and_table();
    let items = sqlx::query_as::<_, Attachment>(&format!(
        "SELECT {COLUMNS} FROM attachments a JOIN uploads u ON u.org_id = a.org_id AND u.id = a.upload_id
         WHERE a.org_id = $1 AND a.{column} = $2 ORDER BY a.created_at, a.id LIMIT 500"
    ))
    .bind(org)
    .bind(id)
    .fetch_all(conn)
    .await?;
    Ok(Attachments { items })
}

async fn load(
    conn: &mut PgConnection,
    org: Uuid,
    owner: Owner,
    id: Uuid,
    attachment: Uuid,
) -> Result<Attachment, ApiError> {
    let (column, _) = owner.column_and_table();
    sqlx::query_as::<_, Attachment>(&format!(
        "SELECT {COLUMNS} FROM attachments a JOIN uploads u ON u.org_id = a.org_id AND u.id = a.upload_id
         WHERE a.org_id = $1 AND a.{column} = $2 AND a.id = $3"
    ))
    .bind(org)
    .bind(id)
    .bind(attachment)
    .fetch_optional(conn)
    .await?
    .ok_or_else(|| ApiError::not_found("attachment"))
}

/// Attaches the upload `body.upload_id` to `owner` `id`, in the request's transaction, audited.
pub async fn attach(
    conn: &mut PgConnection,
    caller: &Caller,
    owner: Owner,
    id: Uuid,
    body: Attach,
) -> Result<Attachment, ApiError> {
    let org = caller.org_id;
    owner.exists(conn, org, id).await?;
    super::take_upload(conn, org, body.upload_id, "attachment").await?;
    let (user, key) = caller.actor_ids();
    let (column, _) = owner.column_and_table();
    let attachment: Uuid = sqlx::query_scalar(&format!(
        "INSERT INTO attachments (org_id, upload_id, {column}, actor_user_id, actor_api_key_id)
         VALUES ($1, $2, $3, $4, $5) RETURNING id"
    ))
    .bind(org)
    .bind(body.upload_id)
    .bind(id)
    .bind(user)
    .bind(key)
    .fetch_one(&mut *conn)
    .await?;
    let attached = load(conn, org, owner, id, attachment).await?;
    caller
        .audit(
            conn,
            Action::AttachmentAdded,
            attachment,
            Change::created(&Audited::of(owner, id, &attached)),
        )
        .await?;
    Ok(attached)
}

/// What the audit log keeps of an attachment: what it is on, and the file.
#[derive(Serialize)]
struct Audited<'a> {
    on: &'static str,
    owner_id: Uuid,
    upload_id: Uuid,
    filename: &'a str,
    content_type: &'a str,
    size: i64,
}

impl<'a> Audited<'a> {
    fn of(owner: Owner, id: Uuid, attachment: &'a Attachment) -> Self {
        Self {
            on: owner.column_and_table().1,
            owner_id: id,
            upload_id: attachment.upload_id,
            filename: &attachment.filename,
            content_type: &attachment.content_type,
            size: attachment.size,
        }
    }
}

/// The attachment `attachment` of `owner` `id` with a 5-minute link that downloads it under its
/// name; 503 without a files bucket.
pub async fn link(
    state: &AppState,
    conn: &mut PgConnection,
    org: Uuid,
    owner: Owner,
    id: Uuid,
    attachment: Uuid,
) -> Result<AttachmentLink, ApiError> {
    owner.exists(conn, org, id).await?;
    let attachment = load(conn, org, owner, id, attachment).await?;
    let bucket = super::bucket_of(state.files.as_ref()).await?;
    let now = std::time::SystemTime::now();
    let url = bucket
        .presigned_get_at(
            &original_key(org, attachment.upload_id),
            Some(&filename::content_disposition(&attachment.filename)),
            now,
            LINK_TTL,
        )
        .await
        .map_err(ApiError::Internal)?;
    let url_expires_at = DateTime::<Utc>::from(now + LINK_TTL);
    Ok(AttachmentLink {
        attachment,
        url,
        url_expires_at,
    })
}

/// Removes the attachment, audited, and its upload with its file
/// ([`super::removal::remove_upload`]).
pub async fn remove(
    state: &AppState,
    tenant: &mut Tenant,
    owner: Owner,
    id: Uuid,
    attachment: Uuid,
) -> Result<(), ApiError> {
    let (caller, tx) = tenant.parts();
    let org = caller.org_id;
    owner.exists(tx, org, id).await?;
    let before = load(tx, org, owner, id, attachment).await?;
    sqlx::query!(
        "DELETE FROM attachments WHERE org_id = $1 AND id = $2",
        org,
        attachment
    )
    .execute(&mut *tx)
    .await?;
    caller
        .audit(
            tx,
            Action::AttachmentRemoved,
            attachment,
            Change::deleted(&Audited::of(owner, id, &before)),
        )
        .await?;
    let bucket = match &state.files {
        Some(files) => Some(files.bucket().await),
        None => None,
    };
    super::removal::remove_upload(tenant, bucket, before.upload_id).await
}
