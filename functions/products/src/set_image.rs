//! `PUT` and `DELETE /api/products/{id}/image`: a product's primary image is a completed
//! `product_image` upload (see the storage function); the image it replaces goes with its files.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use shared::AppState;
use shared::audit::{Action, Change};
use shared::auth::caller::{Products, Write};
use shared::auth::{Caller, Require};
use shared::domain::Tracking;
use shared::error::ApiError;
use shared::http::{AppJson, PathId};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::image::{ImageRow, row_of};
use crate::model::{Product, ProductView, load_for_update, view};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetImage {
    /// A completed upload of purpose `product_image` that nothing else uses.
    pub upload_id: Uuid,
}

/// `PUT /api/products/{id}/image`: sets the product's image; the image it replaces is removed
/// with its files.
#[utoipa::path(put, path = "/api/products/{id}/image", params(("id" = Uuid, Path)), request_body = SetImage,
    responses((status = 200, description = "The product with its image", body = ProductView),
        (status = 404, description = "No such product, or `unknown_upload`"),
        (status = 409, description = "`upload_not_completed`, `upload_in_use`, `not_a_product_image` (an attachment's upload)")))]
pub async fn set(
    State(state): State<AppState>,
    mut tenant: Require<Products, Write>,
    PathId(id): PathId,
    AppJson(body): AppJson<SetImage>,
) -> Result<Json<ProductView>, ApiError> {
    let (caller, tx) = tenant.parts();
    let org = caller.org_id;
    let before = load_for_update(tx, org, id).await?;
    if before.image_upload_id == Some(body.upload_id) {
        let row = row_of(tx, org, before.image_upload_id).await?;
        return Ok(Json(view(&state, org, before, row).await?));
    }
    shared::storage::take_upload(tx, org, body.upload_id, "product_image").await?;
    replace(&state, caller, tx, &before, Some(body.upload_id))
        .await
        .map(Json)
}

/// `DELETE /api/products/{id}/image`: the product has no image; the image is removed with its
/// files.
#[utoipa::path(delete, path = "/api/products/{id}/image", params(("id" = Uuid, Path)),
    responses((status = 200, description = "The product, without an image", body = ProductView),
        (status = 404, description = "No such product")))]
pub async fn remove(
    State(state): State<AppState>,
    mut tenant: Require<Products, Write>,
    PathId(id): PathId,
) -> Result<Json<ProductView>, ApiError> {
    let (caller, tx) = tenant.parts();
    let org = caller.org_id;
    let before = load_for_update(tx, org, id).await?;
    if before.image_upload_id.is_none() {
        return Ok(Json(view(&state, org, before, ImageRow::default()).await?));
    }
    replace(&state, caller, tx, &before, None).await.map(Json)
}

/// Points `product` at the image `upload` (or none) and marks the image it had removed (the
/// scheduler deletes its files: a product's old image is not kept), audited as a product
/// update; the product as the API shows it.
async fn replace(
    state: &AppState,
    caller: &Caller,
    tx: &mut PgConnection,
    product: &Product,
    upload: Option<Uuid>,
) -> Result<ProductView, ApiError> {
    let org = caller.org_id;
    let after = sqlx::query_as!(
        Product,
        "UPDATE products SET image_upload_id = $3, updated_at = now()
         WHERE org_id = $1 AND id = $2
         RETURNING id, sku, name, description, price, currency, cost, average_cost, unit, barcode, reorder_point,
                   best_seller, supplier_id, image_upload_id, is_active, created_at, updated_at,
                   tracking AS \"tracking: Tracking\", shelf_life_days, count_interval_days, last_counted_at",
        org,
        product.id,
        upload
    )
    .fetch_one(&mut *tx)
    .await?;
    if let Some(old) = product.image_upload_id {
        sqlx::query!(
            "UPDATE uploads SET deleted_at = now() WHERE org_id = $1 AND id = $2",
            org,
            old
        )
        .execute(&mut *tx)
        .await?;
    }
    caller
        .audit(
            tx,
            Action::ProductUpdated,
            product.id,
            Change::updated(product, &after),
        )
        .await?;
    let row = row_of(tx, org, after.image_upload_id).await?;
    view(state, org, after, row).await
}
