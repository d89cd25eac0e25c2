//! Recording counts, one product or many at once, and reading the lines.
//!
//! Counting takes inventory read, not write: the counters of a blind stocktake are the people
//! who must not see the expected figures. Each count is compared with the stock at the moment
//! it is recorded (`on_hand_at_count`), so a sale between the snapshot and the count is not
//! taken for a missing unit.

use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use shared::auth::caller::{Inventory, Read};
use shared::auth::{Caller, Require};
use shared::error::{ApiError, FieldError, Fields};
use shared::http::idempotency::{self, Answer, IdempotencyKey};
use shared::http::pagination::{Page, PageQuery, PageRequest};
use shared::http::{AppJson, AppQuery, PathId};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::stocktakes::create::sees_expected;
use crate::stocktakes::model::{self, StocktakeStatus};

/// At most this many counts in one batch.
const MAX_BATCH: usize = 1_000;

#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Count {
    /// Units found on the shelf.
    #[schema(minimum = 0)]
    counted: i32,
}

#[derive(Clone, Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchCount {
    product_id: Uuid,
    #[schema(minimum = 0)]
    counted: i32,
}

#[derive(Clone, Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Counts {
    /// 1 to 1,000 counts; a product given twice keeps its last count.
    #[schema(min_items = 1, max_items = 1000)]
    lines: Vec<BatchCount>,
}

/// A line of a stocktake. `expected`, `on_hand_at_count` and `variance` are `null` on a blind
/// stocktake for a caller without inventory write.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Line {
    product_id: Uuid,
    sku: String,
    name: String,
    /// On hand at the location when the stocktake began.
    expected: Option<i32>,
    counted: Option<i32>,
    /// On hand when the count was recorded: what the count is compared with.
    on_hand_at_count: Option<i32>,
    /// `counted - on_hand_at_count`.
    variance: Option<i32>,
    /// The variance at the product's average cost, its standard cost before any costed receipt
    /// (`null` without a cost or a count).
    #[schema(value_type = Option<String>, example = "-2.50")]
    variance_value: Option<rust_decimal::Decimal>,
    #[schema(value_type = shared::domain::CurrencyCode)]
    currency: String,
    /// How many times it was counted (the last count is kept).
    times_counted: i32,
    counted_at: Option<DateTime<Utc>>,
    /// The adjustment the apply made (`0`: none needed); `null` until applied.
    applied_difference: Option<i32>,
}

/// What a batch did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Counted {
    /// Lines counted by this request.
    counted: usize,
    /// Products that already had a count, now replaced by this one.
    recounted: Vec<Uuid>,
}

/// `PUT /api/stocktakes/{id}/lines/{product_id}`: the count of one product (again: the last
/// count is kept, and `times_counted` says so).
#[utoipa::path(put, path = "/api/stocktakes/{id}/lines/{product_id}", operation_id = "count_stocktake_line",
    params(("id" = Uuid, Path), ("product_id" = Uuid, Path)), request_body = Count,
    responses((status = 200, body = Line), (status = 409, description = "`stocktake_not_open`")))]
pub async fn count_one(
    mut tenant: Require<Inventory, Read>,
    Path((id, product)): Path<(Uuid, Uuid)>,
    AppJson(body): AppJson<Count>,
) -> Result<Json<Line>, ApiError> {
    let (caller, tx) = tenant.parts();
    let head = record(tx, caller, id, &[(product, body.counted, "counted".into())]).await?;
    let expected = sees_expected(caller, head);
    let mut lines = read(
        tx,
        caller.org_id,
        id,
        Some(product),
        None,
        None,
        1,
        expected,
    )
    .await?;
    lines
        .pop()
        .ok_or_else(|| ApiError::not_found("stocktake line"))
        .map(Json)
}

/// `POST /api/stocktakes/{id}/lines`: up to 1,000 counts in one request, all or none; a retry
/// with the same `Idempotency-Key` answers the first response and counts nothing again.
#[utoipa::path(post, path = "/api/stocktakes/{id}/lines", operation_id = "count_stocktake_lines",
    params(("id" = Uuid, Path), shared::http::openapi::IdempotencyKeyHeader), request_body = Counts,
    responses((status = 200, body = Counted), (status = 409, description = "`stocktake_not_open`")))]
