//! Purchase orders: draft → submitted → partially received → received, or cancelled.
//! Receiving adds stock through the ledger; a line never receives more than was ordered, and a
//! retried receipt with the same `Idempotency-Key` adds nothing.

use axum::Json;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use shared::audit::{Action, Change};
use shared::auth::Require;
use shared::auth::caller::{Purchasing, Read, Write};
use shared::domain::{self, MovementKind, Patch, PoStatus};
use shared::error::{ApiError, FieldError, Fields, ResultExt};
use shared::http::{AppJson, AppQuery, PathId};
use shared::idempotency::{self, IdempotencyKey};
use shared::pagination::{Page, PageQuery};
use shared::wise::{Payment, PaymentStatus};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::approvals::{self, Approval};
use crate::locations;
use crate::payments;
use crate::stock::{self, Movement};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Line {
    id: Uuid,
    product_id: Uuid,
    product_sku: String,
    product_name: String,
    quantity: i32,
    #[serde(with = "rust_decimal::serde::str")]
    unit_cost: Decimal,
    received_quantity: i32,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PurchaseOrder {
    pub(crate) id: Uuid,
    pub(crate) supplier_id: Uuid,
    supplier_name: String,
    pub(crate) status: PoStatus,
    pub(crate) currency: String,
    notes: Option<String>,
    #[serde(with = "rust_decimal::serde::str")]
    pub(crate) total: Decimal,
    submitted_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    lines: Vec<Line>,
    /// The payment to the supplier through Wise, once one was started.
    pub(crate) payment: Option<Payment>,
    /// The latest request for a second person's approval of the payment, if it needed one.
    pub(crate) approval: Option<Approval>,
}

struct Head {
    id: Uuid,
    supplier_id: Uuid,
    supplier_name: String,
    status: PoStatus,
    currency: String,
    notes: Option<String>,
    submitted_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

pub async fn load(
    conn: &mut PgConnection,
    org: Uuid,
    id: Uuid,
    lock: bool,
) -> Result<PurchaseOrder, ApiError> {
    let head = if lock {
        sqlx::query_as!(
            Head,
            r#"SELECT po.id, po.supplier_id, s.name AS supplier_name, po.status AS "status: PoStatus",
                      po.currency, po.notes, po.submitted_at, po.created_at, po.updated_at
               FROM purchase_orders po
               JOIN suppliers s ON s.org_id = po.org_id AND s.id = po.supplier_id
               WHERE po.org_id = $1 AND po.id = $2 FOR UPDATE OF po"#,
            org,
            id
        )
        .fetch_optional(&mut *conn)
        .await?
    } else {
        sqlx::query_as!(
            Head,
            r#"SELECT po.id, po.supplier_id, s.name AS supplier_name, po.status AS "status: PoStatus",
                      po.currency, po.notes, po.submitted_at, po.created_at, po.updated_at
               FROM purchase_orders po
               JOIN suppliers s ON s.org_id = po.org_id AND s.id = po.supplier_id
               WHERE po.org_id = $1 AND po.id = $2"#,
            org,
            id
        )
        .fetch_optional(&mut *conn)
        .await?
    }
    .ok_or_else(|| ApiError::not_found("purchase order"))?;
    let lines = sqlx::query_as!(
        Line,
        "SELECT l.id, l.product_id, p.sku AS product_sku, p.name AS product_name, l.quantity,
                l.unit_cost, l.received_quantity
         FROM purchase_order_lines l
         JOIN products p ON p.org_id = l.org_id AND p.id = l.product_id
         WHERE l.org_id = $1 AND l.purchase_order_id = $2 ORDER BY l.position",
        org,
        id
    )
    .fetch_all(&mut *conn)
    .await?;
    let total = lines
        .iter()
        .map(|l| l.unit_cost * Decimal::from(l.quantity))
        .sum();
    let payment = Payment::load(&mut *conn, org, id).await?;
    let approval = approvals::latest(&mut *conn, org, id).await?;
    Ok(PurchaseOrder {
        id: head.id,
        supplier_id: head.supplier_id,
        supplier_name: head.supplier_name,
        status: head.status,
        currency: head.currency,
        notes: head.notes,
        total,
        submitted_at: head.submitted_at,
        created_at: head.created_at,
        updated_at: head.updated_at,
        lines,
        payment,
        approval,
    })
}

#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LineInput {
    product_id: Uuid,
    #[schema(minimum = 1)]
    quantity: i32,
    #[schema(value_type = String, pattern = r"^\d{1,12}(\.\d{1,2})?$")]
    #[serde(with = "domain::money_text")]
    unit_cost: Decimal,
}

fn check_lines(lines: &[LineInput], fields: &mut Fields) {
    if lines.is_empty() {
        fields.add(FieldError::new(
            "lines",
            "required",
            "a purchase order needs at least one line",
        ));
    }
    for (i, line) in lines.iter().enumerate() {
        if line.quantity <= 0 {
            fields.add(FieldError::new(
                format!("lines[{i}].quantity"),
                "not_positive",
                "must be more than zero",
            ));
        }
    }
}

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
    let inactive = sqlx::query_scalar!(
        "SELECT sku FROM products WHERE org_id = $1 AND id = ANY($2) AND NOT is_active ORDER BY sku",
        org,
        &products
    )
    .fetch_all(&mut *conn)
    .await?;
    if !inactive.is_empty() {
        return Err(ApiError::conflict(
            "product_inactive",
            format!(
                "deleted products cannot be ordered: {}",
                inactive.join(", ")
            ),
        ));
    }
    for (position, line) in lines.iter().enumerate() {
        sqlx::query!(
            "INSERT INTO purchase_order_lines (org_id, purchase_order_id, product_id, quantity, unit_cost, position)
             VALUES ($1, $2, $3, $4, $5, $6)",
            org,
            po,
            line.product_id,
            line.quantity,
            line.unit_cost,
            position as i32
        )
        .execute(&mut *conn)
        .await
        .on_constraint("purchase_order_lines_org_id_product_id_fkey", |_| {
            ApiError::unknown_reference(format!("lines[{position}].product_id"), "unknown_product", "no such product in this organization")
        })?;
    }
    Ok(())
}

