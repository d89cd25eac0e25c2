//! Starting a stocktake (the snapshot of what the location should hold), listing them, and
//! reading one.

use axum::Json;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use shared::audit::{Action, Change};
use shared::auth::caller::{Inventory, Read, Write};
use shared::auth::permissions::Module;
use shared::auth::{Caller, Require};
use shared::error::{ApiError, FieldError, Fields};
use shared::http::idempotency::{self, Answer, IdempotencyKey};
use shared::http::pagination::{Page, PageQuery, PageRequest};
use shared::http::{AppJson, AppQuery, PathId};
use sqlx::PgConnection;
use uuid::Uuid;

use super::model::{self, Stocktake, StocktakeScope, StocktakeStatus};
use crate::locations;

/// At most this many products named in one stocktake.
const MAX_PRODUCTS: usize = 10_000;

#[derive(Clone, Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateStocktake {
    /// Where the count happens (default: the default location).
    location_id: Option<Uuid>,
    /// Count one supplier's active products.
    supplier_id: Option<Uuid>,
    /// Count these products (1 to 10,000; with `supplier_id`, each must be that supplier's).
    /// Without `supplier_id` or `product_ids`: every active product.
    #[schema(min_items = 1, max_items = 10000)]
    product_ids: Option<Vec<Uuid>>,
    /// Hide the expected figures from callers without inventory write (the counters).
    #[serde(default)]
    blind: bool,
    #[schema(max_length = 500)]
    note: Option<String>,
}

/// A [`CreateStocktake`] checked.
pub struct NewStocktake {
    location_id: Option<Uuid>,
    scope: StocktakeScope,
    supplier_id: Option<Uuid>,
    product_ids: Vec<Uuid>,
    blind: bool,
    note: Option<String>,
}

impl TryFrom<CreateStocktake> for NewStocktake {
    type Error = ApiError;

    fn try_from(body: CreateStocktake) -> Result<Self, ApiError> {
        let mut fields = Fields::default();
        let scope = match (&body.supplier_id, &body.product_ids) {
            (_, Some(_)) => StocktakeScope::Products,
            (Some(_), None) => StocktakeScope::Supplier,
            (None, None) => StocktakeScope::All,
        };
        let mut product_ids = body.product_ids.unwrap_or_default();
        if scope == StocktakeScope::Products && product_ids.is_empty() {
            fields.add(FieldError::new(
                "product_ids",
                "empty",
                "name at least one product",
            ));
        }
        if product_ids.len() > MAX_PRODUCTS {
            fields.add(FieldError::new(
                "product_ids",
                "too_many",
                format!("at most {MAX_PRODUCTS} products"),
            ));
        }
        product_ids.sort_unstable();
        product_ids.dedup();
        let note = fields.check(shared::domain::optional_text(
            body.note.as_deref(),
            "note",
            500,
        ));
        fields.finish(Self {
            location_id: body.location_id,
            scope,
            supplier_id: body.supplier_id,
            product_ids,
            blind: body.blind,
            note: note.flatten(),
        })
    }
}

/// `POST /api/stocktakes`: snapshots the expected stock of the products at the location.
#[utoipa::path(post, path = "/api/stocktakes", operation_id = "create_stocktake", params(shared::http::openapi::IdempotencyKeyHeader), request_body = CreateStocktake,
    responses((status = 201, body = Stocktake)))]
pub async fn create(
    mut tenant: Require<Inventory, Write>,
    key: IdempotencyKey,
    AppJson(body): AppJson<CreateStocktake>,
) -> Result<Answer, ApiError> {
    idempotency::create_new(&mut tenant, &key, body, insert).await
}

