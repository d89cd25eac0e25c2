//! The exports: a report's rows as CSV (streamed from the database) or XLSX (typed cells),
//! answered inline when they fit in one Lambda response, else stored in the export bucket
//! behind a short-lived link.

use axum::Json;
use axum::body::Bytes;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use futures_util::stream::{BoxStream, StreamExt};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde::Serialize;
use shared::AppState;
use shared::auth::Require;
use shared::auth::caller::{Read, Reports};
use shared::domain::MovementKind;
use shared::error::ApiError;
use sqlx::PgConnection;
use uuid::Uuid;

#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Kind {
    Products,
    Stock,
    Movements,
    StockValue,
}

impl Kind {
    /// The file's name (before the date and the extension) and its sheet's.
    fn name(self) -> &'static str {
        match self {
            Kind::Products => "products",
            Kind::Stock => "stock",
            Kind::Movements => "movements",
            Kind::StockValue => "stock-value",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Format {
    Csv,
    Xlsx,
}

/// What part of a report an export holds: `at` a past moment and one location, for the stock
/// value (the other reports are of now, everywhere).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Scope {
    pub at: Option<DateTime<Utc>>,
    pub location: Option<Uuid>,
}

pub(crate) enum Cell {
    Text(String),
    OptText(Option<String>),
    Int(i64),
    Money(Option<Decimal>),
    /// A unit cost: up to six decimals.
    Cost(Option<Decimal>),
    Bool(bool),
    Time(DateTime<Utc>),
}

impl Cell {
    /// The CSV field. Text that a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab,
    /// carriage return first) gets a leading `'`, the usual defence against CSV injection.
    fn csv(&self) -> String {
        match self {
            Cell::Text(s) | Cell::OptText(Some(s)) => {
                if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
                    format!("'{s}")
                } else {
                    s.clone()
                }
            }
            Cell::OptText(None) | Cell::Money(None) | Cell::Cost(None) => String::new(),
            Cell::Int(n) => n.to_string(),
            Cell::Money(Some(d)) => d.to_string(),
            // An average keeps six decimals; the trailing zeros say nothing.
            Cell::Cost(Some(d)) => d.normalize().to_string(),
            Cell::Bool(b) => b.to_string(),
            // As every other time of the API: RFC 3339 in UTC with a `Z`.
            Cell::Time(t) => t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
        }
    }
}

pub(crate) fn header(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::Products => &[
            "sku",
            "name",
            "price",
            "currency",
            "cost",
            "unit",
            "barcode",
            "reorder_point",
            "best_seller",
            "supplier",
            "active",
            "created_at",
        ],
        Kind::Stock => &[
            "sku",
            "name",
            "location",
            "on_hand",
            "reserved",
            "available",
        ],
        Kind::Movements => &[
            "id",
            "created_at",
            "sku",
            "location",
            "kind",
            "quantity",
            "reason",
            "unit_cost",
            "cost_currency",
        ],
        Kind::StockValue => &[
            "sku",
            "name",
            "location",
            "quantity",
            "currency",
            "unit_cost",
            "cost_source",
            "value",
        ],
    }
}

/// An export's query as rows of cells, `row` making each.
fn cells<'a, R: Send + 'a>(
    rows: BoxStream<'a, Result<R, sqlx::Error>>,
    row: fn(R) -> Vec<Cell>,
) -> Rows<'a> {
    rows.map(move |r| r.map(row)).boxed()
}

type Rows<'a> = BoxStream<'a, Result<Vec<Cell>, sqlx::Error>>;