pub async fn count_many(
    mut tenant: Require<Inventory, Read>,
    key: IdempotencyKey,
    PathId(id): PathId,
    AppJson(body): AppJson<Counts>,
) -> Result<Answer, ApiError> {
    if body.lines.is_empty() || body.lines.len() > MAX_BATCH {
        return Err(ApiError::invalid_field(
            "lines",
            "out_of_range",
            format!("between 1 and {MAX_BATCH} counts"),
        ));
    }
    // A product given twice keeps its last count.
    let mut last = std::collections::HashMap::new();
    for (i, line) in body.lines.iter().enumerate() {
        last.insert(line.product_id, (i, line.counted));
    }
    let mut counts: Vec<(Uuid, i32, String)> = last
        .into_iter()
        .map(|(product, (i, counted))| (product, counted, format!("lines[{i}].counted")))
        .collect();
    counts.sort_unstable_by_key(|(product, _, _)| *product);
    let (caller, tx) = tenant.parts();
    // The key stands for this path (this stocktake) and body, as for every create.
    idempotency::create(tx, caller, &key, &body, async |tx| {
        count_batch(tx, caller, id, &counts).await
    })
    .await
}

/// Records a checked batch (`counts` in product order); which products already had a count.
async fn count_batch(
    tx: &mut PgConnection,
    caller: &Caller,
    id: Uuid,
    counts: &[(Uuid, i32, String)],
) -> Result<(StatusCode, Counted), ApiError> {
    let before = sqlx::query_scalar!(
        r#"SELECT product_id AS "id!" FROM stocktake_lines
           WHERE org_id = $1 AND stocktake_id = $2 AND product_id = ANY($3) AND counted IS NOT NULL
           ORDER BY product_id"#,
        caller.org_id,
        id,
        &counts.iter().map(|(p, _, _)| *p).collect::<Vec<_>>()
    )
    .persistent(false)
    .fetch_all(&mut *tx)
    .await?;
    record(tx, caller, id, counts).await?;
    Ok((
        StatusCode::OK,
        Counted {
            counted: counts.len(),
            recounted: before,
        },
    ))
}

/// Records `counts` (product, count, field for errors) on the open stocktake; 422 naming each
/// negative count or product not in it, nothing written. Answers whether the stocktake is
/// blind.
async fn record(
    tx: &mut PgConnection,
    caller: &Caller,
    id: Uuid,
    counts: &[(Uuid, i32, String)],
) -> Result<bool, ApiError> {
    let org = caller.org_id;
    // Shares the stocktake's row with other counters; the apply takes it exclusively.
    let head = sqlx::query!(
        r#"SELECT blind, status AS "status: StocktakeStatus", location_id FROM stocktakes
           WHERE org_id = $1 AND id = $2 FOR SHARE"#,
        org,
        id
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| ApiError::not_found("stocktake"))?;
    if head.status != StocktakeStatus::Open {
        let full = model::head(tx, org, id, false).await?;
        return Err(model::not_open(&full));
    }
    let mut fields = Fields::default();
    for (_, counted, field) in counts {
        if *counted < 0 {
            fields.add(FieldError::new(
                field.clone(),
                "negative",
                "a count is 0 or more",
            ));
        }
    }
    let products: Vec<Uuid> = counts.iter().map(|(p, _, _)| *p).collect();
    let values: Vec<i32> = counts.iter().map(|(_, c, _)| *c).collect();
    if fields.is_empty() {
        let (user, key) = caller.actor_ids();
        let updated = sqlx::query_scalar!(
            r#"UPDATE stocktake_lines l
               SET counted = c.counted,
                   on_hand_at_count = coalesce(s.on_hand, 0),
                   counted_at = now(), counted_by = $5, counted_by_api_key = $6,
                   times_counted = l.times_counted + 1
               FROM unnest($3::uuid[], $4::int[]) AS c(product_id, counted)
               LEFT JOIN stock_levels s ON s.product_id = c.product_id AND s.location_id = $7
               WHERE l.org_id = $1 AND l.stocktake_id = $2 AND l.product_id = c.product_id
               RETURNING l.product_id"#,
            org,
            id,
            &products,
            &values,
            user,
            key,
            head.location_id
        )
        // Planned for the batch at hand, never from the connection's cached generic plan:
        // that one assumes ten array elements and, for lines too new for the statistics, a
        // small table, and scanned every line for each count (1.8 s a batch of 1,000 from a
        // connection's sixth batch on, against 30 ms).
        .persistent(false)
        .fetch_all(&mut *tx)
        .await?;
        if updated.len() == counts.len() {
            return Ok(head.blind);
        }
        for (product, _, field) in counts {
            if !updated.contains(product) {
                let field = field.replace(".counted", ".product_id");
                let field = if field == "counted" {
                    "product_id".to_owned()
                } else {
                    field
                };
                fields.add(FieldError::new(
                    field,
                    "not_in_stocktake",
                    format!("product {product} is not counted in this stocktake"),
                ));
            }
        }
    }
    // The request's transaction rolls back: nothing of this batch is kept.
    Err(fields.into_error())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LinesQuery {
    /// `true`: counted lines only; `false`: the ones still to count.
    counted: Option<bool>,
}

/// `GET /api/stocktakes/{id}/lines`: by product id.
#[utoipa::path(get, path = "/api/stocktakes/{id}/lines", operation_id = "list_stocktake_lines",
    params(("id" = Uuid, Path), LinesQuery, PageQuery),
    responses((status = 200, body = Page<Line>)))]
