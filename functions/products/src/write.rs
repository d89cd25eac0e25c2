//! Create, update and soft-delete products; every price set goes to the price history in the
//! same transaction, and every change to the audit log.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use shared::AppState;
use shared::audit::{Action, Change};
use shared::auth::caller::{Products, Write};
use shared::auth::{Caller, Require};
use shared::domain::{self, Patch, Tracking, money_text, non_null};
use shared::error::{ApiError, FieldError, Fields, ResultExt};
use shared::http::idempotency::{self, Answer, IdempotencyKey};
use shared::http::{AppJson, PathId};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::model::{Product, ProductView, load_for_update};

#[derive(Clone, Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProduct {
    #[schema(format = "line", min_length = 1, max_length = 64)]
    sku: String,
    #[schema(format = "line", min_length = 1, max_length = 200)]
    name: String,
    #[schema(max_length = 5000)]
    description: Option<String>,
    /// A decimal string such as "12.50".
    #[schema(value_type = String, pattern = r"^\d{1,12}(\.\d{1,2})?$")]
    #[serde(with = "money_text")]
    price: Decimal,
    /// ISO 4217 code; the organization's default currency when absent.
    #[schema(value_type = Option<shared::domain::CurrencyCode>)]
    currency: Option<shared::domain::Currency>,
    #[schema(value_type = Option<String>, pattern = r"^\d{1,12}(\.\d{1,2})?$")]
    #[serde(default, with = "money_text::option")]
    cost: Option<Decimal>,
    #[schema(format = "line", min_length = 1, max_length = 20)]
    unit: Option<String>,
    #[schema(max_length = 64)]
    barcode: Option<String>,
    /// Low stock below this many available units (default 0).
    #[schema(minimum = 0)]
    reorder_point: Option<i32>,
    best_seller: Option<bool>,
    supplier_id: Option<Uuid>,
    /// `none` (default), `lot` (receipts name a lot number and expiry date) or `serial` (one
    /// serial number per unit).
    tracking: Option<Tracking>,
    /// Days from receipt to expiry: a lot received without an expiry date takes this.
    #[schema(minimum = 1, maximum = 36500)]
    shelf_life_days: Option<i32>,
    /// Days between counts (`GET /api/stocktakes/due`); the organization's interval when absent.
    #[schema(minimum = 1, maximum = 3650)]
    count_interval_days: Option<i32>,
}

fn unknown_supplier() -> ApiError {
    ApiError::unknown_reference(
        "supplier_id",
        "unknown_supplier",
        "no such supplier in this organization",
    )
}

fn sku_taken() -> ApiError {
    ApiError::conflict_on(
        "sku",
        "sku_taken",
        "another product of this organization has this SKU",
    )
}

/// A number of days within `range`, or an error for `field`.
fn days(value: i32, field: &str, range: std::ops::RangeInclusive<i32>, fields: &mut Fields) -> i32 {
    if !range.contains(&value) {
        fields.add(FieldError::new(
            field,
            "out_of_range",
            format!("must be between {} and {} days", range.start(), range.end()),
        ));
    }
    value
}

const SHELF_LIFE: std::ops::RangeInclusive<i32> = 1..=36500;
const COUNT_INTERVAL: std::ops::RangeInclusive<i32> = 1..=3650;

fn reorder_point(value: i32, fields: &mut Fields) -> i32 {
    if value < 0 {
        fields.add(FieldError::new(
            "reorder_point",
            "negative",
            "must not be negative",
        ));
    }
    value
}

