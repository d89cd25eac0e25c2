//! The product as the API shows it, its detail view and its price history.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use shared::AppState;
use shared::auth::Require;
use shared::auth::caller::{Products, Read};
use shared::domain::Tracking;
use shared::error::ApiError;
use shared::http::pagination::{Page, PageQuery, PageRequest};
use shared::http::{AppQuery, PathId};
use uuid::Uuid;

use crate::image::{ImageRow, ProductImage};

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Product {
    pub id: Uuid,
    pub sku: String,
    pub name: String,
    pub description: Option<String>,
    /// A decimal string such as "12.50", never a float.
    #[serde(with = "rust_decimal::serde::str")]
    pub price: Decimal,
    #[schema(value_type = shared::domain::CurrencyCode)]
    pub currency: String,
    /// The standard cost, set by hand: what a unit is worth until its first costed receipt.
    #[serde(with = "rust_decimal::serde::str_option")]
    pub cost: Option<Decimal>,
    /// The moving average of its costed receipts (purchase-order lines, receipts given a
    /// `unit_cost`) in `currency`, to six decimals; null before the first one. Read-only.
    #[schema(value_type = Option<String>, example = "4.150000")]
    #[serde(with = "rust_decimal::serde::str_option")]
    pub average_cost: Option<Decimal>,
    pub unit: String,
    pub barcode: Option<String>,
    pub reorder_point: i32,
    pub best_seller: bool,
    pub supplier_id: Option<Uuid>,
    /// The upload that is its image (`PUT /api/products/{id}/image`); `image` has its links.
    pub image_upload_id: Option<Uuid>,
    pub is_active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// How its units are told apart: `none`, `lot` (a lot number and expiry date per receipt)
    /// or `serial` (a serial number per unit).
    pub tracking: Tracking,
    /// Days from receipt to expiry: the expiry date of a lot received without one.
    pub shelf_life_days: Option<i32>,
    /// Days between counts (`GET /api/stocktakes/due`); null: the organization's interval.
    pub count_interval_days: Option<i32>,
    /// When a stocktake last counted it.
    pub last_counted_at: Option<DateTime<Utc>>,
}

/// A product as the API answers it: with its image's links.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProductView {
    #[serde(flatten)]
    pub product: Product,
    /// Null when the product has no image.
    pub image: Option<ProductImage>,
}

/// A product's stock: summed over its locations, or at the location asked for.
#[derive(Debug, Clone, Copy, Default, Serialize, utoipa::ToSchema)]
pub struct StockTotals {
    /// Units on the shelves.
    pub on_hand: i64,
    /// Units held for reservations that are still active.
    pub reserved: i64,
    /// What can be sold or reserved: on hand minus reserved.
    pub available: i64,
}

impl StockTotals {
    pub fn new(on_hand: i64, reserved: i64) -> Self {
        Self {
            on_hand,
            reserved,
            available: on_hand - reserved,
        }
    }
}

/// A product of the list or the detail: with its image's links and its stock.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProductWithStock {
    #[serde(flatten)]
    pub product: ProductView,
    #[serde(flatten)]
    pub stock: StockTotals,
}

/// `product` with its image as links (none without an image, or where the deployment has no
/// files bucket).
pub async fn view(
    state: &AppState,
    org: Uuid,
    product: Product,
    row: ImageRow,
) -> Result<ProductView, ApiError> {
    let image = crate::image::links(state, org, product.image_upload_id, &row).await?;
    Ok(ProductView { product, image })
}

