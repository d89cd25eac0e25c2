//! The `dashboard` function, for the `reports` module: the summary (one SQL statement), the
//! stock's value (`stock_value`) and exports of products, stock, movements and the stock's value
//! as CSV and XLSX (`export`); exports too large for one Lambda response go to S3 behind a
//! pre-signed link.

use axum::Router;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::get;
use shared::AppState;
use shared::auth::Require;
use shared::auth::caller::{Read, Reports};
use shared::error::ApiError;
use shared::http::openapi::Binary;

mod export;
mod stock_value;
mod summary;

use export::{ExportLink, Format, Kind, Scope};

pub fn app(state: AppState) -> Router {
    let http = state.settings.http.clone();
    let router = Router::new()
        .route("/api/dashboard/summary", get(summary::summary))
        .route("/api/dashboard/export/{file}", get(export))
        .route("/api/reports/stock-value", get(stock_value::totals))
        .route(
            "/api/reports/stock-value/products",
            get(stock_value::products),
        )
        .route("/api/reports/stock-value.csv", get(stock_value::export_csv))
        .route(
            "/api/reports/stock-value.xlsx",
            get(stock_value::export_xlsx),
        )
        .with_state(state);
    shared::http::layers(router, &http, openapi)
}

/// Every file `GET /api/dashboard/export/{file}` makes.
const FILES: [&str; 6] = [
    "products.csv",
    "products.xlsx",
    "stock.csv",
    "stock.xlsx",
    "movements.csv",
    "movements.xlsx",
];

fn file_schema() -> utoipa::openapi::schema::Object {
    shared::http::openapi::text_enum(&FILES)
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
struct ExportPath {
    /// `products`, `stock` or `movements`, then `.csv` or `.xlsx`.
    #[param(schema_with = file_schema, example = "products.csv")]
    file: String,
}

fn parse_file(file: &str) -> Option<(Kind, Format)> {
    let (name, ext) = file.rsplit_once('.')?;
    let kind = match name {
        "products" => Kind::Products,
        "stock" => Kind::Stock,
        "movements" => Kind::Movements,
        _ => return None,
    };
    let format = match ext {
        "csv" => Format::Csv,
        "xlsx" => Format::Xlsx,
        _ => return None,
    };
    Some((kind, format))
}

/// `GET /api/dashboard/export/{products|stock|movements}.{csv|xlsx}`: answered inline, or (too
/// large for one Lambda response) a 303 to a short-lived link (`export::deliver`).
#[utoipa::path(get, path = "/api/dashboard/export/{file}",
    params(ExportPath),
    responses((status = 200, description = "A download (`Content-Disposition: attachment`)",
        content((Binary = "text/csv"), (Binary = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")),
        headers(("Content-Disposition" = String, description = "`attachment; filename=\"products-2026-12-07.csv\"`"))),
        (status = 404, description = "`unknown_export`: not one of the files above; `errors` lists them"),
        (status = 303, description = "Too large for one response: `Location` (and `url` in the body) is a short-lived link to the file", body = ExportLink,
            headers(("Location" = String, description = "The link to the file, as `url`"))),
        (status = 503, description = "Too large for one response, and the deployment has no export bucket")))]
async fn export(
    State(state): State<AppState>,
    mut tenant: Require<Reports, Read>,
    Path(ExportPath { file }): Path<ExportPath>,
) -> Result<Response, ApiError> {
    let (kind, format) = parse_file(&file).ok_or_else(|| {
        ApiError::unknown_reference(
            "file",
            "unknown_export",
            format!("must be one of {}", FILES.join(", ")),
        )
    })?;
    export::deliver(&state, &mut tenant, kind, format, Scope::default()).await
}

/// This function's operations, for the whole API's document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    #[derive(utoipa::OpenApi)]
    #[openapi(paths(
        summary::summary,
        export,
        stock_value::totals,
        stock_value::products,
        stock_value::export_csv,
        stock_value::export_xlsx
    ))]
    struct Doc;
    shared::http::openapi::function(<Doc as utoipa::OpenApi>::openapi(), "dashboard")
}
