//! What the stock is worth: `GET /api/reports/stock-value` (totals per currency and per
//! location), `GET /api/reports/stock-value/products` (a page of products) and the export, now
//! or at a past moment. They read `stockroom_stock_value` (migration 20261211000001): one
//! valuation wherever it is shown. A page of products valued now is the exception: it applies
//! the same rule along the products' SKU index, so as not to value every product for one page.

use axum::Json;
use axum::extract::State;
use axum::response::Response;
use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use shared::AppState;
use shared::auth::Require;
use shared::auth::caller::{Read, Reports};
use shared::error::ApiError;
use shared::http::AppQuery;
use shared::http::openapi::Binary;
use shared::http::pagination::{Page, PageQuery, PageRequest};
use uuid::Uuid;

use crate::export::{ExportLink, Format, Kind, Scope};

/// The moment `at` names (an RFC 3339 date-time, or a date: the end of that day, UTC), checked:
/// none for now, and for a moment still to come (the ledger has nothing after now, so the stock
/// then is valued as it is now); 422 when it is neither a date nor a date-time.
pub fn moment(at: Option<&str>) -> Result<Option<DateTime<Utc>>, ApiError> {
    let Some(text) = at else { return Ok(None) };
    let invalid = || {
        ApiError::invalid_field(
            "at",
            "invalid",
            "an RFC 3339 date-time (2026-11-30T18:00:00Z) or a date (2026-11-30)",
        )
    };
    let at = if let Ok(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        let end = NaiveTime::from_hms_micro_opt(23, 59, 59, 999_999).ok_or_else(invalid)?;
        day.and_time(end).and_utc()
    } else {
        // A `+` left unescaped in a query string arrives as a space: `...T10:00:00 02:00`.
        let offset_fixed = match text.rsplit_once(' ') {
            Some((moment, offset)) if moment.contains(['T', 't']) => format!("{moment}+{offset}"),
            _ => text.to_owned(),
        };
        DateTime::parse_from_rfc3339(&offset_fixed)
            .map_err(|_| invalid())?
            .with_timezone(&Utc)
    };
    Ok((at < Utc::now()).then_some(at))
}

/// `at`'s schema: a date or a date-time.
fn at_schema() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, OneOf, Schema, SchemaFormat, Type};
    let text = |format| {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(format)))
            .into()
    };
    let mut one_of = OneOf::new();
    one_of.items = vec![text(KnownFormat::Date), text(KnownFormat::DateTime)];
    one_of.example = Some(serde_json::json!("2026-11-30"));
    Schema::OneOf(one_of)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ValueQuery {
    /// The moment to value the stock at: an RFC 3339 date-time, or a date (the end of that day,
    /// UTC); now when absent or still to come.
    #[param(schema_with = at_schema)]
    at: Option<String>,
    /// Only the stock at this location.
    location_id: Option<Uuid>,
}

/// The stock of one currency: products are valued in their own currency, and no rate turns
/// one into another, so there is a total per currency.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CurrencyTotal {
    #[schema(value_type = shared::domain::CurrencyCode)]
    currency: String,
    /// Units on hand.
    quantity: i64,
    /// Their value, to the cent (the sum of the rows of the export).
    #[schema(value_type = String, example = "1234.50")]
    #[serde(with = "rust_decimal::serde::str")]
    value: Decimal,
    /// Products with stock.
    products: i64,
    /// Units of products without any cost (neither an average nor a standard cost): not in
    /// `value`.
    unvalued_quantity: i64,
}

/// The stock at one location, in one currency.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LocationValue {
    location_id: Uuid,
    location_name: String,
    #[schema(value_type = shared::domain::CurrencyCode)]
    currency: String,
    quantity: i64,
    #[schema(value_type = String, example = "310.00")]
    #[serde(with = "rust_decimal::serde::str")]
    value: Decimal,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StockValue {
    /// The moment valued (now when `at` was absent or still to come).
    at: DateTime<Utc>,
    /// Per currency, most valuable first.
    totals: Vec<CurrencyTotal>,
    /// Per location and currency, by location name.
    locations: Vec<LocationValue>,
}

/// `GET /api/reports/stock-value`: the stock's value in total (per currency) and per location,
/// now or at a past moment (the ledger up to then, at each product's average cost then).
#[utoipa::path(get, path = "/api/reports/stock-value", params(ValueQuery),
    responses((status = 200, description = "The stock's value per currency and per location", body = StockValue),
        (status = 422, description = "`at` is neither a date nor a date-time")))]