/// The rows of an export, read as a stream (never all in memory for CSV).
fn rows(kind: Kind, db: &mut PgConnection, org: Uuid, scope: Scope) -> Rows<'_> {
    match kind {
        Kind::Products => cells(
            sqlx::query!(
                r#"SELECT p.sku, p.name, p.price, p.currency, p.cost, p.unit, p.barcode, p.reorder_point,
                          p.best_seller, s.name AS "supplier?", p.is_active, p.created_at
                   FROM products p LEFT JOIN suppliers s ON s.org_id = p.org_id AND s.id = p.supplier_id
                   WHERE p.org_id = $1 ORDER BY lower(p.sku)"#,
                org
            )
            .fetch(db),
            |r| vec![
                Cell::Text(r.sku),
                Cell::Text(r.name),
                Cell::Money(Some(r.price)),
                Cell::Text(r.currency),
                Cell::Money(r.cost),
                Cell::Text(r.unit),
                Cell::OptText(r.barcode),
                Cell::Int(r.reorder_point.into()),
                Cell::Bool(r.best_seller),
                Cell::OptText(r.supplier),
                Cell::Bool(r.is_active),
                Cell::Time(r.created_at),
            ],
        ),
        Kind::Stock => cells(
            sqlx::query!(
                r#"SELECT p.sku, p.name, l.name AS location, s.on_hand AS "on_hand!", s.reserved AS "reserved!"
                   FROM stock_now s
                   JOIN products p ON p.org_id = s.org_id AND p.id = s.product_id
                   JOIN locations l ON l.org_id = s.org_id AND l.id = s.location_id
                   WHERE s.org_id = $1 ORDER BY lower(p.sku), lower(l.name)"#,
                org
            )
            .fetch(db),
            |r| vec![
                Cell::Text(r.sku),
                Cell::Text(r.name),
                Cell::Text(r.location),
                Cell::Int(r.on_hand.into()),
                Cell::Int(r.reserved.into()),
                Cell::Int((r.on_hand - r.reserved).into()),
            ],
        ),
        Kind::Movements => cells(
            sqlx::query!(
                r#"SELECT m.id, m.created_at, p.sku, l.name AS location, m.kind AS "kind: MovementKind", m.quantity, m.reason,
                          m.unit_cost, m.cost_currency::text
                   FROM stock_movements m
                   JOIN products p ON p.org_id = m.org_id AND p.id = m.product_id
                   JOIN locations l ON l.org_id = m.org_id AND l.id = m.location_id
                   WHERE m.org_id = $1 ORDER BY m.id"#,
                org
            )
            .fetch(db),
            |r| vec![
                Cell::Int(r.id),
                Cell::Time(r.created_at),
                Cell::Text(r.sku),
                Cell::Text(r.location),
                Cell::Text(r.kind.as_str().to_owned()),
                Cell::Int(r.quantity.into()),
                Cell::Text(r.reason),
                Cell::Cost(r.unit_cost),
                Cell::OptText(r.cost_currency),
            ],
        ),
        Kind::StockValue => cells(
            sqlx::query!(
                r#"SELECT p.sku, p.name, l.name AS location, v.quantity AS "quantity!", v.currency AS "currency!",
                          v.unit_cost, v.source, v.value
                   FROM stockroom_stock_value($1, $2) v
                   JOIN products p ON p.id = v.product_id
                   JOIN locations l ON l.id = v.location_id
                   WHERE $3::uuid IS NULL OR v.location_id = $3
                   ORDER BY lower(p.sku), p.id, lower(l.name), l.id"#,
                org,
                scope.at,
                scope.location
            )
            .fetch(db),
            |r| vec![
                Cell::Text(r.sku),
                Cell::Text(r.name),
                Cell::Text(r.location),
                Cell::Int(r.quantity),
                Cell::Text(r.currency),
                Cell::Cost(r.unit_cost),
                Cell::OptText(r.source),
                Cell::Money(r.value),
            ],
        ),
    }
}

fn csv_line(cells: impl IntoIterator<Item = String>) -> Result<Bytes, ApiError> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer
        .write_record(cells)
        .map_err(|e| ApiError::Internal(e.into()))?;
    writer
        .into_inner()
        .map(Bytes::from)
        .map_err(|e| ApiError::Internal(io_error(e.to_string()).into()))
}

fn io_error(message: String) -> std::io::Error {
    std::io::Error::other(message)
}

/// The export of `kind` as `format`, delivered.
///
/// An export that fits in one Lambda response (`EXPORT_INLINE_MAX_BYTES`) is the response. A
/// larger one is never attempted as a response (Lambda would refuse it with a 502): it goes to
/// the export bucket, and the answer is 303 See Other to a pre-signed link that works for
/// `EXPORT_URL_TTL_SECONDS`, with the link in a JSON body too.
pub(crate) async fn deliver(
    state: &AppState,
    tenant: &mut Require<Reports, Read>,
    kind: Kind,
    format: Format,
    scope: Scope,
) -> Result<Response, ApiError> {
    let name = kind.name();
    let stamp = scope.at.unwrap_or_else(Utc::now).format("%Y-%m-%d");
    let (content_type, filename) = match format {
        Format::Csv => ("text/csv; charset=utf-8", format!("{name}-{stamp}.csv")),
        Format::Xlsx => (
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            format!("{name}-{stamp}.xlsx"),
        ),
    };
    let body = match format {
        Format::Csv => csv(tenant, kind, scope).await?,
        Format::Xlsx => xlsx(tenant, kind, name, scope).await?,
    };
    let disposition = format!("attachment; filename=\"{filename}\"");
    let exports = &state.settings.exports;
    if body.len() <= exports.inline_max_bytes {
        let mut response = body.into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        headers.insert(
            header::CONTENT_DISPOSITION,
            HeaderValue::from_str(&disposition).map_err(|e| ApiError::Internal(e.into()))?,
        );
        return Ok(response);
    }
    let Some(bucket) = &state.exports else {
        return Err(ApiError::NotConfigured {
            code: "export_too_large",
            detail: format!(
                "this export is {} bytes, more than one response can carry, and this \
                 deployment has no export bucket (EXPORT_BUCKET)",
                body.len()
            ),
        });
    };
    // The upload needs no database: the transaction (read-only) ends before it.
    tenant.db.suspend(true).await?;
    let size = body.len();
    let key = format!(
        "exports/{}/{}/{filename}",
        tenant.caller.org_id,
        Uuid::new_v4()
    );
    let bucket = bucket.bucket().await;
    let upstream = |e: anyhow::Error| {
        tracing::error!(error = format!("{e:#}"), "export upload failed");
        ApiError::Upstream {
            code: "export_upload_failed",
            detail: "the export could not be stored for download; try again".into(),
        }
    };
    bucket
        .put(&key, body, content_type, Some(&disposition))
        .await
        .map_err(upstream)?;
    let url = bucket
        .presigned_get_at(&key, None, std::time::SystemTime::now(), exports.url_ttl)
        .await
        .map_err(upstream)?;
    let expires_at = Utc::now()
        + chrono::Duration::from_std(exports.url_ttl).map_err(|e| ApiError::Internal(e.into()))?;
    let location = HeaderValue::from_str(&url).map_err(|e| ApiError::Internal(e.into()))?;
    let link = ExportLink {
        url,
        expires_at,
        file_name: filename,
        size_bytes: size as u64,
    };
    let mut response = (StatusCode::SEE_OTHER, Json(link)).into_response();
    response.headers_mut().insert(header::LOCATION, location);
    Ok(response)
}

