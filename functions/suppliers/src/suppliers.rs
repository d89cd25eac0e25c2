//! Suppliers: list, detail with contacts, create, update, deactivate and reactivate.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use shared::AppState;
use shared::audit::{Action, Change};
use shared::auth::Require;
use shared::auth::caller::{Read, Suppliers, Write};
use shared::auth::membership::require_settled_admin;
use shared::auth::step_up::Proof;
use shared::domain::{self, Patch, non_null};
use shared::error::{ApiError, Fields};
use shared::http::{AppJson, AppQuery, PathId};
use shared::idempotency::{self, IdempotencyKey};
use shared::pagination::{Page, PageQuery, contains_pattern};
use shared::payment_details::{PaymentDetails, PaymentSummary};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::contacts::{self, Contact};
use crate::payee_change;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Supplier {
    id: Uuid,
    name: String,
    email: Option<String>,
    phone: Option<String>,
    website: Option<String>,
    address: Option<String>,
    notes: Option<String>,
    /// A summary only; the full details never leave the server.
    payment_details: Option<PaymentSummary>,
    is_active: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

struct Row {
    id: Uuid,
    name: String,
    email: Option<String>,
    phone: Option<String>,
    website: Option<String>,
    address: Option<String>,
    notes: Option<String>,
    payment_summary: Option<serde_json::Value>,
    is_active: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<Row> for Supplier {
    fn from(r: Row) -> Self {
        Self {
            id: r.id,
            name: r.name,
            email: r.email,
            phone: r.phone,
            website: r.website,
            address: r.address,
            notes: r.notes,
            payment_details: r
                .payment_summary
                .and_then(|s| serde_json::from_value(s).ok()),
            is_active: r.is_active,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// Loads a supplier of the organization (404 otherwise), optionally locking it.
pub async fn load(
    conn: &mut PgConnection,
    org_id: Uuid,
    id: Uuid,
    lock: bool,
) -> Result<Supplier, ApiError> {
    let row = if lock {
        sqlx::query_as!(
            Row,
            "SELECT id, name, email, phone, website, address, notes, payment_summary, is_active, created_at, updated_at
             FROM suppliers WHERE id = $1 AND org_id = $2 FOR UPDATE",
            id,
            org_id
        )
        .fetch_optional(conn)
        .await?
    } else {
        sqlx::query_as!(
            Row,
            "SELECT id, name, email, phone, website, address, notes, payment_summary, is_active, created_at, updated_at
             FROM suppliers WHERE id = $1 AND org_id = $2",
            id,
            org_id
        )
        .fetch_optional(conn)
        .await?
    };
    row.map(Supplier::from)
        .ok_or_else(|| ApiError::not_found("supplier"))
}

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
    AppQuery(page): AppQuery<PageQuery>,
) -> Result<Json<Page<Supplier>>, ApiError> {
    let page = page.parse::<(String, Uuid)>()?;
    let pattern = query
        .q
        .as_deref()
        .map(str::trim)
        .filter(|q| !q.is_empty())
        .map(contains_pattern);
    let (after_name, after_id) = page.after.unzip();
    let active = query.active.unwrap_or(true);
    let org_id = tenant.caller.org_id;
    let rows = sqlx::query_as!(
        Row,
        r#"SELECT id, name, email, phone, website, address, notes, payment_summary, is_active, created_at, updated_at
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
    let total = if page.include_total {
        Some(
            sqlx::query_scalar!(
                r#"SELECT count(*) AS "count!" FROM suppliers
                   WHERE org_id = $1 AND is_active = $2 AND ($3::text IS NULL OR name ILIKE $3)"#,
                org_id,
                active,
                pattern
            )
            .fetch_one(&mut *tenant.db)
            .await?,
        )
    } else {
        None
    };
    let page = Page::from_rows(rows, page.limit, total, |s| (s.name.to_lowercase(), s.id));
    Ok(Json(Page {
        items: page.items.into_iter().map(Supplier::from).collect(),
        next_cursor: page.next_cursor,
        total: page.total,
    }))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SupplierDetail {
    #[serde(flatten)]
    supplier: Supplier,
    contacts: Vec<Contact>,
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

/// The contact fields shared by create and update, validated.
struct Fieldset {
    name: Option<String>,
    email: Option<Option<String>>,
    phone: Option<Option<String>>,
    website: Option<Option<String>>,
    address: Option<Option<String>>,
    notes: Option<Option<String>>,
}

fn optional_website(raw: Option<&str>) -> Result<Option<String>, ApiError> {
    let website = domain::optional_text(raw, "website", 500)?;
    if website
        .as_deref()
        .is_some_and(|w| !(w.starts_with("https://") || w.starts_with("http://")))
    {
        return Err(ApiError::invalid_field(
            "website",
            "invalid",
            "must start with https:// or http://",
        ));
    }
    Ok(website)
}

#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSupplier {
    #[schema(format = "line", min_length = 1, max_length = 200)]
    name: String,
    #[schema(schema_with = shared::openapi::optional_email_schema)]
    email: Option<String>,
    #[schema(max_length = 50)]
    phone: Option<String>,
    /// `https://...` or `http://...`; blank for none.
    #[schema(
        max_length = 500,
        pattern = r"^[\t-\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*(https?://[^\u0000]*)?$"
    )]
    website: Option<String>,
    #[schema(max_length = 1000)]
    address: Option<String>,
    #[schema(max_length = 5000)]
    notes: Option<String>,
    #[schema(schema_with = shared::payment_details::schema)]
    payment_details: Option<PaymentDetails>,
}

/// `POST /api/suppliers` (honours `Idempotency-Key`). With `payment_details`, it needs a
/// step-up (`X-Step-Up-Token`; API keys cannot set bank details), the owners and admins are
/// emailed, and payments to the supplier need a second person for 24 hours.
#[utoipa::path(post, path = "/api/suppliers", operation_id = "create", params(shared::openapi::IdempotencyKeyHeader, shared::openapi::StepUpHeader), request_body = CreateSupplier,
    responses((status = 201, body = SupplierDetail),
        (status = 401, description = "`step_up_required`: payment details need a recent confirmation"),
        (status = 403, description = "`step_up_unavailable`: an API key cannot set payment details")))]
pub async fn create(
    State(state): State<AppState>,
    mut tenant: Require<Suppliers, Write>,
    proof: Proof,
    key: IdempotencyKey,
    AppJson(body): AppJson<CreateSupplier>,
) -> Result<Response, ApiError> {
    if body.payment_details.is_some() {
        proof.redeem(&mut tenant, &state.pool).await?;
        settled(&state, &mut tenant).await?;
    }
    let mut fields = Fields::default();
    let set = Fieldset {
        name: fields.check(domain::name(&body.name, "name", 200)),
        email: fields.check(domain::optional_email(body.email.as_deref(), "email")),
        phone: fields.check(domain::optional_text(body.phone.as_deref(), "phone", 50)),
        website: fields.check(optional_website(body.website.as_deref())),
        address: fields.check(domain::optional_text(
            body.address.as_deref(),
            "address",
            1000,
        )),
        notes: fields.check(domain::optional_text(body.notes.as_deref(), "notes", 5000)),
    };
    let payment = body
        .payment_details
        .clone()
        .map(|p| p.validate(&mut fields));
    let (Some(name), Some(email), Some(phone), Some(website), Some(address), Some(notes)) = (
        set.name,
        set.email,
        set.phone,
        set.website,
        set.address,
        set.notes,
    ) else {
        return Err(fields.into_error());
    };
    if !fields.is_empty() {
        return Err(fields.into_error());
    }
    let payment = payment.flatten();

    let caller = tenant.caller.clone();
    let id = Uuid::new_v4();
    let keys = state.settings.keys.current().await;
    let sealed = payment
        .as_ref()
        .map(|(p, _)| p.seal(&keys, id))
        .transpose()?;
    let summary = payment
        .map(|(_, s)| serde_json::to_value(s))
        .transpose()
        .map_err(|e| ApiError::Internal(e.into()))?;
    let tx = &mut *tenant.db;
    let response = idempotency::create(&mut *tx, &caller, &key, &body, async |tx| {
        sqlx::query!(
            "INSERT INTO suppliers (id, org_id, name, email, phone, website, address, notes, payment_details, payment_summary,
                                    payment_details_changed_at, payment_details_changed_by)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10,
                     CASE WHEN $9::bytea IS NULL THEN NULL ELSE now() END, CASE WHEN $9::bytea IS NULL THEN NULL ELSE $11::uuid END)",
            id,
            caller.org_id,
            name,
            email,
            phone,
            website,
            address,
            notes,
            sealed,
            summary,
            caller.user_id()
        )
        .execute(&mut *tx)
        .await?;
        let supplier = load(tx, caller.org_id, id, false).await?;
        caller.audit(tx, Action::SupplierCreated, id, Change::created(&supplier)).await?;
        Ok((StatusCode::CREATED, SupplierDetail { supplier, contacts: Vec::new() }))
    })
    .await?;
    let replayed = response.headers().contains_key("idempotent-replayed");
    if response.status() == StatusCode::CREATED && body.payment_details.is_some() && !replayed {
        // A replay (same key) answers without a change, and without emailing again.
        payee_change::announce(&mut tenant.db, &state.outbox, &caller, id, None).await?;
    }
    Ok(response)
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateSupplier {
    #[schema(value_type = String, format = "line", min_length = 1, max_length = 200)]
    #[serde(default, deserialize_with = "non_null")]
    name: Option<String>,
    #[schema(schema_with = shared::openapi::optional_email_schema)]
    #[serde(default)]
    email: Patch<String>,
    #[schema(value_type = Option<String>, max_length = 50)]
    #[serde(default)]
    phone: Patch<String>,
    /// `https://...` or `http://...`; blank or `null` for none.
    #[schema(
        value_type = Option<String>,
        max_length = 500,
        nullable,
        pattern = r"^[\t-\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*(https?://[^\u0000]*)?$"
    )]
    #[serde(default)]
    website: Patch<String>,
    #[schema(value_type = Option<String>, max_length = 1000)]
    #[serde(default)]
    address: Patch<String>,
    #[schema(value_type = Option<String>, max_length = 5000)]
    #[serde(default)]
    notes: Patch<String>,
    /// New details replace the old; `null` removes them.
    #[schema(schema_with = shared::payment_details::schema)]
    #[serde(default)]
    payment_details: Patch<PaymentDetails>,
    #[schema(value_type = bool)]
    #[serde(default, deserialize_with = "non_null")]
    is_active: Option<bool>,
}

