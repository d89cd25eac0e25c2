//! Suppliers: list, detail with contacts, create, update, deactivate and reactivate.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use serde::Deserialize;
use shared::AppState;
use shared::audit::{Action, Change};
use shared::auth::caller::{Read, Suppliers, Write};
use shared::auth::step_up::Proof;
use shared::auth::{Caller, Require};
use shared::error::ApiError;
use shared::http::idempotency::{self, Answer, IdempotencyKey};
use shared::http::pagination::{Page, PageQuery, PageRequest, contains_pattern};
use shared::http::{AppJson, AppQuery, PathId};
use shared::payment_details::PaymentSummary;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::contacts;
use crate::input::{CreateSupplier, NewSupplier, SupplierChange, UpdateSupplier};
use crate::payee_change;
use crate::supplier::{Supplier, SupplierDetail, load};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// `true` (default): active suppliers; `false`: deactivated ones.
    active: Option<bool>,
    /// Text search in the name.
    q: Option<String>,
}

/// `GET /api/suppliers`: by name.
#[utoipa::path(get, path = "/api/suppliers", operation_id = "list", params(ListQuery, PageQuery),
    responses((status = 200, body = Page<Supplier>)))]
pub async fn list(
    mut tenant: Require<Suppliers, Read>,
    AppQuery(query): AppQuery<ListQuery>,
    mut page: PageRequest<(String, Uuid)>,
) -> Result<Json<Page<Supplier>>, ApiError> {
    let pattern = query
        .q
        .as_deref()
        .map(str::trim)
        .filter(|q| !q.is_empty())
        .map(contains_pattern);
    let (after_name, after_id) = page.after.take().unzip();
    let active = query.active.unwrap_or(true);
    let org_id = tenant.caller.org_id;
    let total = page
        .total(
            sqlx::query_scalar!(
                r#"SELECT count(*) AS "count!" FROM suppliers
                   WHERE org_id = $1 AND is_active = $2 AND ($3::text IS NULL OR name ILIKE $3)"#,
                org_id,
                active,
                pattern
            )
            .fetch_one(&mut *tenant.db),
        )
        .await?;
    let rows = sqlx::query_as!(
        Supplier,
        r#"SELECT id, name, email, phone, website, address, notes,
                  payment_summary AS "payment_details: PaymentSummary", is_active, created_at, updated_at
           FROM suppliers
           WHERE org_id = $1 AND is_active = $2
             AND ($3::text IS NULL OR name ILIKE $3)
             AND ($4::text IS NULL OR (lower(name), id) > ($4, $5))
           ORDER BY lower(name), id
           LIMIT $6"#,
        org_id,
        active,
        pattern,
        after_name,
        after_id,
        page.limit + 1
    )
    .fetch_all(&mut *tenant.db)
    .await?;
    Ok(Json(Page::from_rows(rows, page.limit, total, |s| {
        (s.name.to_lowercase(), s.id)
    })))
}

/// `GET /api/suppliers/{id}`: with its contacts.
#[utoipa::path(get, path = "/api/suppliers/{id}", params(("id" = Uuid, Path)),
    responses((status = 200, description = "The supplier with its contacts", body = SupplierDetail)))]
pub async fn detail(
    mut tenant: Require<Suppliers, Read>,
    PathId(id): PathId,
) -> Result<Json<SupplierDetail>, ApiError> {
    let org_id = tenant.caller.org_id;
    let supplier = load(&mut tenant.db, org_id, id, false).await?;
    let contacts = contacts::of_supplier(&mut tenant.db, org_id, id).await?;
    Ok(Json(SupplierDetail { supplier, contacts }))
}

/// `POST /api/suppliers` (honours `Idempotency-Key`). With `payment_details`, it needs a
/// step-up (`X-Step-Up-Token`; API keys cannot set bank details), the owners and admins are
/// emailed, and payments to the supplier need a second person for 24 hours.
#[utoipa::path(post, path = "/api/suppliers", operation_id = "create", params(shared::http::openapi::IdempotencyKeyHeader, shared::http::openapi::StepUpHeader), request_body = CreateSupplier,
    responses((status = 201, body = SupplierDetail),
        (status = 401, description = "`step_up_required`: payment details need a recent confirmation"),
        (status = 403, description = "`step_up_unavailable`: an API key cannot set payment details")))]
pub async fn create(
    State(state): State<AppState>,
    mut tenant: Require<Suppliers, Write>,
    proof: Proof,
    key: IdempotencyKey,
    AppJson(body): AppJson<CreateSupplier>,
) -> Result<Answer, ApiError> {
    if body.payment_details.is_some() {
        proof.redeem(&mut tenant, &state.pool).await?;
        payee_change::settled(&state, &mut tenant).await?;
    }
    idempotency::create_new(&mut tenant, &key, body, async |tx, caller, new| {
        insert(tx, &state, caller, new).await
    })
    .await
}