pub async fn totals(
    mut tenant: Require<Reports, Read>,
    AppQuery(query): AppQuery<ValueQuery>,
) -> Result<Json<StockValue>, ApiError> {
    let at = moment(query.at.as_deref())?;
    let org = tenant.caller.org_id;
    // One pass over the valuation: the per-location rows, and the totals grouped from them.
    let rows = sqlx::query!(
        r#"WITH v AS MATERIALIZED (
               SELECT v.product_id, v.location_id, v.quantity, v.currency, v.value
               FROM stockroom_stock_value($1, $2) v
               WHERE $3::uuid IS NULL OR v.location_id = $3
           )
           SELECT v.location_id AS "location_id?", l.name AS "location_name?", v.currency AS "currency!",
                  sum(v.quantity)::bigint AS "quantity!", coalesce(sum(v.value), 0) AS "value!",
                  count(DISTINCT v.product_id) AS "products!",
                  coalesce(sum(v.quantity) FILTER (WHERE v.value IS NULL), 0)::bigint AS "unvalued!"
           FROM v JOIN locations l ON l.id = v.location_id
           GROUP BY GROUPING SETS ((v.location_id, l.name, v.currency), (v.currency))
           ORDER BY 5 DESC, 3"#,
        org,
        at,
        query.location_id
    )
    .fetch_all(&mut *tenant.db)
    .await?;
    let mut answer = StockValue {
        at: at.unwrap_or_else(Utc::now),
        totals: Vec::new(),
        locations: Vec::new(),
    };
    for r in rows {
        match (r.location_id, r.location_name) {
            (Some(location_id), Some(location_name)) => answer.locations.push(LocationValue {
                location_id,
                location_name,
                currency: r.currency,
                quantity: r.quantity,
                value: r.value,
            }),
            _ => answer.totals.push(CurrencyTotal {
                currency: r.currency,
                quantity: r.quantity,
                value: r.value,
                products: r.products,
                unvalued_quantity: r.unvalued,
            }),
        }
    }
    answer.locations.sort_by(|a, b| {
        (a.location_name.to_lowercase(), a.location_id, &a.currency).cmp(&(
            b.location_name.to_lowercase(),
            b.location_id,
            &b.currency,
        ))
    });
    Ok(Json(answer))
}

/// A page of products valued now, by SKU from `after_sku`: walked along the products' SKU
/// index, each with its stock levels, instead of ranking every product with stock (a SKU is
/// unique in an organization, so it alone places the page).
async fn now(
    tenant: &mut Require<Reports, Read>,
    location: Option<Uuid>,
    after_sku: Option<String>,
    limit: i64,
) -> Result<Vec<ProductValue>, ApiError> {
    Ok(sqlx::query_as!(
        ProductValue,
        r#"SELECT p.id AS "product_id!", p.sku AS "sku!", p.name AS "name!", s.quantity AS "quantity!",
                  p.currency::text AS "currency!", coalesce(p.average_cost, p.cost) AS unit_cost,
                  CASE WHEN p.average_cost IS NOT NULL THEN 'average'
                       WHEN p.cost IS NOT NULL THEN 'standard' END AS cost_source,
                  s.value
           FROM products p
           CROSS JOIN LATERAL (
               SELECT sum(l.on_hand)::bigint AS quantity,
                      sum(round(l.on_hand * coalesce(p.average_cost, p.cost), 2)) AS value
               FROM stock_levels l
               WHERE l.product_id = p.id AND l.on_hand <> 0
                 AND ($2::uuid IS NULL OR l.location_id = $2)
           ) s
           WHERE p.org_id = $1 AND s.quantity <> 0
             AND ($2::uuid IS NOT NULL OR p.stock_on_hand <> 0)
             AND ($3::text IS NULL OR lower(p.sku) > $3)
           ORDER BY lower(p.sku)
           LIMIT $4"#,
        tenant.caller.org_id,
        location,
        after_sku,
        limit
    )
    .fetch_all(&mut *tenant.db)
    .await?)
}

/// One product's stock and its value.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProductValue {
    product_id: Uuid,
    sku: String,
    name: String,
    /// Units on hand (at the location asked for, else everywhere).
    quantity: i64,
    #[schema(value_type = shared::domain::CurrencyCode)]
    currency: String,
    /// What a unit is worth: its average cost then, else its standard cost; null without either.
    #[schema(value_type = Option<String>, example = "4.150000")]
    #[serde(with = "rust_decimal::serde::str_option")]
    unit_cost: Option<Decimal>,
    /// `average` (the moving average of its costed receipts) or `standard` (its `cost`, before
    /// any costed receipt); null without either.
    #[schema(value_type = Option<String>, example = "average")]
    cost_source: Option<String>,
    /// `quantity × unit_cost`, to the cent (per location, summed); null without a cost.
    #[schema(value_type = Option<String>, example = "41.50")]
    #[serde(with = "rust_decimal::serde::str_option")]
    value: Option<Decimal>,
}