async fn insert(
    tx: &mut PgConnection,
    caller: &Caller,
    new: NewStocktake,
) -> Result<(StatusCode, Stocktake), ApiError> {
    let org = caller.org_id;
    let location = locations::resolve(tx, org, new.location_id, "location_id").await?;
    if let Some(supplier) = new.supplier_id {
        let known = sqlx::query_scalar!(
            r#"SELECT true AS "known!" FROM suppliers WHERE org_id = $1 AND id = $2"#,
            org,
            supplier
        )
        .fetch_optional(&mut *tx)
        .await?;
        if known.is_none() {
            return Err(ApiError::unknown_reference(
                "supplier_id",
                "unknown_supplier",
                "no such supplier in this organization",
            ));
        }
    }
    if new.scope == StocktakeScope::Products {
        let missing = sqlx::query_scalar!(
            r#"SELECT id AS "id!" FROM unnest($2::uuid[]) AS wanted(id)
               WHERE NOT EXISTS (SELECT 1 FROM products p
                                 WHERE p.org_id = $1 AND p.id = wanted.id AND p.is_active
                                   AND ($3::uuid IS NULL OR p.supplier_id = $3))
               LIMIT 20"#,
            org,
            &new.product_ids,
            new.supplier_id
        )
        .fetch_all(&mut *tx)
        .await?;
        if !missing.is_empty() {
            let list: Vec<String> = missing.iter().map(Uuid::to_string).collect();
            return Err(ApiError::unknown_reference(
                "product_ids",
                "unknown_product",
                format!(
                    "not an active product of this organization (or of this supplier): {}",
                    list.join(", ")
                ),
            ));
        }
    }
    let (user, key) = caller.actor_ids();
    let id = sqlx::query_scalar!(
        "INSERT INTO stocktakes (org_id, location_id, scope, supplier_id, blind, note, created_by,
                                 created_by_api_key)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        org,
        location,
        new.scope as StocktakeScope,
        new.supplier_id,
        new.blind,
        new.note,
        user,
        key
    )
    .fetch_one(&mut *tx)
    .await?;
    // The snapshot: what the location holds of each product now (0 without a level).
    let lines = sqlx::query!(
        "INSERT INTO stocktake_lines (org_id, stocktake_id, product_id, expected)
         SELECT p.org_id, $2, p.id, coalesce(s.on_hand, 0)
         FROM products p
         LEFT JOIN stock_levels s ON s.product_id = p.id AND s.location_id = $3
         WHERE p.org_id = $1 AND p.is_active
           AND ($4::uuid IS NULL OR p.supplier_id = $4)
           AND ($5::uuid[] IS NULL OR p.id = ANY($5))",
        org,
        id,
        location,
        new.supplier_id,
        (new.scope == StocktakeScope::Products).then_some(&new.product_ids[..]) as Option<&[Uuid]>
    )
    .execute(&mut *tx)
    .await?;
    if lines.rows_affected() == 0 {
        return Err(ApiError::conflict(
            "nothing_to_count",
            "no active product matches: the stocktake would have no lines",
        ));
    }
    let head = model::head(tx, org, id, false).await?;
    let stocktake = model::view(tx, org, head, true).await?;
    caller
        .audit(
            tx,
            Action::StocktakeCreated,
            id,
            Change::created(&serde_json::json!({
                "id": id, "location_id": location, "scope": new.scope,
                "supplier_id": new.supplier_id, "blind": new.blind,
                "lines": stocktake.progress.lines})),
        )
        .await?;
    Ok((StatusCode::CREATED, stocktake))
}

/// Whether the caller may see the expected figures of `head`.
pub fn sees_expected(caller: &Caller, blind: bool) -> bool {
    !blind || caller.can(Module::Inventory, true)
}

#[utoipa::path(get, path = "/api/stocktakes/{id}", operation_id = "get_stocktake", params(("id" = Uuid, Path)),
    responses((status = 200, body = Stocktake)))]
pub async fn get(
    mut tenant: Require<Inventory, Read>,
    PathId(id): PathId,
) -> Result<Json<Stocktake>, ApiError> {
    let (caller, tx) = tenant.parts();
    let head = model::head(tx, caller.org_id, id, false).await?;
    let expected = sees_expected(caller, head.blind);
    Ok(Json(model::view(tx, caller.org_id, head, expected).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    status: Option<StocktakeStatus>,
    location_id: Option<Uuid>,
}

/// One stocktake in a list: its row, without the progress figures.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StocktakeSummary {
    id: Uuid,
    location_id: Uuid,
    scope: StocktakeScope,
    supplier_id: Option<Uuid>,
    blind: bool,
    status: StocktakeStatus,
    note: Option<String>,
    created_at: DateTime<Utc>,
    applied_at: Option<DateTime<Utc>>,
}

/// `GET /api/stocktakes`: newest first.
#[utoipa::path(get, path = "/api/stocktakes", operation_id = "list_stocktakes", params(ListQuery, PageQuery),
    responses((status = 200, body = Page<StocktakeSummary>)))]
pub async fn list(
    mut tenant: Require<Inventory, Read>,
    AppQuery(query): AppQuery<ListQuery>,
    page: PageRequest<(DateTime<Utc>, Uuid)>,
) -> Result<Json<Page<StocktakeSummary>>, ApiError> {
    let (before_at, before_id) = page.after.unzip();
    let rows = sqlx::query_as!(
        StocktakeSummary,
        r#"SELECT id, location_id, scope AS "scope: StocktakeScope", supplier_id, blind,
                  status AS "status: StocktakeStatus", note, created_at, applied_at
           FROM stocktakes
           WHERE org_id = $1
             AND ($2::stocktake_status IS NULL OR status = $2)
             AND ($3::uuid IS NULL OR location_id = $3)
             AND ($4::timestamptz IS NULL OR (created_at, id) < ($4, $5))
           ORDER BY created_at DESC, id DESC
           LIMIT $6"#,
        tenant.caller.org_id,
        query.status as Option<StocktakeStatus>,
        query.location_id,
        before_at,
        before_id,
        page.limit + 1
    )
    .fetch_all(&mut *tenant.db)
    .await?;
    Ok(Json(Page::from_rows(rows, page.limit, None, |r| {
        (r.created_at, r.id)
    })))
}
