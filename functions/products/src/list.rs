//! `GET /api/products`: filters, sorting and keyset pagination, each product with its stock.
//!
//! The sort column is chosen from a fixed list, so this one query is built at run time
//! (`QueryBuilder`, values always bound); each sort order but `available` has an index on
//! `(org_id, is_active, <column>, id)`, so a page costs the same at 1,000 or 100,000 products.
//! The stock over all locations is read from the product's own row, where the ledger keeps it
//! (`stock_on_hand`, `stock_reserved`, migration `20261209000001`): a page reads no other
//! table. The stock at one `location_id` is a lateral join on the stock of each product of the
//! page. Sorting or filtering by stock (`sort=available`, `available_lt`) computes it for every
//! product that matches the other filters.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use shared::AppState;
use shared::auth::Require;
use shared::auth::caller::{Products, Read};
use shared::error::ApiError;
use shared::http::pagination::{Page, PageQuery, PageRequest};
use shared::http::{AppQuery, Ids};
use sqlx::{Postgres, QueryBuilder};
use uuid::Uuid;

use crate::image::ImageRow;
use crate::model::{Product, ProductWithStock, StockTotals};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// `true` (default): the active catalogue; `false`: soft-deleted products.
    active: Option<bool>,
    best_seller: Option<bool>,
    /// One supplier's products, or several (`supplier_id=a,b` or repeated).
    #[param(value_type = Option<Vec<Uuid>>, max_items = 100)]
    supplier_id: Option<Ids>,
    /// The stock figures at this location only (default: all locations together).
    location_id: Option<Uuid>,
    /// Only products with fewer available units than this (what to reorder or restock).
    available_lt: Option<i64>,
    /// Text search in name, SKU and barcode.
    q: Option<String>,
    /// Exactly this barcode (what a till scanned).
    #[param(max_length = 64)]
    barcode: Option<String>,
    /// `name` (default), `sku`, `price`, `available`, `created_at`, `updated_at`; prefix `-`
    /// for descending.
    #[param(inline)]
    sort: Option<Sort>,
}

/// The orders of the product list.
#[derive(Clone, Copy, Debug, PartialEq, Deserialize, utoipa::ToSchema)]
#[schema(as = ProductSort)]
pub enum Sort {
    #[serde(rename = "name")]
    Name,
    #[serde(rename = "-name")]
    NameDesc,
    #[serde(rename = "sku")]
    Sku,
    #[serde(rename = "-sku")]
    SkuDesc,
    #[serde(rename = "price")]
    Price,
    #[serde(rename = "-price")]
    PriceDesc,
    #[serde(rename = "available")]
    Available,
    #[serde(rename = "-available")]
    AvailableDesc,
    #[serde(rename = "created_at")]
    CreatedAt,
    #[serde(rename = "-created_at")]
    CreatedAtDesc,
    #[serde(rename = "updated_at")]
    UpdatedAt,
    #[serde(rename = "-updated_at")]
    UpdatedAtDesc,
}