/// A change to a supplier, checked (`None`/`Keep`: unchanged).
#[derive(Default)]
struct SupplierChange {
    name: Option<String>,
    email: Patch<String>,
    phone: Patch<String>,
    website: Patch<String>,
    address: Patch<String>,
    notes: Patch<String>,
    /// New details with their summary, or `Clear` to remove them: written apart (sealed, and
    /// announced when the account really changes).
    payment: Patch<(PaymentDetails, PaymentSummary)>,
    is_active: Option<bool>,
}

impl TryFrom<UpdateSupplier> for SupplierChange {
    type Error = ApiError;

    /// Every invalid field in one 422.
    fn try_from(body: UpdateSupplier) -> Result<Self, ApiError> {
        let mut fields = Fields::default();
        let website = body
            .website
            .try_map(|w| optional_website(Some(&w)))
            .map(Patch::flatten);
        let change = Self {
            name: body
                .name
                .and_then(|n| fields.check(domain::name(&n, "name", 200))),
            email: fields
                .check(domain::patch_email(body.email, "email"))
                .unwrap_or_default(),
            phone: fields
                .check(domain::patch_text(body.phone, "phone", 50))
                .unwrap_or_default(),
            website: fields.check(website).unwrap_or_default(),
            address: fields
                .check(domain::patch_text(body.address, "address", 1000))
                .unwrap_or_default(),
            notes: fields
                .check(domain::patch_text(body.notes, "notes", 5000))
                .unwrap_or_default(),
            payment: body
                .payment_details
                .try_map(|p| p.validate(&mut fields).ok_or(()))
                .unwrap_or_default(),
            is_active: body.is_active,
        };
        if !fields.is_empty() {
            return Err(fields.into_error());
        }
        Ok(change)
    }
}

