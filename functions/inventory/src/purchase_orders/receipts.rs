//! Goods receipts: each `receive` of a purchase order is one, listed at
//! `/api/purchase-orders/{id}/receipts`, and the delivery note is attached to it at
//! `/api/purchase-orders/{id}/receipts/{receipt_id}/attachments` (purchasing's permissions; see
//! `shared::storage::attachments`).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::Serialize;
use shared::AppState;
use shared::auth::Require;
use shared::auth::caller::{Purchasing, Read, Write};
use shared::error::ApiError;
use shared::http::{AppJson, PathId};
use shared::storage::attachments::{self, Attach, Attachment, AttachmentLink, Attachments, Owner};
use sqlx::PgConnection;
use uuid::Uuid;

/// One delivery: what arrived on which line of the order, and where it went.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Receipt {
    pub id: Uuid,
    pub purchase_order_id: Uuid,
    pub location_id: Uuid,
    /// `[{"line_id", "product_id", "quantity"}]`.
    #[schema(value_type = Vec<Object>)]
    pub lines: serde_json::Value,
    pub created_by_user_id: Option<Uuid>,
    pub created_by_api_key_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Receipts {
    pub items: Vec<Receipt>,
}

/// 404 unless the order `id` is the organization's.
async fn order_exists(conn: &mut PgConnection, org: Uuid, id: Uuid) -> Result<(), ApiError> {
    Owner::PurchaseOrder.exists(conn, org, id).await
}

/// 404 unless `receipt` is one of the order `id`'s.
async fn receipt_of(
    conn: &mut PgConnection,
    org: Uuid,
    id: Uuid,
    receipt: Uuid,
) -> Result<(), ApiError> {
    let found = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM goods_receipts
                          WHERE org_id = $1 AND purchase_order_id = $2 AND id = $3) AS "found!""#,
        org,
        id,
        receipt
    )
    .fetch_one(conn)
    .await?;
    if found {
        Ok(())
    } else {
        Err(ApiError::not_found("receipt"))
    }
}

/// `GET /api/purchase-orders/{id}/receipts`: every receipt of the order, oldest first.
#[utoipa::path(get, path = "/api/purchase-orders/{id}/receipts", operation_id = "list_receipts", params(("id" = Uuid, Path)),
    responses((status = 200, body = Receipts), (status = 404, description = "No such purchase order")))]
pub async fn list(
    mut tenant: Require<Purchasing, Read>,
    PathId(id): PathId,
) -> Result<Json<Receipts>, ApiError> {
    let org = tenant.caller.org_id;
    order_exists(&mut tenant.db, org, id).await?;
    let items = sqlx::query_as!(
        Receipt,
        "SELECT id, purchase_order_id, location_id, lines, actor_user_id AS created_by_user_id,
                actor_api_key_id AS created_by_api_key_id, created_at
         FROM goods_receipts WHERE org_id = $1 AND purchase_order_id = $2
         ORDER BY created_at, id",
        org,
        id
    )
    .fetch_all(&mut *tenant.db)
    .await?;
    Ok(Json(Receipts { items }))
}

/// The ids of a receipt's route; 404 for anything that is not one.
fn ids<const N: usize>(path: Result<Path<[Uuid; N]>, impl Sized>) -> Result<[Uuid; N], ApiError> {
    path.map(|Path(ids)| ids)
        .map_err(|_| ApiError::not_found("receipt"))
}

/// `GET /api/purchase-orders/{id}/receipts/{receipt_id}/attachments`: oldest first.
#[utoipa::path(get, path = "/api/purchase-orders/{id}/receipts/{receipt_id}/attachments", operation_id = "list_receipt_attachments",
    params(("id" = Uuid, Path), ("receipt_id" = Uuid, Path)),
    responses((status = 200, body = Attachments), (status = 404, description = "No such order or receipt")))]