/// The product `id` of `org`, locked for a change; 404 when there is none.
pub async fn load_for_update(
    conn: &mut sqlx::PgConnection,
    org: Uuid,
    id: Uuid,
) -> Result<Product, ApiError> {
    sqlx::query_as!(
        Product,
        "SELECT id, sku, name, description, price, currency, cost, average_cost, unit, barcode, reorder_point,
                best_seller, supplier_id, image_upload_id, is_active, created_at, updated_at,
                   tracking AS \"tracking: Tracking\", shelf_life_days, count_interval_days, last_counted_at
         FROM products WHERE id = $1 AND org_id = $2 FOR UPDATE",
        id,
        org
    )
    .fetch_optional(conn)
    .await?
    .ok_or_else(|| ApiError::not_found("product"))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ContactSummary {
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SupplierSummary {
    pub id: Uuid,
    pub name: String,
    pub is_active: bool,
    /// The primary contact, else the first one.
    pub contact: Option<ContactSummary>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProductDetail {
    #[serde(flatten)]
    pub product: ProductWithStock,
    pub supplier: Option<SupplierSummary>,
}

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DetailQuery {
    /// The stock figures at this location only (default: all locations together).
    location_id: Option<Uuid>,
}

/// `GET /api/products/{id}`: also inactive (soft-deleted) products, with their supplier and
/// stock.
#[utoipa::path(get, path = "/api/products/{id}", params(("id" = Uuid, Path), DetailQuery),
    responses((status = 200, description = "The product with its supplier and stock", body = ProductDetail)))]
pub async fn detail(
    State(state): State<AppState>,
    mut tenant: Require<Products, Read>,
    PathId(id): PathId,
    AppQuery(query): AppQuery<DetailQuery>,
) -> Result<Json<ProductDetail>, ApiError> {
    let org_id = tenant.caller.org_id;
    let row = sqlx::query!(
        r#"SELECT p.id, p.sku, p.name, p.description, p.price, p.currency, p.cost, p.average_cost, p.unit, p.barcode,
                  p.reorder_point, p.best_seller, p.supplier_id, p.image_upload_id, p.is_active,
                  p.created_at, p.updated_at, p.tracking AS "tracking: Tracking", p.shelf_life_days,
                  p.count_interval_days, p.last_counted_at, u.width AS "image_width?", u.height AS "image_height?",
                  u.thumbnail_format AS "image_thumbnails?",
                  s.name AS "supplier_name?", s.is_active AS "supplier_active?",
                  c.name AS "contact_name?", c.email AS "contact_email?", c.phone AS "contact_phone?",
                  coalesce(st.on_hand, 0) AS "on_hand!", coalesce(st.reserved, 0) AS "reserved!"
           FROM products p
           LEFT JOIN suppliers s ON s.org_id = p.org_id AND s.id = p.supplier_id
           LEFT JOIN uploads u ON u.org_id = p.org_id AND u.id = p.image_upload_id
           LEFT JOIN LATERAL (
               SELECT name, email, phone FROM supplier_contacts
               WHERE supplier_id = s.id ORDER BY is_primary DESC, created_at, id LIMIT 1
           ) c ON true
           LEFT JOIN LATERAL (
               SELECT sum(n.on_hand)::bigint AS on_hand, sum(n.reserved)::bigint AS reserved
               FROM stock_now n
               WHERE n.org_id = p.org_id AND n.product_id = p.id
                 AND ($3::uuid IS NULL OR n.location_id = $3)
           ) st ON true
           WHERE p.id = $1 AND p.org_id = $2"#,
        id,
        org_id,
        query.location_id
    )
    .fetch_optional(&mut *tenant.db)
    .await?
    .ok_or_else(|| ApiError::not_found("product"))?;
    let supplier = match (row.supplier_id, row.supplier_name, row.supplier_active) {
        (Some(id), Some(name), Some(is_active)) => Some(SupplierSummary {
            id,
            name,
            is_active,
            contact: row.contact_name.map(|name| ContactSummary {
                name,
                email: row.contact_email,
                phone: row.contact_phone,
            }),
        }),
        _ => None,
    };
    let image = ImageRow {
        image_width: row.image_width,
        image_height: row.image_height,
        image_thumbnails: row.image_thumbnails,
    };
    let product = Product {
        id: row.id,
        sku: row.sku,
        name: row.name,
        description: row.description,
        price: row.price,
        currency: row.currency,
        cost: row.cost,
        average_cost: row.average_cost,
        unit: row.unit,
        barcode: row.barcode,
        reorder_point: row.reorder_point,
        best_seller: row.best_seller,
        supplier_id: row.supplier_id,
        image_upload_id: row.image_upload_id,
        is_active: row.is_active,
        created_at: row.created_at,
        updated_at: row.updated_at,
        tracking: row.tracking,
        shelf_life_days: row.shelf_life_days,
        count_interval_days: row.count_interval_days,
        last_counted_at: row.last_counted_at,
    };
    Ok(Json(ProductDetail {
        product: ProductWithStock {
            product: view(&state, org_id, product, image).await?,
            stock: StockTotals::new(row.on_hand, row.reserved),
        },
        supplier,
    }))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PriceChange {
    id: i64,
    #[serde(with = "rust_decimal::serde::str")]
    price: Decimal,
    #[schema(value_type = shared::domain::CurrencyCode)]
    currency: String,
    #[serde(with = "rust_decimal::serde::str_option")]
    cost: Option<Decimal>,
    changed_at: DateTime<Utc>,
    changed_by_user_id: Option<Uuid>,
    changed_by_name: Option<String>,
    changed_by_api_key_id: Option<Uuid>,
}

/// `GET /api/products/{id}/price-history`: every price set, newest first, with who set it.
#[utoipa::path(get, path = "/api/products/{id}/price-history", params(("id" = Uuid, Path), PageQuery),
    responses((status = 200, description = "Every price set, newest first", body = Page<PriceChange>)))]
pub async fn price_history(
    mut tenant: Require<Products, Read>,
    PathId(id): PathId,
    page: PageRequest<i64>,
) -> Result<Json<Page<PriceChange>>, ApiError> {
    // One statement: the product (404 if absent) and its page of history.
    let rows = sqlx::query!(
        r#"SELECT h.id AS "id?", h.price AS "price?", h.currency AS "currency?", h.cost,
                  h.changed_at AS "changed_at?", h.changed_by_user_id, h.changed_by_api_key_id,
                  u.name AS "changed_by_name?"
           FROM products p
           LEFT JOIN LATERAL (
               SELECT * FROM price_history
               WHERE org_id = p.org_id AND product_id = p.id AND ($3::bigint IS NULL OR id < $3)
               ORDER BY id DESC LIMIT $4
           ) h ON true
           LEFT JOIN users u ON u.id = h.changed_by_user_id
           WHERE p.id = $1 AND p.org_id = $2
           ORDER BY h.id DESC"#,
        id,
        tenant.caller.org_id,
        page.after,
        page.limit + 1
    )
    .fetch_all(&mut *tenant.db)
    .await?;
    if rows.is_empty() {
        return Err(ApiError::not_found("product"));
    }
    let changes = rows
        .into_iter()
        .filter_map(|r| {
            Some(PriceChange {
                id: r.id?,
                price: r.price?,
                currency: r.currency?,
                cost: r.cost,
                changed_at: r.changed_at?,
                changed_by_user_id: r.changed_by_user_id,
                changed_by_name: r.changed_by_name,
                changed_by_api_key_id: r.changed_by_api_key_id,
            })
        })
        .collect();
    Ok(Json(Page::from_rows(changes, page.limit, None, |c| c.id)))
}
