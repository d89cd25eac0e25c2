//! Locations (shop floor, back room, warehouse). Every organization starts with a default one.

use axum::Json;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use shared::audit::{Action, Change};
use shared::auth::caller::{Inventory, Read, Write};
use shared::auth::{Caller, Require};
use shared::domain;
use shared::error::{ApiError, ResultExt};
use shared::http::AppJson;
use shared::http::idempotency::{self, Answer, IdempotencyKey};
use shared::http::pagination::Page;
use sqlx::PgConnection;
use uuid::Uuid;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Location {
    id: Uuid,
    name: String,
    is_default: bool,
    created_at: DateTime<Utc>,
}

/// The given location of the organization, or its default one; 422 for an unknown id.
pub async fn resolve(
    conn: &mut PgConnection,
    org: Uuid,
    id: Option<Uuid>,
    field: &str,
) -> Result<Uuid, ApiError> {
    let found = match id {
        Some(id) => {
            sqlx::query_scalar!(
                "SELECT id FROM locations WHERE org_id = $1 AND id = $2",
                org,
                id
            )
            .fetch_optional(conn)
            .await?
        }
        None => {
            sqlx::query_scalar!(
                "SELECT id FROM locations WHERE org_id = $1 AND is_default",
                org
            )
            .fetch_optional(conn)
            .await?
        }
    };
    found.ok_or_else(|| {
        ApiError::unknown_reference(
            field,
            "unknown_location",
            "no such location in this organization",
        )
    })
}

#[utoipa::path(get, path = "/api/inventory/locations", operation_id = "list_locations",
    responses((status = 200, description = "Every location, the default first (one page)", body = Page<Location>)))]
pub async fn list(mut tenant: Require<Inventory, Read>) -> Result<Json<Page<Location>>, ApiError> {
    Ok(Json(Page::whole(
        sqlx::query_as!(
            Location,
            "SELECT id, name, is_default, created_at FROM locations WHERE org_id = $1 ORDER BY is_default DESC, lower(name)",
            tenant.caller.org_id
        )
        .fetch_all(&mut *tenant.db)
        .await?,
    )))
}

#[derive(Clone, Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateLocation {
    #[schema(format = "line", min_length = 1, max_length = 100)]
    name: String,
}

/// A [`CreateLocation`] checked.
pub struct NewLocation {
    name: String,
}

impl TryFrom<CreateLocation> for NewLocation {
    type Error = ApiError;

    fn try_from(body: CreateLocation) -> Result<Self, ApiError> {
        Ok(Self {
            name: domain::name(&body.name, "name", 100)?,
        })
    }
}

#[utoipa::path(post, path = "/api/inventory/locations", operation_id = "create_location", params(shared::http::openapi::IdempotencyKeyHeader), request_body = CreateLocation,
    responses((status = 201, body = Location), (status = 409, description = "The name is taken")))]
pub async fn create(
    mut tenant: Require<Inventory, Write>,
    key: IdempotencyKey,
    AppJson(body): AppJson<CreateLocation>,
) -> Result<Answer, ApiError> {
    idempotency::create_new(&mut tenant, &key, body, insert).await
}

/// Writes a new location and its audit row.
async fn insert(
    tx: &mut PgConnection,
    caller: &Caller,
    new: NewLocation,
) -> Result<(StatusCode, Location), ApiError> {
    let location = sqlx::query_as!(
        Location,
        "INSERT INTO locations (org_id, name) VALUES ($1, $2)
         RETURNING id, name, is_default, created_at",
        caller.org_id,
        new.name
    )
    .fetch_one(&mut *tx)
    .await
    .on_constraint("locations_org_name_key", |_| {
        ApiError::conflict_on(
            "name",
            "location_exists",
            "a location with this name exists",
        )
    })?;
    caller
        .audit(
            tx,
            Action::LocationCreated,
            location.id,
            Change::created(&serde_json::json!({ "name": location.name })),
        )
        .await?;
    Ok((StatusCode::CREATED, location))
}
