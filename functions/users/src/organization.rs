//! `/api/organization`: the caller's organization, its name and default currency (what
//! products and purchase orders created without a currency take). Every member and API key
//! reads it, with what the organization stores in the files bucket and may store; owners and
//! admins change it.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use shared::AppState;
use shared::audit::{Action, Change};
use shared::auth::RequireAdmin;
use shared::auth::caller::Tenant;
use shared::domain::non_null;
use shared::error::{ApiError, FieldError, Fields};
use shared::http::AppJson;
use sqlx::PgConnection;
use uuid::Uuid;

/// The organization as `GET` and `PATCH` answer it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OrganizationWithStorage {
    #[serde(flatten)]
    organization: Organization,
    storage: StorageUse,
}

/// What the organization holds in the files bucket, pending uploads included, and may hold.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StorageUse {
    used_bytes: i64,
    /// Past it, an upload is refused with 413 `quota_exceeded`.
    quota_bytes: i64,
}

impl OrganizationWithStorage {
    async fn of(
        conn: &mut PgConnection,
        organization: Organization,
        quota_bytes: i64,
    ) -> Result<Self, ApiError> {
        let used_bytes = sqlx::query_scalar!(
            "SELECT bytes FROM storage_usage WHERE org_id = $1",
            organization.id
        )
        .fetch_optional(conn)
        .await?
        .unwrap_or(0);
        Ok(Self {
            organization,
            storage: StorageUse {
                used_bytes,
                quota_bytes,
            },
        })
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Organization {
    id: Uuid,
    name: String,
    /// ISO 4217 code that products and purchase orders created without a currency take.
    #[schema(value_type = shared::domain::CurrencyCode)]
    default_currency: String,
    /// Days between counts of a product without an interval of its own
    /// (`GET /api/stocktakes/due`).
    count_interval_days: i32,
    /// Whether units past their expiry date may be sold or reserved (default: not).
    sell_expired: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

async fn load(conn: &mut PgConnection, org_id: Uuid, lock: bool) -> Result<Organization, ApiError> {
    let row = if lock {
        sqlx::query_as!(
            Organization,
            r#"SELECT id, name, default_currency AS "default_currency!", count_interval_days,
                      sell_expired, created_at, updated_at
               FROM organizations WHERE id = $1 FOR UPDATE"#,
            org_id
        )
        .fetch_optional(conn)
        .await?
    } else {
        sqlx::query_as!(
            Organization,
            r#"SELECT id, name, default_currency AS "default_currency!", count_interval_days,
                      sell_expired, created_at, updated_at
               FROM organizations WHERE id = $1"#,
            org_id
        )
        .fetch_optional(conn)
        .await?
    };
    row.ok_or_else(|| ApiError::not_found("organization"))
}

/// `GET /api/organization`: the caller's organization.
#[utoipa::path(get, path = "/api/organization", operation_id = "get_organization",
    responses((status = 200, description = "The caller's organization", body = OrganizationWithStorage)))]
pub async fn get(
    State(state): State<AppState>,
    mut tenant: Tenant,
) -> Result<Json<OrganizationWithStorage>, ApiError> {
    let org_id = tenant.caller.org_id;
    let organization = load(&mut tenant.db, org_id, false).await?;
    let quota = state.settings.storage.quota_bytes;
    Ok(Json(
        OrganizationWithStorage::of(&mut tenant.db, organization, quota).await?,
    ))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateOrganization {
    #[schema(value_type = String, format = "line", min_length = 1, max_length = 200)]
    #[serde(default, deserialize_with = "non_null")]
    name: Option<String>,
    /// ISO 4217 code, upper case (`EUR`). Products and orders that have one keep it.
    #[schema(value_type = shared::domain::CurrencyCode)]
    #[serde(default, deserialize_with = "non_null")]
    default_currency: Option<shared::domain::Currency>,
    /// Days between counts of products without their own interval.
    #[schema(value_type = i32, minimum = 1, maximum = 3650)]
    #[serde(default, deserialize_with = "non_null")]
    count_interval_days: Option<i32>,
    /// Whether units past their expiry date may be sold or reserved.
    #[schema(value_type = bool)]
    #[serde(default, deserialize_with = "non_null")]
    sell_expired: Option<bool>,
}

/// An [`UpdateOrganization`] checked (`None`: unchanged).
struct OrganizationChange {
    name: Option<String>,
    default_currency: Option<String>,
    count_interval_days: Option<i32>,
    sell_expired: Option<bool>,
}

impl TryFrom<UpdateOrganization> for OrganizationChange {
    type Error = ApiError;

    /// Every invalid field in one 422.
    fn try_from(body: UpdateOrganization) -> Result<Self, ApiError> {
        let mut fields = Fields::default();
        if body
            .count_interval_days
            .is_some_and(|d| !(1..=3650).contains(&d))
        {
            fields.add(FieldError::new(
                "count_interval_days",
                "out_of_range",
                "must be between 1 and 3650 days",
            ));
        }
        let change = Self {
            name: fields.new_name(body.name, "name", 200),
            default_currency: body.default_currency.map(String::from),
            count_interval_days: body.count_interval_days,
            sell_expired: body.sell_expired,
        };
        fields.finish(change)
    }
}

impl OrganizationChange {
    /// The organization with this change made.
    fn apply(self, mut org: Organization) -> Organization {
        shared::edit!(self => org; name, default_currency, count_interval_days, sell_expired);
        org
    }
}

/// `PATCH /api/organization` (owners and admins): only the fields sent change.
#[utoipa::path(patch, path = "/api/organization", operation_id = "update_organization", request_body = UpdateOrganization,
    responses((status = 200, description = "The updated organization", body = OrganizationWithStorage)))]
pub async fn update(
    State(state): State<AppState>,
    mut admin: RequireAdmin,
    AppJson(body): AppJson<UpdateOrganization>,
) -> Result<Json<OrganizationWithStorage>, ApiError> {
    let change = OrganizationChange::try_from(body)?;
    let (caller, tx) = admin.parts();
    let org_id = caller.org_id;
    let before = load(&mut *tx, org_id, true).await?;
    let next = change.apply(before.clone());
    let after = sqlx::query_as!(
        Organization,
        r#"UPDATE organizations SET name = $2, default_currency = $3, count_interval_days = $4,
                  sell_expired = $5, updated_at = now()
           WHERE id = $1
           RETURNING id, name, default_currency AS "default_currency!", count_interval_days,
                     sell_expired, created_at, updated_at"#,
        org_id,
        next.name,
        next.default_currency,
        next.count_interval_days,
        next.sell_expired
    )
    .fetch_one(&mut *tx)
    .await?;
    caller
        .audit(
            tx,
            Action::OrganizationUpdated,
            org_id,
            Change::updated(&before, &after),
        )
        .await?;
    let quota = state.settings.storage.quota_bytes;
    Ok(Json(OrganizationWithStorage::of(tx, after, quota).await?))
}