/// `GET /api/reports/stock-value/products`: each product with stock, its quantity, unit cost
/// and value, now or at a past moment; by SKU.
#[utoipa::path(get, path = "/api/reports/stock-value/products", params(ValueQuery, PageQuery),
    responses((status = 200, description = "Products with their stock's value, by SKU", body = Page<ProductValue>),
        (status = 422, description = "`at` is neither a date nor a date-time")))]
pub async fn products(
    mut tenant: Require<Reports, Read>,
    AppQuery(query): AppQuery<ValueQuery>,
    page: PageRequest<(String, Uuid)>,
) -> Result<Json<Page<ProductValue>>, ApiError> {
    let at = moment(query.at.as_deref())?;
    let (after_sku, after_id) = page.after.clone().unzip();
    let rows = match at {
        None => now(&mut tenant, query.location_id, after_sku, page.limit + 1).await?,
        Some(_) => {
            sqlx::query_as!(
                ProductValue,
                r#"SELECT p.id AS "product_id!", p.sku AS "sku!", p.name AS "name!",
                  sum(v.quantity)::bigint AS "quantity!", v.currency AS "currency!",
                  min(v.unit_cost) AS unit_cost, min(v.source) AS cost_source,
                  sum(v.value) AS value
           FROM stockroom_stock_value($1, $2) v
           JOIN products p ON p.id = v.product_id
           WHERE ($3::uuid IS NULL OR v.location_id = $3)
             AND ($4::text IS NULL OR (lower(p.sku), p.id) > ($4, $5))
           GROUP BY p.id, v.currency
           HAVING sum(v.quantity) <> 0
           ORDER BY lower(p.sku), p.id
           LIMIT $6"#,
                tenant.caller.org_id,
                at,
                query.location_id,
                after_sku,
                after_id,
                page.limit + 1
            )
            .fetch_all(&mut *tenant.db)
            .await?
        }
    };
    let total = page
        .total(
            sqlx::query_scalar!(
                r#"SELECT count(*) AS "count!" FROM (
                       SELECT v.product_id FROM stockroom_stock_value($1, $2) v
                       WHERE $3::uuid IS NULL OR v.location_id = $3
                       GROUP BY v.product_id HAVING sum(v.quantity) <> 0) p"#,
                tenant.caller.org_id,
                at,
                query.location_id
            )
            .fetch_one(&mut *tenant.db),
        )
        .await?;
    Ok(Json(Page::from_rows(rows, page.limit, total, |r| {
        (r.sku.to_lowercase(), r.product_id)
    })))
}

/// `GET /api/reports/stock-value.csv`: a row per product and location (`location_id`: that one
/// only), now or `at` a past moment, delivered as the other exports are.
#[utoipa::path(get, path = "/api/reports/stock-value.csv", params(ValueQuery),
    responses((status = 200, description = "A download (`Content-Disposition: attachment; filename=\"stock-value-2026-11-30.csv\"`)",
        content((Binary = "text/csv"))),
        (status = 303, description = "Too large for one response: `Location` (and `url` in the body) is a short-lived link to the file", body = ExportLink,
            headers(("Location" = String, description = "The link to the file, as `url`"))),
        (status = 422, description = "`at` is neither a date nor a date-time"),
        (status = 503, description = "Too large for one response, and the deployment has no export bucket")))]
pub async fn export_csv(
    State(state): State<AppState>,
    tenant: Require<Reports, Read>,
    AppQuery(query): AppQuery<ValueQuery>,
) -> Result<Response, ApiError> {
    export(state, tenant, query, Format::Csv).await
}

/// `GET /api/reports/stock-value.xlsx`: as the CSV, as a workbook with typed cells.
#[utoipa::path(get, path = "/api/reports/stock-value.xlsx", params(ValueQuery),
    responses((status = 200, description = "A download (`Content-Disposition: attachment; filename=\"stock-value-2026-11-30.xlsx\"`)",
        content((Binary = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"))),
        (status = 303, description = "Too large for one response: `Location` (and `url` in the body) is a short-lived link to the file", body = ExportLink,
            headers(("Location" = String, description = "The link to the file, as `url`"))),
        (status = 422, description = "`at` is neither a date nor a date-time"),
        (status = 503, description = "Too large for one response, and the deployment has no export bucket")))]
pub async fn export_xlsx(
    State(state): State<AppState>,
    tenant: Require<Reports, Read>,
    AppQuery(query): AppQuery<ValueQuery>,
) -> Result<Response, ApiError> {
    export(state, tenant, query, Format::Xlsx).await
}

async fn export(
    state: AppState,
    mut tenant: Require<Reports, Read>,
    query: ValueQuery,
    format: Format,
) -> Result<Response, ApiError> {
    let scope = Scope {
        at: moment(query.at.as_deref())?,
        location: query.location_id,
    };
    crate::export::deliver(&state, &mut tenant, Kind::StockValue, format, scope).await
}
