//! `GET /api/products`: filters, sorting and keyset pagination.
//!
//! The sort column is chosen from a fixed list, so this one query is built at run time
//! (`QueryBuilder`, values always bound); each sort order has an index on
//! `(org_id, is_active, <column>, id)`, so a page costs the same at 1,000 or 100,000 products.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use shared::AppState;
use shared::auth::Require;
use shared::auth::caller::{Products, Read};
use shared::error::ApiError;
use shared::http::AppQuery;
use shared::http::pagination::{Page, PageQuery, PageRequest};
use sqlx::{Postgres, QueryBuilder};
use uuid::Uuid;

use crate::image::ImageRow;
use crate::model::{Product, ProductView};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// `true` (default): the active catalogue; `false`: soft-deleted products.
    active: Option<bool>,
    best_seller: Option<bool>,
    supplier_id: Option<Uuid>,
    /// Text search in name, SKU and barcode.
    q: Option<String>,
    /// Exactly this barcode (what a till scanned).
    #[param(max_length = 64)]
    barcode: Option<String>,
    /// `name` (default), `sku`, `price`, `created_at`, `updated_at`; prefix `-` for descending.
    #[param(pattern = "^-?(name|sku|price|created_at|updated_at)$")]
    sort: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum SortKey {
    Name,
    Sku,
    Price,
    CreatedAt,
    UpdatedAt,
}

impl SortKey {
    fn column(self) -> &'static str {
        match self {
            SortKey::Name => "lower(p.name)",
            SortKey::Sku => "lower(p.sku)",
            SortKey::Price => "p.price",
            SortKey::CreatedAt => "p.created_at",
            SortKey::UpdatedAt => "p.updated_at",
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
}

fn parse_sort(sort: Option<&str>) -> Result<(SortKey, bool), ApiError> {
    let sort = sort.unwrap_or("name");
    let (descending, name) = match sort.strip_prefix('-') {
        Some(name) => (true, name),
        None => (false, sort),
    };
    let key = match name {
        "name" => SortKey::Name,
        "sku" => SortKey::Sku,
        "price" => SortKey::Price,
        "created_at" => SortKey::CreatedAt,
        "updated_at" => SortKey::UpdatedAt,
        _ => {
            return Err(ApiError::invalid_field(
                "sort",
                "invalid",
                "sort by name, sku, price, created_at or updated_at (prefix - to reverse)",
            ));
        }
    };
    Ok((key, descending))
}

fn cursor_of(key: SortKey, product: &Product) -> After {
    match key {
        SortKey::Name => After::Text(product.name.to_lowercase(), product.id),
        SortKey::Sku => After::Text(product.sku.to_lowercase(), product.id),
        SortKey::Price => After::Money(product.price, product.id),
        SortKey::CreatedAt => After::Time(product.created_at, product.id),
        SortKey::UpdatedAt => After::Time(product.updated_at, product.id),
    }
}

#[utoipa::path(get, path = "/api/products", params(ListQuery, PageQuery),
    responses((status = 200, description = "The catalogue, filtered and sorted", body = Page<ProductView>)))]
pub async fn list(
    State(state): State<AppState>,
    mut tenant: Require<Products, Read>,
    AppQuery(query): AppQuery<ListQuery>,
    page: PageRequest<After>,
) -> Result<Json<Page<ProductView>>, ApiError> {
    let (key, descending) = parse_sort(query.sort.as_deref())?;
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

    let mut sql: QueryBuilder<Postgres> = QueryBuilder::new("");
    if page.include_total {
        sql.push("WITH f AS (SELECT p.* FROM products p");
        push_filters(&mut sql, tenant.caller.org_id, &query, pattern.as_deref());
        sql.push(") SELECT p.*, (SELECT count(*) FROM f) AS total, ");
        sql.push(IMAGE_COLUMNS);
        sql.push(" FROM f p");
        sql.push(IMAGE_JOIN);
        sql.push(" WHERE true");
    } else {
        sql.push("SELECT p.*, NULL::bigint AS total, ");
        sql.push(IMAGE_COLUMNS);
        sql.push(" FROM products p");
        sql.push(IMAGE_JOIN);
        push_filters(&mut sql, tenant.caller.org_id, &query, pattern.as_deref());
    }
    let (op, direction) = if descending {
        ("<", "DESC")
    } else {
        (">", "ASC")
    };
    if let Some(after) = &page.after {
        sql.push(format_args!(" AND ({}, p.id) {op} (", key.column()));
        match (key, after) {
            (SortKey::Name | SortKey::Sku, After::Text(v, id)) => {
                sql.push_bind(v.clone()).push(", ").push_bind(*id)
            }
            (SortKey::Price, After::Money(v, id)) => sql.push_bind(*v).push(", ").push_bind(*id),
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
    sql.push(format_args!(
        " ORDER BY {} {direction}, p.id {direction} LIMIT ",
        key.column()
    ));
    sql.push_bind(page.limit + 1);

    let rows: Vec<ProductRow> = sql.build_query_as().fetch_all(&mut *tenant.db).await?;
    let total = rows
        .first()
        .and_then(|r| r.total)
        .or(page.include_total.then_some(0));
    let org = tenant.caller.org_id;
    let mut products = Vec::with_capacity(rows.len());
    for row in rows {
        products.push(crate::model::view(&state, org, row.product, row.image).await?);
    }
    Ok(Json(Page::from_rows(products, page.limit, total, |p| {
        cursor_of(key, &p.product)
    })))
}

fn push_filters(
    sql: &mut QueryBuilder<Postgres>,
    org_id: Uuid,
    query: &ListQuery,
    pattern: Option<&str>,
) {
    sql.push(" WHERE p.org_id = ").push_bind(org_id);
    sql.push(" AND p.is_active = ")
        .push_bind(query.active.unwrap_or(true));
    if let Some(best_seller) = query.best_seller {
        sql.push(" AND p.best_seller = ").push_bind(best_seller);
    }
    if let Some(supplier_id) = query.supplier_id {
        sql.push(" AND p.supplier_id = ").push_bind(supplier_id);
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

/// A product's image, beside the product in the same statement.
const IMAGE_COLUMNS: &str = "u.width AS image_width, u.height AS image_height, \
     u.thumbnail_format AS image_thumbnails";
const IMAGE_JOIN: &str = " LEFT JOIN uploads u ON u.org_id = p.org_id AND u.id = p.image_upload_id";

#[derive(sqlx::FromRow)]
struct ProductRow {
    #[sqlx(flatten)]
    product: Product,
    #[sqlx(flatten)]
    image: ImageRow,
    total: Option<i64>,
}
