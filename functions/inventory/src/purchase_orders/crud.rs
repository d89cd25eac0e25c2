//! Purchase orders created, read, listed and edited while they are drafts.

use axum::Json;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use shared::audit::{Action, Change};
use shared::auth::caller::{Purchasing, Read, Write};
use shared::auth::{Caller, Require};
use shared::domain::PoStatus;
use shared::error::{ApiError, ResultExt};
use shared::http::Ids;
use shared::http::idempotency::{self, Answer, IdempotencyKey};
use shared::http::pagination::{Page, PageQuery, PageRequest};
use shared::http::{AppJson, AppQuery, PathId};
use shared::wise::PaymentStatus;
use sqlx::PgConnection;
use uuid::Uuid;

use super::input::{
    CreatePurchaseOrder, LineInput, NewPurchaseOrder, PurchaseOrderChange, UpdatePurchaseOrder,
};
use super::order::{self, PurchaseOrder, load};

/// An order goes to an active supplier (404 `unknown_supplier`, 409 `supplier_inactive`).
async fn active_supplier(
    conn: &mut PgConnection,
    org: Uuid,
    supplier: Uuid,
) -> Result<(), ApiError> {
    let active = sqlx::query_scalar!(
        "SELECT is_active FROM suppliers WHERE org_id = $1 AND id = $2",
        org,
        supplier
    )
    .fetch_optional(conn)
    .await?
    .ok_or_else(unknown_supplier)?;
    if !active {
        return Err(ApiError::conflict(
            "supplier_inactive",
            "this supplier is deactivated; reactivate it or order from another",
        ));
    }
    Ok(())
}

async fn insert_lines(
    conn: &mut PgConnection,
    org: Uuid,
    po: Uuid,
    lines: &[LineInput],
) -> Result<(), ApiError> {
    let products: Vec<Uuid> = lines.iter().map(|l| l.product_id).collect();
    let found = sqlx::query!(
        "SELECT id, sku, is_active FROM products WHERE org_id = $1 AND id = ANY($2) ORDER BY sku",
        org,
        &products
    )
    .fetch_all(&mut *conn)
    .await?;
    let inactive: Vec<&str> = found
        .iter()
        .filter(|p| !p.is_active)
        .map(|p| p.sku.as_str())
        .collect();
    if !inactive.is_empty() {
        return Err(ApiError::conflict(
            "product_inactive",
            format!(
                "deleted products cannot be ordered: {}",
                inactive.join(", ")
            ),
        ));
    }
    if let Some(position) = products
        .iter()
        .position(|id| !found.iter().any(|p| p.id == *id))
    {
        return Err(unknown_product(position));
    }
    // One statement for every line; `position` keeps the order they were sent in.
    let quantities: Vec<i32> = lines.iter().map(|l| l.quantity).collect();
    let costs: Vec<Decimal> = lines.iter().map(|l| l.unit_cost).collect();
    sqlx::query!(
        "INSERT INTO purchase_order_lines
                (org_id, purchase_order_id, product_id, quantity, unit_cost, position)
         SELECT $1, $2, l.product_id, l.quantity, l.unit_cost, (l.n - 1)::int
         FROM unnest($3::uuid[], $4::int[], $5::numeric[])
              WITH ORDINALITY AS l(product_id, quantity, unit_cost, n)",
        org,
        po,
        &products,
        &quantities,
        &costs
    )
    .execute(&mut *conn)
    .await
    // A product deleted since the check above.
    .on_constraint("purchase_order_lines_org_id_product_id_fkey", |_| {
        unknown_product(0)
    })?;
    Ok(())
}

fn unknown_product(position: usize) -> ApiError {
    ApiError::unknown_reference(
        format!("lines[{position}].product_id"),
        "unknown_product",
        "no such product in this organization",
    )
}

fn unknown_supplier() -> ApiError {
    ApiError::unknown_reference(
        "supplier_id",
        "unknown_supplier",
        "no such supplier in this organization",
    )
}

/// `POST /api/purchase-orders`: a draft (honours `Idempotency-Key`).
#[utoipa::path(post, path = "/api/purchase-orders", operation_id = "create_purchase_order", params(shared::http::openapi::IdempotencyKeyHeader), request_body = CreatePurchaseOrder,
    responses((status = 201, description = "A draft", body = PurchaseOrder),
        (status = 404, description = "`unknown_supplier`, `unknown_product`: a supplier or product the body names is not this organization's (`errors` names the field)"),
        (status = 409, description = "`supplier_inactive`, `product_inactive`: the supplier or a product is deactivated")))]
pub async fn create(
    mut tenant: Require<Purchasing, Write>,
    key: IdempotencyKey,
    AppJson(body): AppJson<CreatePurchaseOrder>,
) -> Result<Answer, ApiError> {
    idempotency::create_new(&mut tenant, &key, body, insert).await
}

/// Writes a new draft, its lines and its audit row.
async fn insert(
    tx: &mut PgConnection,
    caller: &Caller,
    new: NewPurchaseOrder,
) -> Result<(StatusCode, PurchaseOrder), ApiError> {
    let org = caller.org_id;
    active_supplier(tx, org, new.supplier_id).await?;
    let id = sqlx::query_scalar!(
        "INSERT INTO purchase_orders (org_id, supplier_id, currency, notes)
         VALUES ($1, $2, coalesce($3, (SELECT default_currency FROM organizations WHERE id = $1)), $4)
         RETURNING id",
        org,
        new.supplier_id,
        new.currency,
        new.notes
    )
    .fetch_one(&mut *tx)
    .await
    .on_constraint("purchase_orders_org_id_supplier_id_fkey", |_| unknown_supplier())?;
    insert_lines(tx, org, id, &new.lines).await?;
    let po = load(tx, org, id, false).await?;
    caller
        .audit(tx, Action::PurchaseOrderCreated, id, Change::created(&po))
        .await?;
    Ok((StatusCode::CREATED, po))
}