fn unknown_supplier() -> ApiError {
    ApiError::unknown_reference(
        "supplier_id",
        "unknown_supplier",
        "no such supplier in this organization",
    )
}

#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePurchaseOrder {
    supplier_id: Uuid,
    /// ISO 4217 code; the organization's default currency when absent.
    #[schema(value_type = Option<shared::domain::CurrencyCode>)]
    currency: Option<String>,
    #[schema(max_length = 5000)]
    notes: Option<String>,
    #[schema(min_items = 1)]
    lines: Vec<LineInput>,
}

/// `POST /api/purchase-orders`: a draft (honours `Idempotency-Key`).
#[utoipa::path(post, path = "/api/purchase-orders", operation_id = "create_purchase_order", params(shared::openapi::IdempotencyKeyHeader), request_body = CreatePurchaseOrder,
    responses((status = 201, description = "A draft", body = PurchaseOrder)))]
pub async fn create(
    mut tenant: Require<Purchasing, Write>,
    key: IdempotencyKey,
    AppJson(body): AppJson<CreatePurchaseOrder>,
) -> Result<Response, ApiError> {
    let mut fields = Fields::default();
    let currency = body
        .currency
        .as_deref()
        .map(|c| fields.check(domain::currency(c, "currency")));
    let notes = fields.check(domain::optional_text(body.notes.as_deref(), "notes", 5000));
    check_lines(&body.lines, &mut fields);
    let Some(notes) = notes else {
        return Err(fields.into_error());
    };
    if !fields.is_empty() {
        return Err(fields.into_error());
    }
    // None: the organization's default currency, read in the INSERT.
    let currency = currency.flatten();
    let caller = tenant.caller.clone();
    let org = caller.org_id;
    let tx = &mut *tenant.db;
    let response = idempotency::create(&mut *tx, &caller, &key, &body, async |tx| {
        active_supplier(tx, org, body.supplier_id).await?;
        let id = sqlx::query_scalar!(
            "INSERT INTO purchase_orders (org_id, supplier_id, currency, notes)
             VALUES ($1, $2, coalesce($3, (SELECT default_currency FROM organizations WHERE id = $1)), $4)
             RETURNING id",
            org,
            body.supplier_id,
            currency,
            notes
        )
        .fetch_one(&mut *tx)
        .await
        .on_constraint("purchase_orders_org_id_supplier_id_fkey", |_| unknown_supplier())?;
        insert_lines(tx, org, id, &body.lines).await?;
        let po = load(tx, org, id, false).await?;
        caller.audit(tx, Action::PurchaseOrderCreated, id, Change::created(&po)).await?;
        Ok((StatusCode::CREATED, po))
    })
    .await?;
    Ok(response)
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
    supplier_id: Option<Uuid>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Summary {
    id: Uuid,
    supplier_id: Uuid,
    supplier_name: String,
    status: PoStatus,
    currency: String,
    #[serde(with = "rust_decimal::serde::str")]
    total: Decimal,
    line_count: i64,
    /// `pending`, `processing`, `paid`, `failed` or `cancelled`; `null` before any payment.
    #[schema(value_type = Option<String>)]
    payment_status: Option<PaymentStatus>,
    created_at: DateTime<Utc>,
}

/// `GET /api/purchase-orders`: newest first.
#[utoipa::path(get, path = "/api/purchase-orders", operation_id = "list_purchase_orders", params(ListQuery, PageQuery),
    responses((status = 200, body = Page<Summary>)))]