async fn record_price(
    conn: &mut PgConnection,
    caller: &Caller,
    product: &Product,
) -> Result<(), ApiError> {
    let (user, key) = caller.actor_ids();
    sqlx::query!(
        "INSERT INTO price_history (org_id, product_id, price, currency, cost, changed_by_user_id, changed_by_api_key_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        caller.org_id,
        product.id,
        product.price,
        product.currency,
        product.cost,
        user,
        key
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// A [`CreateProduct`] checked.
struct NewProduct {
    sku: String,
    name: String,
    description: Option<String>,
    price: Decimal,
    /// `None`: the organization's default currency, read in the INSERT.
    currency: Option<String>,
    cost: Option<Decimal>,
    unit: String,
    barcode: Option<String>,
    reorder_point: i32,
    best_seller: bool,
    supplier_id: Option<Uuid>,
    tracking: Tracking,
    shelf_life_days: Option<i32>,
    count_interval_days: Option<i32>,
}

impl TryFrom<CreateProduct> for NewProduct {
    type Error = ApiError;

    /// Every invalid field in one 422. Amounts are checked as they are read (`money_text`):
    /// non-negative, two decimals.
    fn try_from(body: CreateProduct) -> Result<Self, ApiError> {
        let mut fields = Fields::default();
        let sku = fields.name(&body.sku, "sku", 64);
        let name = fields.name(&body.name, "name", 200);
        let description = fields.check(domain::optional_text(
            body.description.as_deref(),
            "description",
            5000,
        ));
        let currency = body.currency.map(String::from);
        let unit = fields.new_name(body.unit, "unit", 20);
        let barcode = fields.check(domain::optional_text(
            body.barcode.as_deref(),
            "barcode",
            64,
        ));
        let reorder_point = reorder_point(body.reorder_point.unwrap_or(0), &mut fields);
        let shelf_life_days = body
            .shelf_life_days
            .map(|d| days(d, "shelf_life_days", SHELF_LIFE, &mut fields));
        let count_interval_days = body
            .count_interval_days
            .map(|d| days(d, "count_interval_days", COUNT_INTERVAL, &mut fields));
        match (sku, name) {
            (Some(sku), Some(name)) if fields.is_empty() => Ok(Self {
                sku,
                name,
                description: description.flatten(),
                price: body.price,
                currency,
                cost: body.cost,
                unit: unit.unwrap_or_else(|| "each".to_owned()),
                barcode: barcode.flatten(),
                reorder_point,
                best_seller: body.best_seller.unwrap_or(false),
                supplier_id: body.supplier_id,
                tracking: body.tracking.unwrap_or_default(),
                shelf_life_days,
                count_interval_days,
            }),
            _ => Err(fields.into_error()),
        }
    }
}

/// `POST /api/products` (honours `Idempotency-Key`).
#[utoipa::path(post, path = "/api/products", params(shared::http::openapi::IdempotencyKeyHeader), request_body = CreateProduct,
    responses((status = 201, body = ProductView),
        (status = 404, description = "`unknown_supplier`: `supplier_id` names no supplier of this organization (`errors` names the field)"),
        (status = 409, description = "`sku_taken`: the SKU is used in this organization (`errors` names `sku`)")))]
pub async fn create(
    mut tenant: Require<Products, Write>,
    key: IdempotencyKey,
    AppJson(body): AppJson<CreateProduct>,
) -> Result<Answer, ApiError> {
    idempotency::create_new(&mut tenant, &key, body, insert).await
}

/// Writes a new product, its first price and its audit row.
async fn insert(
    tx: &mut PgConnection,
    caller: &Caller,
    new: NewProduct,
) -> Result<(StatusCode, ProductView), ApiError> {
    let product = sqlx::query_as!(
        Product,
        "INSERT INTO products (org_id, sku, name, description, price, currency, cost, unit, barcode,
                               reorder_point, best_seller, supplier_id, tracking, shelf_life_days,
                               count_interval_days)
         VALUES ($1, $2, $3, $4, $5,
                 coalesce($6, (SELECT default_currency FROM organizations WHERE id = $1)),
                 $7, $8, $9, $10, $11, $12, $13, $14, $15)
         RETURNING id, sku, name, description, price, currency, cost, average_cost, unit, barcode, reorder_point,
                   best_seller, supplier_id, image_upload_id, is_active, created_at, updated_at,
                   tracking AS \"tracking: Tracking\", shelf_life_days, count_interval_days, last_counted_at",
        caller.org_id,
        new.sku,
        new.name,
        new.description,
        new.price,
        new.currency,
        new.cost,
        new.unit,
        new.barcode,
        new.reorder_point,
        new.best_seller,
        new.supplier_id,
        new.tracking as Tracking,
        new.shelf_life_days,
        new.count_interval_days
    )
    .fetch_one(&mut *tx)
    .await
    .on_constraint("products_org_sku_key", |_| sku_taken())
    .on_constraint(SUPPLIER_FK, |_| unknown_supplier())?;
    record_price(tx, caller, &product).await?;
    caller
        .audit(
            tx,
            Action::ProductCreated,
            product.id,
            Change::created(&product),
        )
        .await?;
    // A new product has no image yet.
    let image = None;
    Ok((StatusCode::CREATED, ProductView { product, image }))
}

