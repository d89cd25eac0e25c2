//! A supplier's contacts: list, add, update, remove. At most one is primary.

use axum::Json;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use shared::audit::{Action, Change};
use shared::auth::caller::{Read, Suppliers, Write};
use shared::auth::{Caller, Require};
use shared::domain::{self, Patch};
use shared::error::{ApiError, Fields};
use shared::http::idempotency::{self, Answer, IdempotencyKey};
use shared::http::pagination::Page;
use shared::http::{AppJson, PathId, PathIds};

use sqlx::PgConnection;
use uuid::Uuid;

use crate::reach::Reach;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Contact {
    id: Uuid,
    supplier_id: Uuid,
    name: String,
    #[schema(schema_with = shared::http::openapi::optional_email_schema)]
    email: Option<String>,
    phone: Option<String>,
    role: Option<String>,
    is_primary: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// The contacts of a supplier, primary first.
pub async fn of_supplier(
    conn: &mut PgConnection,
    org_id: Uuid,
    supplier_id: Uuid,
) -> Result<Vec<Contact>, ApiError> {
    Ok(sqlx::query_as!(
        Contact,
        "SELECT id, supplier_id, name, email, phone, role, is_primary, created_at, updated_at
         FROM supplier_contacts WHERE org_id = $1 AND supplier_id = $2
         ORDER BY is_primary DESC, created_at, id",
        org_id,
        supplier_id
    )
    .fetch_all(conn)
    .await?)
}

async fn supplier_exists(
    conn: &mut PgConnection,
    org_id: Uuid,
    id: Uuid,
    lock: bool,
) -> Result<(), ApiError> {
    let found = if lock {
        sqlx::query_scalar!(
            "SELECT id FROM suppliers WHERE id = $1 AND org_id = $2 FOR UPDATE",
            id,
            org_id
        )
        .fetch_optional(conn)
        .await?
    } else {
        sqlx::query_scalar!(
            "SELECT id FROM suppliers WHERE id = $1 AND org_id = $2",
            id,
            org_id
        )
        .fetch_optional(conn)
        .await?
    };
    found
        .map(|_| ())
        .ok_or_else(|| ApiError::not_found("supplier"))
}

/// `GET /api/suppliers/{id}/contacts`.
#[utoipa::path(get, path = "/api/suppliers/{id}/contacts", operation_id = "list_contacts", params(("id" = Uuid, Path)),
    responses((status = 200, description = "The contacts, primary first (one page)", body = Page<Contact>)))]
pub async fn list(
    mut tenant: Require<Suppliers, Read>,
    PathId(id): PathId,
) -> Result<Json<Page<Contact>>, ApiError> {
    let org_id = tenant.caller.org_id;
    supplier_exists(&mut tenant.db, org_id, id, false).await?;
    Ok(Json(Page::whole(
        of_supplier(&mut tenant.db, org_id, id).await?,
    )))
}

#[derive(Clone, Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateContact {
    #[schema(format = "line", min_length = 1, max_length = 200)]
    name: String,
    #[schema(schema_with = shared::http::openapi::optional_email_schema)]
    email: Option<String>,
    #[schema(max_length = 50)]
    phone: Option<String>,
    #[schema(max_length = 100)]
    role: Option<String>,
    #[serde(default)]
    is_primary: bool,
}

/// A [`CreateContact`] checked.
pub struct NewContact {
    reach: Reach,
    role: Option<String>,
    is_primary: bool,
}

/// Makes room for a new primary contact.
async fn clear_primary(
    conn: &mut PgConnection,
    org_id: Uuid,
    supplier_id: Uuid,
) -> Result<(), ApiError> {
    sqlx::query!(
        "UPDATE supplier_contacts SET is_primary = false, updated_at = now()
         WHERE org_id = $1 AND supplier_id = $2 AND is_primary",
        org_id,
        supplier_id
    )
    .execute(conn)
    .await?;
    Ok(())
}

impl TryFrom<CreateContact> for NewContact {
    type Error = ApiError;

    /// Every invalid field in one 422.
    fn try_from(body: CreateContact) -> Result<Self, ApiError> {
        let (reach, mut fields) = Reach::check(&body.name, &body.email, &body.phone);
        let new = Self {
            role: fields.text(body.role.as_deref(), "role", 100),
            is_primary: body.is_primary,
            reach,
        };
        fields.finish(new)
    }
}

/// `POST /api/suppliers/{id}/contacts` (honours `Idempotency-Key`).
#[utoipa::path(post, path = "/api/suppliers/{id}/contacts", operation_id = "add_contact", params(("id" = Uuid, Path), shared::http::openapi::IdempotencyKeyHeader), request_body = CreateContact,
    responses((status = 201, body = Contact)))]
pub async fn create(
    mut tenant: Require<Suppliers, Write>,
    key: IdempotencyKey,
    PathId(supplier_id): PathId,
    AppJson(body): AppJson<CreateContact>,
) -> Result<Answer, ApiError> {
    let org = tenant.caller.org_id;
    supplier_exists(&mut tenant.db, org, supplier_id, true).await?;
    idempotency::create_new(&mut tenant, &key, body, async |tx, caller, new| {
        insert(tx, caller, supplier_id, new).await
    })
    .await
}