#[utoipa::path(get, path = "/api/purchase-orders/{id}", operation_id = "get_purchase_order", params(("id" = Uuid, Path)),
    responses((status = 200, body = PurchaseOrder)))]
pub async fn get(
    mut tenant: Require<Purchasing, Read>,
    PathId(id): PathId,
) -> Result<Json<PurchaseOrder>, ApiError> {
    let org = tenant.caller.org_id;
    Ok(Json(load(&mut tenant.db, org, id, false).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    // Anything else is a 422 naming `status`: "must be one of draft, submitted, ...".
    status: Option<PoStatus>,
    /// One supplier, or several (`supplier_id=a,b` or repeated).
    #[param(value_type = Option<Vec<Uuid>>, max_items = 100)]
    supplier_id: Option<Ids>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Summary {
    id: Uuid,
    supplier_id: Uuid,
    supplier_name: String,
    status: PoStatus,
    #[schema(value_type = shared::domain::CurrencyCode)]
    currency: String,
    #[serde(with = "rust_decimal::serde::str")]
    total: Decimal,
    line_count: i64,
    /// `null` before any payment.
    payment_status: Option<PaymentStatus>,
    created_at: DateTime<Utc>,
}

/// `GET /api/purchase-orders`: newest first.
#[utoipa::path(get, path = "/api/purchase-orders", operation_id = "list_purchase_orders", params(ListQuery, PageQuery),
    responses((status = 200, body = Page<Summary>)))]
pub async fn list(
    mut tenant: Require<Purchasing, Read>,
    AppQuery(query): AppQuery<ListQuery>,
    page: PageRequest<(DateTime<Utc>, Uuid)>,
) -> Result<Json<Page<Summary>>, ApiError> {
    let (before_at, before_id) = page.after.unzip();
    let rows = sqlx::query_as!(
        Summary,
        r#"SELECT po.id, po.supplier_id, s.name AS supplier_name, po.status AS "status: PoStatus", po.currency,
                  coalesce(sum(l.unit_cost * l.quantity), 0) AS "total!", count(l.id) AS "line_count!",
                  (SELECT p.status FROM purchase_order_payments p
                   WHERE p.org_id = po.org_id AND p.purchase_order_id = po.id) AS "payment_status: PaymentStatus",
                  po.created_at
           FROM purchase_orders po
           JOIN suppliers s ON s.org_id = po.org_id AND s.id = po.supplier_id
           LEFT JOIN purchase_order_lines l ON l.purchase_order_id = po.id
           WHERE po.org_id = $1
             AND ($2::po_status IS NULL OR po.status = $2)
             AND ($3::uuid[] IS NULL OR po.supplier_id = ANY($3))
             AND ($4::timestamptz IS NULL OR (po.created_at, po.id) < ($4, $5))
           GROUP BY po.id, s.name
           ORDER BY po.created_at DESC, po.id DESC
           LIMIT $6"#,
        tenant.caller.org_id,
        query.status as Option<PoStatus>,
        Ids::sql(&query.supplier_id),
        before_at,
        before_id,
        page.limit + 1
    )
    .fetch_all(&mut *tenant.db)
    .await?;
    Ok(Json(Page::from_rows(rows, page.limit, None, |s| {
        (s.created_at, s.id)
    })))
}

/// `PATCH /api/purchase-orders/{id}`: drafts only.
#[utoipa::path(patch, path = "/api/purchase-orders/{id}", operation_id = "update_purchase_order", params(("id" = Uuid, Path)), request_body = UpdatePurchaseOrder,
    responses((status = 200, body = PurchaseOrder), (status = 409, description = "Only drafts can be edited")))]
pub async fn update(
    mut tenant: Require<Purchasing, Write>,
    PathId(id): PathId,
    AppJson(body): AppJson<UpdatePurchaseOrder>,
) -> Result<Json<PurchaseOrder>, ApiError> {
    let mut change = PurchaseOrderChange::try_from(body)?;
    let (caller, tx) = tenant.parts();
    let org = caller.org_id;
    let before = load(&mut *tx, org, id, true).await?;
    if before.status != PoStatus::Draft {
        return Err(order::wrong_status(&before, "edit"));
    }
    if let Some(supplier) = change.supplier_id {
        active_supplier(&mut *tx, org, supplier).await?;
    }
    let lines = change.lines.take();
    let next = change.apply(before.clone());
    sqlx::query!(
        "UPDATE purchase_orders SET supplier_id = $3, currency = $4, notes = $5, updated_at = now()
         WHERE org_id = $1 AND id = $2",
        org,
        id,
        next.supplier_id,
        next.currency,
        next.notes
    )
    .execute(&mut *tx)
    .await
    .on_constraint("purchase_orders_org_id_supplier_id_fkey", |_| {
        unknown_supplier()
    })?;
    if let Some(lines) = lines {
        sqlx::query!(
            "DELETE FROM purchase_order_lines WHERE org_id = $1 AND purchase_order_id = $2",
            org,
            id
        )
        .execute(&mut *tx)
        .await?;
        insert_lines(&mut *tx, org, id, &lines).await?;
    }
    let after = load(&mut *tx, org, id, false).await?;
    caller
        .audit(
            &mut *tx,
            Action::PurchaseOrderUpdated,
            id,
            Change::updated(&before, &after),
        )
        .await?;
    Ok(Json(after))
}