/// The (org_id, supplier_id) foreign key: the supplier must be one of this organization's.
const SUPPLIER_FK: &str = "products_org_id_supplier_id_fkey";

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateProduct {
    #[schema(value_type = String, format = "line", min_length = 1, max_length = 64)]
    #[serde(default, deserialize_with = "non_null")]
    sku: Option<String>,
    #[schema(value_type = String, format = "line", min_length = 1, max_length = 200)]
    #[serde(default, deserialize_with = "non_null")]
    name: Option<String>,
    #[schema(value_type = Option<String>, max_length = 5000)]
    #[serde(default)]
    description: Patch<String>,
    #[schema(value_type = String, pattern = r"^\d{1,12}(\.\d{1,2})?$")]
    #[serde(default, deserialize_with = "money_text::present")]
    price: Option<Decimal>,
    #[schema(value_type = shared::domain::CurrencyCode)]
    #[serde(default, deserialize_with = "non_null")]
    currency: Option<shared::domain::Currency>,
    #[schema(value_type = Option<String>, pattern = r"^\d{1,12}(\.\d{1,2})?$")]
    #[serde(default, deserialize_with = "money_text::patch")]
    cost: Patch<Decimal>,
    #[schema(value_type = String, format = "line", min_length = 1, max_length = 20)]
    #[serde(default, deserialize_with = "non_null")]
    unit: Option<String>,
    #[schema(value_type = Option<String>, max_length = 64)]
    #[serde(default)]
    barcode: Patch<String>,
    #[schema(value_type = i32, minimum = 0)]
    #[serde(default, deserialize_with = "non_null")]
    reorder_point: Option<i32>,
    #[schema(value_type = bool)]
    #[serde(default, deserialize_with = "non_null")]
    best_seller: Option<bool>,
    #[schema(value_type = Option<Uuid>)]
    #[serde(default)]
    supplier_id: Patch<Uuid>,
    #[schema(value_type = bool)]
    #[serde(default, deserialize_with = "non_null")]
    is_active: Option<bool>,
    /// Changes only while the product has no stock on hand.
    #[schema(value_type = Tracking)]
    #[serde(default, deserialize_with = "non_null")]
    tracking: Option<Tracking>,
    #[schema(value_type = Option<i32>, minimum = 1, maximum = 36500)]
    #[serde(default)]
    shelf_life_days: Patch<i32>,
    /// Null: the organization's interval.
    #[schema(value_type = Option<i32>, minimum = 1, maximum = 3650)]
    #[serde(default)]
    count_interval_days: Patch<i32>,
}

/// An [`UpdateProduct`] checked: what changes (`None`/`Keep`: unchanged).
struct ProductChange {
    sku: Option<String>,
    name: Option<String>,
    description: Patch<String>,
    price: Option<Decimal>,
    currency: Option<String>,
    cost: Patch<Decimal>,
    unit: Option<String>,
    barcode: Patch<String>,
    reorder_point: Option<i32>,
    best_seller: Option<bool>,
    supplier_id: Patch<Uuid>,
    is_active: Option<bool>,
    tracking: Option<Tracking>,
    shelf_life_days: Patch<i32>,
    count_interval_days: Patch<i32>,
}

impl TryFrom<UpdateProduct> for ProductChange {
    type Error = ApiError;

    /// Every invalid field in one 422. Amounts are checked as they are read (`money_text`).
    fn try_from(body: UpdateProduct) -> Result<Self, ApiError> {
        let mut fields = Fields::default();
        let change = Self {
            sku: fields.new_name(body.sku, "sku", 64),
            name: fields.new_name(body.name, "name", 200),
            description: fields.patch_text(body.description, "description", 5000),
            price: body.price,
            currency: body.currency.map(String::from),
            cost: body.cost,
            unit: fields.new_name(body.unit, "unit", 20),
            barcode: fields.patch_text(body.barcode, "barcode", 64),
            reorder_point: body.reorder_point.map(|r| reorder_point(r, &mut fields)),
            best_seller: body.best_seller,
            supplier_id: body.supplier_id,
            is_active: body.is_active,
            tracking: body.tracking,
            shelf_life_days: body
                .shelf_life_days
                .map(|d| days(d, "shelf_life_days", SHELF_LIFE, &mut fields)),
            count_interval_days: body
                .count_interval_days
                .map(|d| days(d, "count_interval_days", COUNT_INTERVAL, &mut fields)),
        };
        fields.finish(change)
    }
}

impl ProductChange {
    /// The product with this change made.
    fn apply(self, mut product: Product) -> Product {
        shared::edit!(self => product;
            sku, name, description, price, currency, cost, unit, barcode, reorder_point,
            best_seller, supplier_id, is_active, tracking, shelf_life_days, count_interval_days);
        product
    }
}