impl Sort {
    /// The column and whether it runs backwards.
    fn key(self) -> (SortKey, bool) {
        match self {
            Sort::Name => (SortKey::Name, false),
            Sort::NameDesc => (SortKey::Name, true),
            Sort::Sku => (SortKey::Sku, false),
            Sort::SkuDesc => (SortKey::Sku, true),
            Sort::Price => (SortKey::Price, false),
            Sort::PriceDesc => (SortKey::Price, true),
            Sort::Available => (SortKey::Available, false),
            Sort::AvailableDesc => (SortKey::Available, true),
            Sort::CreatedAt => (SortKey::CreatedAt, false),
            Sort::CreatedAtDesc => (SortKey::CreatedAt, true),
            Sort::UpdatedAt => (SortKey::UpdatedAt, false),
            Sort::UpdatedAtDesc => (SortKey::UpdatedAt, true),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum SortKey {
    Name,
    Sku,
    Price,
    Available,
    CreatedAt,
    UpdatedAt,
}

impl SortKey {
    /// The sort column of the rows `alias` names.
    fn column(self, alias: &str) -> String {
        match self {
            SortKey::Name => format!("lower({alias}.name)"),
            SortKey::Sku => format!("lower({alias}.sku)"),
            SortKey::Price => format!("{alias}.price"),
            SortKey::Available => format!("({alias}.on_hand - {alias}.reserved)"),
            SortKey::CreatedAt => format!("{alias}.created_at"),
            SortKey::UpdatedAt => format!("{alias}.updated_at"),
        }
    }
}

/// Where the previous page ended: the sort value and the id.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub enum After {
    #[serde(rename = "t")]
    Text(String, Uuid),
    #[serde(rename = "d")]
    Time(DateTime<Utc>, Uuid),
    #[serde(rename = "m")]
    Money(#[serde(with = "rust_decimal::serde::str")] Decimal, Uuid),
    #[serde(rename = "n")]
    Count(i64, Uuid),
}

fn cursor_of(key: SortKey, item: &ProductWithStock) -> After {
    let product = &item.product.product;
    match key {
        SortKey::Name => After::Text(product.name.to_lowercase(), product.id),
        SortKey::Sku => After::Text(product.sku.to_lowercase(), product.id),
        SortKey::Price => After::Money(product.price, product.id),
        SortKey::Available => After::Count(item.stock.available, product.id),
        SortKey::CreatedAt => After::Time(product.created_at, product.id),
        SortKey::UpdatedAt => After::Time(product.updated_at, product.id),
    }
}

#[utoipa::path(get, path = "/api/products", params(ListQuery, PageQuery),
    responses((status = 200, description = "The catalogue, filtered and sorted, with each product's stock", body = Page<ProductWithStock>)))]
pub async fn list(
    State(state): State<AppState>,
    mut tenant: Require<Products, Read>,
    AppQuery(query): AppQuery<ListQuery>,
    page: PageRequest<After>,
) -> Result<Json<Page<ProductWithStock>>, ApiError> {
    let (key, descending) = query.sort.unwrap_or(Sort::Name).key();
    if query
        .barcode
        .as_ref()
        .is_some_and(|b| b.chars().count() > 64)
    {
        return Err(ApiError::invalid_field(
            "barcode",
            "too_long",
            "must be at most 64 characters",
        ));
    }
    let pattern = query
        .q
        .as_deref()
        .map(str::trim)
        .filter(|q| !q.is_empty())
        .map(|q| shared::http::pagination::contains_pattern(&q.to_lowercase()));

    // The page of the products that match (`LIMIT`), then their images and stock. The stock
    // is summed before the page is cut only when the order or a filter needs it (`sort=available`,
    // `available_lt`): otherwise it is read for the page's products alone.
    let stock_first = key == SortKey::Available || query.available_lt.is_some();
    let org_id = tenant.caller.org_id;
    let matching = |sql: &mut QueryBuilder<Postgres>| {
        push_matching(sql, org_id, &query, pattern.as_deref(), stock_first)
    };
    let mut sql: QueryBuilder<Postgres> = QueryBuilder::new("");
    if page.include_total {
        sql.push("WITH f AS (");
        matching(&mut sql);
        sql.push(") SELECT page.*, (SELECT count(*) FROM f) AS total, ");
    } else {
        sql.push("SELECT page.*, NULL::bigint AS total, ");
    }
    sql.push(IMAGE_COLUMNS);
    if !stock_first {
        sql.push(", ");
        push_stock_columns(&mut sql, "page", query.location_id);
    }
    sql.push(" FROM (SELECT p.* FROM ");
    if page.include_total {
        sql.push("f p");
    } else {
        sql.push("(");
        matching(&mut sql);
        sql.push(") p");
    }
    sql.push(" WHERE true");
    let (op, direction) = if descending {
        ("<", "DESC")
    } else {
        (">", "ASC")
    };
    if let Some(after) = &page.after {
        sql.push(format_args!(" AND ({}, p.id) {op} (", key.column("p")));
        match (key, after) {
            (SortKey::Name | SortKey::Sku, After::Text(v, id)) => {
                sql.push_bind(v.clone()).push(", ").push_bind(*id)
            }
            (SortKey::Price, After::Money(v, id)) => sql.push_bind(*v).push(", ").push_bind(*id),
            (SortKey::Available, After::Count(v, id)) => {
                sql.push_bind(*v).push(", ").push_bind(*id)
            }
            (SortKey::CreatedAt | SortKey::UpdatedAt, After::Time(v, id)) => {
                sql.push_bind(*v).push(", ").push_bind(*id)
            }
            _ => {
                return Err(ApiError::NotFound {
                    code: "cursor_not_found",
                    detail: "this cursor belongs to another sort order; start again without it"
                        .into(),
                });
            }
        };
        sql.push(")");
    }
    let order = |sql: &mut QueryBuilder<Postgres>, alias: &str| {
        sql.push(format_args!(
            " ORDER BY {} {direction}, {alias}.id {direction}",
            key.column(alias)
        ));
    };
    order(&mut sql, "p");
    sql.push(" LIMIT ").push_bind(page.limit + 1);
    sql.push(") page");
    sql.push(IMAGE_JOIN);
    if !stock_first {
        push_stock_join(&mut sql, "page", query.location_id);
    }
    order(&mut sql, "page");

    let rows: Vec<ProductRow> = sql.build_query_as().fetch_all(&mut *tenant.db).await?;
    let total = rows
        .first()
        .and_then(|r| r.total)
        .or(page.include_total.then_some(0));
    let org = tenant.caller.org_id;
    let mut products = Vec::with_capacity(rows.len());
    for row in rows {
        products.push(ProductWithStock {
            product: crate::model::view(&state, org, row.product, row.image).await?,
            stock: StockTotals::new(row.on_hand, row.reserved),
        });
    }
    Ok(Json(Page::from_rows(products, page.limit, total, |p| {
        cursor_of(key, p)
    })))
}

/// The products that match the filters; with their stock (`on_hand`, `reserved`) when
/// `with_stock`.
fn push_matching(
    sql: &mut QueryBuilder<Postgres>,
    org_id: Uuid,
    query: &ListQuery,
    pattern: Option<&str>,
    with_stock: bool,
) {
    if with_stock {
        sql.push("SELECT p.*, ");
        push_stock_columns(sql, "p", query.location_id);
        sql.push(" FROM products p");
        push_stock_join(sql, "p", query.location_id);
    } else {
        sql.push("SELECT p.* FROM products p");
    }
    sql.push(" WHERE p.org_id = ").push_bind(org_id);
    sql.push(" AND p.is_active = ")
        .push_bind(query.active.unwrap_or(true));
    if let Some(best_seller) = query.best_seller {
        sql.push(" AND p.best_seller = ").push_bind(best_seller);
    }
    if let Some(suppliers) = Ids::sql(&query.supplier_id) {
        sql.push(" AND p.supplier_id = ANY(")
            .push_bind(suppliers.to_vec())
            .push(")");
    }
    if let Some(below) = query.available_lt {
        let (on_hand, reserved) = stock_expressions("p", query.location_id);
        sql.push(format_args!(" AND {on_hand} - {reserved} < "))
            .push_bind(below);
    }
    if let Some(barcode) = &query.barcode {
        sql.push(" AND p.barcode = ").push_bind(barcode.clone());
    }
    if let Some(pattern) = pattern {
        sql.push(
            " AND lower(p.name) || ' ' || lower(p.sku) || ' ' || lower(coalesce(p.barcode, '')) LIKE ",
        )
        .push_bind(pattern.to_owned());
    }
}

/// The stock of the product `alias` names, over all locations or at `location`: two SQL
/// expressions (on hand, reserved), to select or compare. Over all locations they read the
/// product's row, less the holds already past their deadline that no release has given back
/// yet (as `stock_now` does; looked up only when the row says one is due). At a location they
/// read the lateral join `push_stock_join` adds.
fn stock_expressions(alias: &str, location: Option<Uuid>) -> (String, String) {
    match location {
        None => (
            format!("{alias}.stock_on_hand"),
            format!(
                "({alias}.stock_reserved - CASE WHEN {alias}.stock_holds_until <= now() THEN \
                 (SELECT coalesce(sum(r.quantity), 0) FROM reservations r \
                 WHERE r.product_id = {alias}.id AND r.status = 'active' \
                 AND r.expires_at <= now()) ELSE 0 END)"
            ),
        ),
        Some(_) => (
            "coalesce(st.on_hand, 0)".to_owned(),
            "coalesce(st.reserved, 0)".to_owned(),
        ),
    }
}

/// `on_hand` and `reserved` of the product `alias` names (see `stock_expressions`).
fn push_stock_columns(sql: &mut QueryBuilder<Postgres>, alias: &str, location: Option<Uuid>) {
    let (on_hand, reserved) = stock_expressions(alias, location);
    sql.push(format_args!(
        "{on_hand}::bigint AS on_hand, {reserved}::bigint AS reserved"
    ));
}

/// The stock of each product `alias` names at `location` (`st.on_hand`, `st.reserved`: `NULL`
/// without any); nothing to join over all locations, which the product's row holds.
fn push_stock_join(sql: &mut QueryBuilder<Postgres>, alias: &str, location: Option<Uuid>) {
    let Some(location) = location else {
        return;
    };
    sql.push(format_args!(
        " LEFT JOIN LATERAL (SELECT sum(s.on_hand)::bigint AS on_hand, \
         sum(s.reserved)::bigint AS reserved FROM stock_now s \
         WHERE s.org_id = {alias}.org_id AND s.product_id = {alias}.id \
         AND s.location_id = "
    ));
    sql.push_bind(location);
    sql.push(") st ON true");
}

/// A product's image, beside the product in the same statement.
const IMAGE_COLUMNS: &str = "u.width AS image_width, u.height AS image_height, \
     u.thumbnail_format AS image_thumbnails";
const IMAGE_JOIN: &str =
    " LEFT JOIN uploads u ON u.org_id = page.org_id AND u.id = page.image_upload_id";

#[derive(sqlx::FromRow)]
struct ProductRow {
    #[sqlx(flatten)]
    product: Product,
    #[sqlx(flatten)]
    image: ImageRow,
    on_hand: i64,
    reserved: i64,
    total: Option<i64>,
}