/// Writes a new supplier (its payment details sealed) and its audit row; payment details are
/// announced to the owners and admins.
async fn insert(
    tx: &mut PgConnection,
    state: &AppState,
    caller: &Caller,
    new: NewSupplier,
) -> Result<(StatusCode, SupplierDetail), ApiError> {
    let id = Uuid::new_v4();
    let (sealed, summary) = payee_change::seal(state, id, new.payment).await?;
    sqlx::query!(
        "INSERT INTO suppliers (id, org_id, name, email, phone, website, address, notes,
                                payment_details, payment_summary,
                                payment_details_changed_at, payment_details_changed_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10,
                 CASE WHEN $9::bytea IS NULL THEN NULL ELSE now() END,
                 CASE WHEN $9::bytea IS NULL THEN NULL ELSE $11::uuid END)",
        id,
        caller.org_id,
        new.reach.name,
        new.reach.email,
        new.reach.phone,
        new.website,
        new.address,
        new.notes,
        sealed,
        summary,
        caller.user_id()
    )
    .execute(&mut *tx)
    .await?;
    let supplier = load(tx, caller.org_id, id, false).await?;
    caller
        .audit(tx, Action::SupplierCreated, id, Change::created(&supplier))
        .await?;
    if sealed.is_some() {
        payee_change::announce(tx, &state.outbox, caller, id, None).await?;
    }
    let contacts = Vec::new();
    Ok((StatusCode::CREATED, SupplierDetail { supplier, contacts }))
}

/// `PATCH /api/suppliers/{id}` (and `PUT`, the same): only the fields sent change; `null`
/// clears an optional field and is refused on `name` and `is_active`. Changing or removing
/// `payment_details` needs a step-up (`X-Step-Up-Token`; API keys cannot), emails the owners and
/// admins (the old and new account endings, who, when), and for 24 hours payments to the
/// supplier need a second person.
#[utoipa::path(patch, path = "/api/suppliers/{id}", operation_id = "update", params(("id" = Uuid, Path), shared::http::openapi::StepUpHeader), request_body = UpdateSupplier,
    responses((status = 200, body = Supplier),
        (status = 401, description = "`step_up_required`: payment details need a recent confirmation"),
        (status = 403, description = "`step_up_unavailable`: an API key cannot change payment details")))]
pub async fn update(
    State(state): State<AppState>,
    mut tenant: Require<Suppliers, Write>,
    proof: Proof,
    PathId(id): PathId,
    AppJson(body): AppJson<UpdateSupplier>,
) -> Result<Json<Supplier>, ApiError> {
    if !body.payment_details.is_keep() {
        proof.redeem(&mut tenant, &state.pool).await?;
        payee_change::settled(&state, &mut tenant).await?;
    }
    let change = SupplierChange::try_from(body)?;
    save(&state, &mut tenant, id, change).await.map(Json)
}

/// `POST /api/suppliers/{id}/deactivate`.
#[utoipa::path(post, path = "/api/suppliers/{id}/deactivate", params(("id" = Uuid, Path)),
    responses((status = 200, body = Supplier)))]
pub async fn deactivate(
    State(state): State<AppState>,
    mut tenant: Require<Suppliers, Write>,
    PathId(id): PathId,
) -> Result<Json<Supplier>, ApiError> {
    save(
        &state,
        &mut tenant,
        id,
        SupplierChange {
            is_active: Some(false),
            ..Default::default()
        },
    )
    .await
    .map(Json)
}

/// `POST /api/suppliers/{id}/reactivate`.
#[utoipa::path(post, path = "/api/suppliers/{id}/reactivate", params(("id" = Uuid, Path)),
    responses((status = 200, body = Supplier)))]
pub async fn reactivate(
    State(state): State<AppState>,
    mut tenant: Require<Suppliers, Write>,
    PathId(id): PathId,
) -> Result<Json<Supplier>, ApiError> {
    save(
        &state,
        &mut tenant,
        id,
        SupplierChange {
            is_active: Some(true),
            ..Default::default()
        },
    )
    .await
    .map(Json)
}

/// Makes `change` to the supplier (locked while it is made, audited); a change of its payment
/// details is announced to the owners and admins (mailed after the response).
async fn save(
    state: &AppState,
    tenant: &mut Require<Suppliers, Write>,
    id: Uuid,
    mut change: SupplierChange,
) -> Result<Supplier, ApiError> {
    let (caller, tx) = tenant.parts();
    let before = load(&mut *tx, caller.org_id, id, true).await?;
    let payment = std::mem::take(&mut change.payment);
    let next = change.apply(before.clone());
    sqlx::query!(
        "UPDATE suppliers
         SET name = $3, email = $4, phone = $5, website = $6, address = $7, notes = $8,
             is_active = $9, updated_at = now()
         WHERE id = $1 AND org_id = $2",
        id,
        caller.org_id,
        next.name,
        next.email,
        next.phone,
        next.website,
        next.address,
        next.notes,
        next.is_active
    )
    .execute(&mut *tx)
    .await?;
    if !payment.is_keep() {
        // The new details (`Set`), or none (`Clear`).
        let (before, payment) = (before.payment_details.clone(), payment.apply(None));
        payee_change::write(&mut *tx, state, caller, id, before, payment).await?;
    }
    let after = load(&mut *tx, caller.org_id, id, false).await?;
    let action = match (before.is_active, after.is_active) {
        (true, false) => Action::SupplierDeactivated,
        (false, true) => Action::SupplierReactivated,
        _ => Action::SupplierUpdated,
    };
    let change = Change::updated(&before, &after);
    caller.audit(tx, action, id, change).await?;
    Ok(after)
}