pub async fn list_attachments(
    mut tenant: Require<Purchasing, Read>,
    path: Result<Path<[Uuid; 2]>, axum::extract::rejection::PathRejection>,
) -> Result<Json<Attachments>, ApiError> {
    let [id, receipt] = ids(path)?;
    let org = tenant.caller.org_id;
    receipt_of(&mut tenant.db, org, id, receipt).await?;
    attachments::list(&mut tenant.db, org, Owner::Receipt, receipt)
        .await
        .map(Json)
}

/// `POST /api/purchase-orders/{id}/receipts/{receipt_id}/attachments`: attaches a completed
/// upload (purpose `attachment`): the delivery note.
#[utoipa::path(post, path = "/api/purchase-orders/{id}/receipts/{receipt_id}/attachments", operation_id = "attach_to_receipt",
    params(("id" = Uuid, Path), ("receipt_id" = Uuid, Path)), request_body = Attach,
    responses((status = 201, body = Attachment),
        (status = 404, description = "No such order or receipt, or `unknown_upload`"),
        (status = 409, description = "`upload_not_completed`, `upload_in_use`, `not_an_attachment`")))]
pub async fn attach(
    mut tenant: Require<Purchasing, Write>,
    path: Result<Path<[Uuid; 2]>, axum::extract::rejection::PathRejection>,
    AppJson(body): AppJson<Attach>,
) -> Result<(StatusCode, Json<Attachment>), ApiError> {
    let [id, receipt] = ids(path)?;
    let (caller, tx) = tenant.parts();
    receipt_of(tx, caller.org_id, id, receipt).await?;
    let attached = attachments::attach(tx, caller, Owner::Receipt, receipt, body).await?;
    Ok((StatusCode::CREATED, Json(attached)))
}

/// `GET /api/purchase-orders/{id}/receipts/{receipt_id}/attachments/{attachment_id}`: with a
/// 5-minute link that downloads the file under its name.
#[utoipa::path(get, path = "/api/purchase-orders/{id}/receipts/{receipt_id}/attachments/{attachment_id}", operation_id = "get_receipt_attachment",
    params(("id" = Uuid, Path), ("receipt_id" = Uuid, Path), ("attachment_id" = Uuid, Path)),
    responses((status = 200, body = AttachmentLink), (status = 404, description = "No such order, receipt or attachment")))]
pub async fn get_attachment(
    State(state): State<AppState>,
    mut tenant: Require<Purchasing, Read>,
    path: Result<Path<[Uuid; 3]>, axum::extract::rejection::PathRejection>,
) -> Result<Json<AttachmentLink>, ApiError> {
    let [id, receipt, attachment] = ids(path)?;
    let org = tenant.caller.org_id;
    receipt_of(&mut tenant.db, org, id, receipt).await?;
    attachments::link(
        &state,
        &mut tenant.db,
        org,
        Owner::Receipt,
        receipt,
        attachment,
    )
    .await
    .map(Json)
}

/// `DELETE /api/purchase-orders/{id}/receipts/{receipt_id}/attachments/{attachment_id}`: the
/// file goes too.
#[utoipa::path(delete, path = "/api/purchase-orders/{id}/receipts/{receipt_id}/attachments/{attachment_id}", operation_id = "remove_receipt_attachment",
    params(("id" = Uuid, Path), ("receipt_id" = Uuid, Path), ("attachment_id" = Uuid, Path)),
    responses((status = 204, description = "Removed, file and all"), (status = 404, description = "No such order, receipt or attachment")))]
pub async fn remove_attachment(
    State(state): State<AppState>,
    mut tenant: Require<Purchasing, Write>,
    path: Result<Path<[Uuid; 3]>, axum::extract::rejection::PathRejection>,
) -> Result<StatusCode, ApiError> {
    let [id, receipt, attachment] = ids(path)?;
    let org = tenant.caller.org_id;
    receipt_of(&mut tenant.db, org, id, receipt).await?;
    attachments::remove(&state, &mut tenant, Owner::Receipt, receipt, attachment).await?;
    Ok(StatusCode::NO_CONTENT)
}