impl SupplierChange {
    /// The supplier with this change made, but for its payment details (see `payment`).
    fn apply(self, mut supplier: Supplier) -> Supplier {
        supplier.name = self.name.unwrap_or(supplier.name);
        supplier.email = self.email.apply(supplier.email);
        supplier.phone = self.phone.apply(supplier.phone);
        supplier.website = self.website.apply(supplier.website);
        supplier.address = self.address.apply(supplier.address);
        supplier.notes = self.notes.apply(supplier.notes);
        supplier.is_active = self.is_active.unwrap_or(supplier.is_active);
        supplier
    }
}

/// 403 `admin_cooling_off` for a caller made an owner or admin by someone else too recently to
/// change where the organization's money goes.
async fn settled(state: &AppState, tenant: &mut Require<Suppliers, Write>) -> Result<(), ApiError> {
    let (org, user) = (tenant.caller.org_id, tenant.caller.user_id());
    let Some(user) = user else { return Ok(()) };
    let cooling_off = state.settings.admin_cooling_off;
    let what = "change suppliers' bank details";
    require_settled_admin(&mut tenant.db, org, user, cooling_off, what).await
}

/// `PATCH /api/suppliers/{id}` (and `PUT`, the same): only the fields sent change; `null`
/// clears an optional field and is refused on `name` and `is_active`. Changing or removing
/// `payment_details` needs a step-up (`X-Step-Up-Token`; API keys cannot), emails the owners and
/// admins (the old and new account endings, who, when), and for 24 hours payments to the
/// supplier need a second person.
#[utoipa::path(patch, path = "/api/suppliers/{id}", operation_id = "update", params(("id" = Uuid, Path), shared::openapi::StepUpHeader), request_body = UpdateSupplier,
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
        settled(&state, &mut tenant).await?;
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
    let caller = tenant.caller.clone();
    let tx = &mut *tenant.db;
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
        let payment = payment.apply(None);
        // Whether the account really changes: sealed values differ on every seal, so the old
        // details are opened and compared with the new.
        let old = sqlx::query_scalar!(
            "SELECT payment_details FROM suppliers WHERE id = $1 AND org_id = $2",
            id,
            caller.org_id
        )
        .fetch_one(&mut *tx)
        .await?;
        let old = match old {
            Some(sealed) => Some(PaymentDetails::open(&state.settings.keys, id, &sealed).await?),
            None => None,
        };
        let same = |a: &PaymentDetails, b: &PaymentDetails| {
            serde_json::to_value(a).ok() == serde_json::to_value(b).ok()
        };
        let changed = match (&old, &payment) {
            (Some(old), Some((new, _))) => !same(old, new),
            (None, None) => false,
            _ => true,
        };
        let (sealed, summary) = match payment {
            Some((details, summary)) => (
                Some(details.seal(&*state.settings.keys.current().await, id)?),
                Some(serde_json::to_value(summary).map_err(|e| ApiError::Internal(e.into()))?),
            ),
            None => (None, None),
        };
        sqlx::query!(
            "UPDATE suppliers SET payment_details = $3, payment_summary = $4,
                 payment_details_changed_at = CASE WHEN $5 THEN now() ELSE payment_details_changed_at END,
                 payment_details_changed_by = CASE WHEN $5 THEN $6 ELSE payment_details_changed_by END
             WHERE id = $1 AND org_id = $2",
            id,
            caller.org_id,
            sealed,
            summary,
            changed,
            caller.user_id()
        )
        .execute(&mut *tx)
        .await?;
        if changed {
            let before = before.payment_details.clone();
            payee_change::announce(&mut *tx, &state.outbox, &caller, id, before).await?;
        }
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