/// Writes a new contact of the supplier (the primary one if it says so) and its audit row.
async fn insert(
    tx: &mut PgConnection,
    caller: &Caller,
    supplier_id: Uuid,
    new: NewContact,
) -> Result<(StatusCode, Contact), ApiError> {
    if new.is_primary {
        clear_primary(tx, caller.org_id, supplier_id).await?;
    }
    let contact = sqlx::query_as!(
        Contact,
        "INSERT INTO supplier_contacts (org_id, supplier_id, name, email, phone, role, is_primary)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         RETURNING id, supplier_id, name, email, phone, role, is_primary, created_at, updated_at",
        caller.org_id,
        supplier_id,
        new.reach.name,
        new.reach.email,
        new.reach.phone,
        new.role,
        new.is_primary
    )
    .fetch_one(&mut *tx)
    .await?;
    let change = Change::created(&contact);
    caller
        .audit(tx, Action::SupplierContactCreated, contact.id, change)
        .await?;
    Ok((StatusCode::CREATED, contact))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateContact {
    #[schema(value_type = String, format = "line", min_length = 1, max_length = 200)]
    #[serde(default, deserialize_with = "domain::non_null")]
    name: Option<String>,
    #[schema(schema_with = shared::http::openapi::optional_email_schema)]
    #[serde(default)]
    email: Patch<String>,
    #[schema(value_type = Option<String>, max_length = 50)]
    #[serde(default)]
    phone: Patch<String>,
    #[schema(value_type = Option<String>, max_length = 100)]
    #[serde(default)]
    role: Patch<String>,
    #[schema(value_type = bool)]
    #[serde(default, deserialize_with = "domain::non_null")]
    is_primary: Option<bool>,
}

/// An [`UpdateContact`] checked (`None`/`Keep`: unchanged).
struct ContactChange {
    name: Option<String>,
    email: Patch<String>,
    phone: Patch<String>,
    role: Patch<String>,
    is_primary: Option<bool>,
}

impl TryFrom<UpdateContact> for ContactChange {
    type Error = ApiError;

    /// Every invalid field in one 422.
    fn try_from(body: UpdateContact) -> Result<Self, ApiError> {
        let mut fields = Fields::default();
        let change = Self {
            name: fields.new_name(body.name, "name", 200),
            email: fields.patch_email(body.email, "email"),
            phone: fields.patch_text(body.phone, "phone", 50),
            role: fields.patch_text(body.role, "role", 100),
            is_primary: body.is_primary,
        };
        fields.finish(change)
    }
}

impl ContactChange {
    /// The contact with this change made.
    fn apply(self, mut contact: Contact) -> Contact {
        shared::edit!(self => contact; name, email, phone, role, is_primary);
        contact
    }
}

async fn load(
    conn: &mut PgConnection,
    org_id: Uuid,
    supplier_id: Uuid,
    id: Uuid,
) -> Result<Contact, ApiError> {
    sqlx::query_as!(
        Contact,
        "SELECT id, supplier_id, name, email, phone, role, is_primary, created_at, updated_at
         FROM supplier_contacts WHERE id = $1 AND supplier_id = $2 AND org_id = $3 FOR UPDATE",
        id,
        supplier_id,
        org_id
    )
    .fetch_optional(conn)
    .await?
    .ok_or_else(|| ApiError::not_found("contact"))
}

/// `PATCH /api/suppliers/{id}/contacts/{contact_id}`.
#[utoipa::path(patch, path = "/api/suppliers/{id}/contacts/{contact_id}", operation_id = "update_contact", params(("id" = Uuid, Path), ("contact_id" = Uuid, Path)), request_body = UpdateContact,
    responses((status = 200, body = Contact)))]
pub async fn update(
    mut tenant: Require<Suppliers, Write>,
    PathIds(supplier_id, id): PathIds,
    AppJson(body): AppJson<UpdateContact>,
) -> Result<Json<Contact>, ApiError> {
    let change = ContactChange::try_from(body)?;
    let (caller, tx) = tenant.parts();
    let before = load(&mut *tx, caller.org_id, supplier_id, id).await?;
    let next = change.apply(before.clone());
    if next.is_primary && !before.is_primary {
        clear_primary(&mut *tx, caller.org_id, supplier_id).await?;
    }
    let after = sqlx::query_as!(
        Contact,
        "UPDATE supplier_contacts
         SET name = $3, email = $4, phone = $5, role = $6, is_primary = $7, updated_at = now()
         WHERE id = $1 AND org_id = $2
         RETURNING id, supplier_id, name, email, phone, role, is_primary, created_at, updated_at",
        id,
        caller.org_id,
        next.name,
        next.email,
        next.phone,
        next.role,
        next.is_primary
    )
    .fetch_one(&mut *tx)
    .await?;
    let change = Change::updated(&before, &after);
    caller
        .audit(tx, Action::SupplierContactUpdated, id, change)
        .await?;
    Ok(Json(after))
}

/// `DELETE /api/suppliers/{id}/contacts/{contact_id}`.
#[utoipa::path(delete, path = "/api/suppliers/{id}/contacts/{contact_id}", operation_id = "remove_contact", params(("id" = Uuid, Path), ("contact_id" = Uuid, Path)),
    responses((status = 204, description = "Removed")))]
pub async fn delete(
    mut tenant: Require<Suppliers, Write>,
    PathIds(supplier_id, id): PathIds,
) -> Result<StatusCode, ApiError> {
    let (caller, tx) = tenant.parts();
    let before = load(&mut *tx, caller.org_id, supplier_id, id).await?;
    sqlx::query!(
        "DELETE FROM supplier_contacts WHERE id = $1 AND org_id = $2",
        id,
        caller.org_id
    )
    .execute(&mut *tx)
    .await?;
    let change = Change::deleted(&before);
    caller
        .audit(tx, Action::SupplierContactDeleted, id, change)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