/// `PATCH /api/products/{id}` (and `PUT`, the same): only the fields sent change; `null`
/// clears an optional field and is refused on one that cannot be cleared.
#[utoipa::path(patch, path = "/api/products/{id}", params(("id" = Uuid, Path)), request_body = UpdateProduct,
    responses((status = 200, body = ProductView),
        (status = 404, description = "`not_found`: no such product; `unknown_supplier`: `supplier_id` names no supplier of this organization"),
        (status = 409, description = "`sku_taken`: the SKU is used in this organization (`errors` names `sku`)")))]
pub async fn update(
    State(state): State<AppState>,
    mut tenant: Require<Products, Write>,
    PathId(id): PathId,
    AppJson(body): AppJson<UpdateProduct>,
) -> Result<Json<ProductView>, ApiError> {
    let (caller, tx) = tenant.parts();
    let before = load_for_update(tx, caller.org_id, id).await?;
    // Checked once the product is found: an unknown product is a 404 whatever the body.
    let next = ProductChange::try_from(body)?.apply(before.clone());
    if next.tracking != before.tracking {
        // Stock on hand is in no lot (or in lots): it cannot change how it is told apart.
        let on_hand = sqlx::query_scalar!(
            r#"SELECT coalesce(sum(on_hand), 0)::bigint AS "on_hand!" FROM stock_levels
               WHERE org_id = $1 AND product_id = $2"#,
            caller.org_id,
            id
        )
        .fetch_one(&mut *tx)
        .await?;
        if on_hand > 0 {
            return Err(ApiError::conflict_on(
                "tracking",
                "tracking_has_stock",
                format!(
                    "{on_hand} unit(s) are on hand: write them off (or sell them) before changing how they are tracked"
                ),
            ));
        }
    }

    let after = sqlx::query_as!(
        Product,
        "UPDATE products SET sku = $3, name = $4, description = $5, price = $6, currency = $7, cost = $8,
                unit = $9, barcode = $10, reorder_point = $11, best_seller = $12, supplier_id = $13,
                is_active = $14, tracking = $15, shelf_life_days = $16, count_interval_days = $17,
                updated_at = now()
         WHERE id = $1 AND org_id = $2
         RETURNING id, sku, name, description, price, currency, cost, average_cost, unit, barcode, reorder_point,
                   best_seller, supplier_id, image_upload_id, is_active, created_at, updated_at,
                   tracking AS \"tracking: Tracking\", shelf_life_days, count_interval_days, last_counted_at",
        id,
        caller.org_id,
        next.sku,
        next.name,
        next.description,
        next.price,
        next.currency,
        next.cost,
        next.unit,
        next.barcode,
        next.reorder_point,
        next.best_seller,
        next.supplier_id,
        next.is_active,
        next.tracking as Tracking,
        next.shelf_life_days,
        next.count_interval_days
    )
    .fetch_one(&mut *tx)
    .await
    .on_constraint("products_org_sku_key", |_| sku_taken())
    .on_constraint(SUPPLIER_FK, |_| unknown_supplier())?;
    if (after.price, &after.currency, after.cost) != (before.price, &before.currency, before.cost) {
        record_price(&mut *tx, caller, &after).await?;
    }
    let change = Change::updated(&before, &after);
    caller.audit(tx, Action::ProductUpdated, id, change).await?;
    let image = crate::image::row_of(tx, caller.org_id, after.image_upload_id).await?;
    Ok(Json(
        crate::model::view(&state, caller.org_id, after, image).await?,
    ))
}

/// `DELETE /api/products/{id}`: a soft delete (`is_active = false`); the product stays
/// readable by id and in its history.
#[utoipa::path(delete, path = "/api/products/{id}", params(("id" = Uuid, Path)),
    responses((status = 204, description = "Deactivated (soft delete)")))]
pub async fn delete(
    mut tenant: Require<Products, Write>,
    PathId(id): PathId,
) -> Result<StatusCode, ApiError> {
    let (caller, tx) = tenant.parts();
    let was_active = sqlx::query_scalar!(
        r#"UPDATE products p SET is_active = false, updated_at = now()
           FROM (SELECT id, is_active FROM products WHERE id = $1 AND org_id = $2 FOR UPDATE) old
           WHERE p.id = old.id
           RETURNING old.is_active"#,
        id,
        caller.org_id
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| ApiError::not_found("product"))?;
    if was_active {
        let change = Change::updated(
            &serde_json::json!({ "is_active": true }),
            &serde_json::json!({ "is_active": false }),
        );
        caller.audit(tx, Action::ProductDeleted, id, change).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}