pub async fn list(
    mut tenant: Require<Inventory, Read>,
    PathId(id): PathId,
    AppQuery(query): AppQuery<LinesQuery>,
    page: PageRequest<Uuid>,
) -> Result<Json<Page<Line>>, ApiError> {
    let (caller, tx) = tenant.parts();
    let head = model::head(tx, caller.org_id, id, false).await?;
    let expected = sees_expected(caller, head.blind);
    let (after, limit) = (page.after, page.limit + 1);
    let rows = read(
        tx,
        caller.org_id,
        id,
        None,
        after,
        query.counted,
        limit,
        expected,
    )
    .await?;
    Ok(Json(Page::from_rows(rows, page.limit, None, |l| {
        l.product_id
    })))
}

/// Lines of the stocktake by product id: one product, or a page after `after` (counted ones
/// or the others only with `counted`).
#[allow(clippy::too_many_arguments)]
async fn read(
    tx: &mut PgConnection,
    org: Uuid,
    id: Uuid,
    product: Option<Uuid>,
    after: Option<Uuid>,
    counted: Option<bool>,
    limit: i64,
    expected: bool,
) -> Result<Vec<Line>, ApiError> {
    let rows = sqlx::query!(
        r#"SELECT l.product_id, p.sku, p.name, l.expected, l.counted, l.on_hand_at_count,
                  l.times_counted, l.counted_at, l.applied_difference, p.currency::text AS "currency!",
                  round((l.counted - l.on_hand_at_count) * coalesce(p.average_cost, p.cost), 2) AS variance_value
           FROM stocktake_lines l
           JOIN products p ON p.org_id = l.org_id AND p.id = l.product_id
           WHERE l.org_id = $1 AND l.stocktake_id = $2
             AND ($3::uuid IS NULL OR l.product_id = $3)
             AND ($4::uuid IS NULL OR l.product_id > $4)
             AND ($5::bool IS NULL OR (l.counted IS NOT NULL) = $5)
           ORDER BY l.product_id
           LIMIT $6"#,
        org,
        id,
        product,
        after,
        counted,
        limit
    )
    .fetch_all(tx)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Line {
            product_id: r.product_id,
            sku: r.sku,
            name: r.name,
            expected: expected.then_some(r.expected),
            counted: r.counted,
            on_hand_at_count: r.on_hand_at_count.filter(|_| expected),
            variance: r
                .counted
                .zip(r.on_hand_at_count)
                .map(|(c, o)| c - o)
                .filter(|_| expected),
            variance_value: r.variance_value.filter(|_| expected),
            currency: r.currency,
            times_counted: r.times_counted,
            counted_at: r.counted_at,
            applied_difference: r.applied_difference.filter(|_| expected),
        })
        .collect())
}