/// Where a large export can be downloaded, without credentials, until `expires_at`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ExportLink {
    pub url: String,
    pub expires_at: DateTime<Utc>,
    pub file_name: String,
    pub size_bytes: u64,
}

/// The CSV file, row by row from the tenant connection.
async fn csv(
    tenant: &mut Require<Reports, Read>,
    kind: Kind,
    scope: Scope,
) -> Result<Vec<u8>, ApiError> {
    let mut out = csv_line(header(kind).iter().map(|h| h.to_string()))?.to_vec();
    let org = tenant.caller.org_id;
    let mut stream = rows(kind, &mut tenant.db, org, scope);
    while let Some(cells) = stream.next().await {
        out.extend_from_slice(&csv_line(cells?.iter().map(Cell::csv))?);
    }
    Ok(out)
}

/// Builds the workbook (XLSX is a zip, finished only at its end, so it is built in memory).
async fn xlsx(
    tenant: &mut Require<Reports, Read>,
    kind: Kind,
    sheet: &str,
    scope: Scope,
) -> Result<Vec<u8>, ApiError> {
    let mut workbook = rust_xlsxwriter::Workbook::new();
    let worksheet = workbook.add_worksheet();
    let fail = |e: rust_xlsxwriter::XlsxError| ApiError::Internal(e.into());
    worksheet.set_name(sheet).map_err(fail)?;
    let bold = rust_xlsxwriter::Format::new().set_bold();
    for (col, title) in header(kind).iter().enumerate() {
        worksheet
            .write_string_with_format(0, col as u16, *title, &bold)
            .map_err(fail)?;
    }
    let org = tenant.caller.org_id;
    let mut stream = rows(kind, &mut tenant.db, org, scope);
    // Typed cells, so the sheet sorts, sums and filters: money as numbers with two decimals
    // (numeric(14,2) has at most 14 digits, which an f64 holds exactly to the cent), times as
    // Excel date-times in UTC.
    let money = rust_xlsxwriter::Format::new().set_num_format("#,##0.00");
    // A unit cost (an average) has up to six decimals: the cell keeps them (an f64 holds any
    // cost below a billion to the sixth decimal), the sheet shows at least two and at most four.
    let cost = rust_xlsxwriter::Format::new().set_num_format("#,##0.00##");
    let when = rust_xlsxwriter::Format::new().set_num_format("yyyy-mm-dd hh:mm:ss");
    let mut row = 1u32;
    while let Some(cells) = stream.next().await {
        for (col, cell) in cells?.iter().enumerate() {
            let col = col as u16;
            match cell {
                Cell::Text(s) | Cell::OptText(Some(s)) => {
                    worksheet.write_string(row, col, s).map(|_| ())
                }
                Cell::OptText(None) | Cell::Money(None) | Cell::Cost(None) => Ok(()),
                Cell::Int(n) => worksheet.write_number(row, col, *n as f64).map(|_| ()),
                Cell::Money(Some(d)) | Cell::Cost(Some(d)) => {
                    let value = d.to_f64().ok_or_else(|| {
                        ApiError::Internal(io_error(format!("{d} has no f64 value")).into())
                    })?;
                    let format = if matches!(cell, Cell::Cost(_)) {
                        &cost
                    } else {
                        &money
                    };
                    worksheet
                        .write_number_with_format(row, col, value, format)
                        .map(|_| ())
                }
                Cell::Bool(b) => worksheet.write_boolean(row, col, *b).map(|_| ()),
                Cell::Time(t) => worksheet
                    .write_datetime_with_format(row, col, t.naive_utc(), &when)
                    .map(|_| ()),
            }
            .map_err(fail)?;
        }
        row += 1;
    }
    worksheet.autofit();
    drop(stream);
    workbook.save_to_buffer().map_err(fail)
}