pub async fn list(
    mut tenant: Require<Purchasing, Read>,
    AppQuery(query): AppQuery<ListQuery>,
    AppQuery(page): AppQuery<PageQuery>,
) -> Result<Json<Page<Summary>>, ApiError> {
    let page = page.parse::<(DateTime<Utc>, Uuid)>()?;
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
             AND ($3::uuid IS NULL OR po.supplier_id = $3)
             AND ($4::timestamptz IS NULL OR (po.created_at, po.id) < ($4, $5))
           GROUP BY po.id, s.name
           ORDER BY po.created_at DESC, po.id DESC
           LIMIT $6"#,
        tenant.caller.org_id,
        query.status as Option<PoStatus>,
        query.supplier_id,
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

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdatePurchaseOrder {
    #[schema(value_type = Uuid)]
    #[serde(default, deserialize_with = "domain::non_null")]
    supplier_id: Option<Uuid>,
    #[schema(value_type = shared::domain::CurrencyCode)]
    #[serde(default, deserialize_with = "domain::non_null")]
    currency: Option<String>,
    #[schema(value_type = Option<String>, max_length = 5000)]
    #[serde(default)]
    notes: Patch<String>,
    /// Replaces every line.
    #[schema(value_type = Vec<LineInput>, min_items = 1)]
    #[serde(default, deserialize_with = "domain::non_null")]
    lines: Option<Vec<LineInput>>,
}

/// An [`UpdatePurchaseOrder`] checked (`None`/`Keep`: unchanged).
struct PurchaseOrderChange {
    supplier_id: Option<Uuid>,
    currency: Option<String>,
    notes: Patch<String>,
    /// New lines, written apart (they replace every line).
    lines: Option<Vec<LineInput>>,
}

impl TryFrom<UpdatePurchaseOrder> for PurchaseOrderChange {
    type Error = ApiError;

    /// Every invalid field in one 422.
    fn try_from(body: UpdatePurchaseOrder) -> Result<Self, ApiError> {
        let mut fields = Fields::default();
        let change = Self {
            supplier_id: body.supplier_id,
            currency: body
                .currency
                .and_then(|c| fields.check(domain::currency(&c, "currency"))),
            notes: fields
                .check(domain::patch_text(body.notes, "notes", 5000))
                .unwrap_or_default(),
            lines: body.lines.inspect(|lines| check_lines(lines, &mut fields)),
        };
        if !fields.is_empty() {
            return Err(fields.into_error());
        }
        Ok(change)
    }
}

impl PurchaseOrderChange {
    /// The order with this change made to its own columns (its lines, supplier name and total
    /// are read again once written).
    fn apply(self, mut po: PurchaseOrder) -> PurchaseOrder {
        po.supplier_id = self.supplier_id.unwrap_or(po.supplier_id);
        po.currency = self.currency.unwrap_or(po.currency);
        po.notes = self.notes.apply(po.notes);
        po
    }
}

fn wrong_status(po: &PurchaseOrder, action: &str) -> ApiError {
    ApiError::conflict(
        "invalid_status",
        format!(
            "cannot {action} a purchase order that is {}",
            po.status.as_str()
        ),
    )
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
    let caller = tenant.caller.clone();
    let org = caller.org_id;
    let tx = &mut *tenant.db;
    let before = load(&mut *tx, org, id, true).await?;
    if before.status != PoStatus::Draft {
        return Err(wrong_status(&before, "edit"));
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

async fn transition(
    tenant: &mut Require<Purchasing, Write>,
    id: Uuid,
    from: &[PoStatus],
    to: PoStatus,
    verb: &str,
    action: Action,
) -> Result<PurchaseOrder, ApiError> {
    let caller = tenant.caller.clone();
    let org = caller.org_id;
    let tx = &mut *tenant.db;
    let before = load(&mut *tx, org, id, true).await?;
    if !from.contains(&before.status) {
        return Err(wrong_status(&before, verb));
    }
    // Money on its way or sent: the order stands.
    if to == PoStatus::Cancelled {
        if let Some(error) = payments::blocking(before.payment.as_ref(), verb) {
            return Err(error);
        }
        approvals::cancel_pending(&mut *tx, &caller, id).await?;
    }
    sqlx::query!(
        "UPDATE purchase_orders SET status = $3, updated_at = now(),
                submitted_at = CASE WHEN $4 THEN now() ELSE submitted_at END
         WHERE org_id = $1 AND id = $2",
        org,
        id,
        to as PoStatus,
        to == PoStatus::Submitted
    )
    .execute(&mut *tx)
    .await?;
    let after = load(&mut *tx, org, id, false).await?;
    caller
        .audit(&mut *tx, action, id, Change::updated(&before, &after))
        .await?;
    Ok(after)
}

/// `POST /api/purchase-orders/{id}/submit`: draft → submitted.
#[utoipa::path(post, path = "/api/purchase-orders/{id}/submit", operation_id = "submit_purchase_order", params(("id" = Uuid, Path)),
    responses((status = 200, body = PurchaseOrder), (status = 409, description = "Not a draft")))]
pub async fn submit(
    mut tenant: Require<Purchasing, Write>,
    PathId(id): PathId,
) -> Result<Json<PurchaseOrder>, ApiError> {
    transition(
        &mut tenant,
        id,
        &[PoStatus::Draft],
        PoStatus::Submitted,
        "submit",
        Action::PurchaseOrderSubmitted,
    )
    .await
    .map(Json)
}

/// `POST /api/purchase-orders/{id}/cancel`: before anything was received.
#[utoipa::path(post, path = "/api/purchase-orders/{id}/cancel", operation_id = "cancel_purchase_order", params(("id" = Uuid, Path)),
    responses((status = 200, body = PurchaseOrder), (status = 409, description = "Goods arrived, or a payment is under way")))]
pub async fn cancel(
    mut tenant: Require<Purchasing, Write>,
    PathId(id): PathId,
) -> Result<Json<PurchaseOrder>, ApiError> {
    transition(
        &mut tenant,
        id,
        &PoStatus::CANCELLABLE,
        PoStatus::Cancelled,
        "cancel",
        Action::PurchaseOrderCancelled,
    )
    .await
    .map(Json)
}

#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReceiveLine {
    line_id: Uuid,
    #[schema(minimum = 1)]
    quantity: i32,
}

#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Receive {
    /// Where the goods go; the default location when absent.
    location_id: Option<Uuid>,
    #[schema(min_items = 1)]
    lines: Vec<ReceiveLine>,
}

/// `POST /api/purchase-orders/{id}/receive`: adds the received units to stock through the
/// ledger (honours `Idempotency-Key`).
#[utoipa::path(post, path = "/api/purchase-orders/{id}/receive", operation_id = "receive_purchase_order", params(("id" = Uuid, Path), shared::openapi::IdempotencyKeyHeader), request_body = Receive,
    responses((status = 200, description = "Received into stock through the ledger", body = PurchaseOrder), (status = 409, description = "Not receivable in its state")))]
pub async fn receive(
    mut tenant: Require<Purchasing, Write>,
    key: IdempotencyKey,
    PathId(id): PathId,
    AppJson(body): AppJson<Receive>,
) -> Result<Response, ApiError> {
    let mut fields = Fields::default();
    if body.lines.is_empty() {
        fields.add(FieldError::new(
            "lines",
            "required",
            "say which lines arrived",
        ));
    }
    for (i, line) in body.lines.iter().enumerate() {
        if line.quantity <= 0 {
            fields.add(FieldError::new(
                format!("lines[{i}].quantity"),
                "not_positive",
                "must be more than zero",
            ));
        }
    }
    if !fields.is_empty() {
        return Err(fields.into_error());
    }
    let caller = tenant.caller.clone();
    let org = caller.org_id;
    let tx = &mut *tenant.db;
    let response = idempotency::create(&mut *tx, &caller, &key, &body, async |tx| {
        // Locks the order: receipts of one order are applied one after the other.
        let before = load(tx, org, id, true).await?;
        if !PoStatus::RECEIVABLE.contains(&before.status) {
            return Err(wrong_status(&before, "receive"));
        }
        let location = locations::resolve(tx, org, body.location_id, "location_id").await?;
        let mut fields = Fields::default();
        for (i, receipt) in body.lines.iter().enumerate() {
            let Some(line) = before.lines.iter().find(|l| l.id == receipt.line_id) else {
                fields.add(FieldError::new(
                    format!("lines[{i}].line_id"),
                    "unknown_line",
                    "not a line of this purchase order",
                ));
                continue;
            };
            let updated = sqlx::query_scalar!(
                "UPDATE purchase_order_lines SET received_quantity = received_quantity + $3
                 WHERE org_id = $1 AND id = $2 AND received_quantity + $3 <= quantity
                 RETURNING received_quantity",
                org,
                line.id,
                receipt.quantity
            )
            .fetch_optional(&mut *tx)
            .await?;
            if updated.is_none() {
                fields.add(FieldError::new(
                    format!("lines[{i}].quantity"),
                    "over_receipt",
                    format!(
                        "only {} of this line are still expected",
                        line.quantity - line.received_quantity
                    ),
                ));
                continue;
            }
            stock::add(tx, org, line.product_id, location, receipt.quantity).await?;
            stock::record(
                tx,
                &caller,
                Movement {
                    product: line.product_id,
                    location,
                    kind: MovementKind::Receive,
                    quantity: receipt.quantity,
                    reason: "purchase order receipt",
                    transfer_id: None,
                    reservation_id: None,
                    po_line_id: Some(line.id),
                },
            )
            .await?;
        }
        if !fields.is_empty() {
            // Nothing of this receipt is kept: the transaction rolls back.
            return Err(fields.into_error());
        }
        sqlx::query!(
            "UPDATE purchase_orders SET updated_at = now(), status = CASE
                 WHEN (SELECT bool_and(received_quantity = quantity) FROM purchase_order_lines
                       WHERE purchase_order_id = $2) THEN $3::po_status
                 ELSE $4::po_status END
             WHERE org_id = $1 AND id = $2",
            org,
            id,
            PoStatus::Received as PoStatus,
            PoStatus::PartiallyReceived as PoStatus
        )
        .execute(&mut *tx)
        .await?;
        let after = load(tx, org, id, false).await?;
        caller
            .audit(
                tx,
                Action::PurchaseOrderReceived,
                id,
                Change::updated(&before, &after),
            )
            .await?;
        Ok((StatusCode::OK, after))
    })
    .await?;
    Ok(response)
}
