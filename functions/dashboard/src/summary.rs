//! `GET /api/dashboard/summary`: what needs attention, in one statement.

use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use shared::auth::caller::{Read, Reports};
use shared::auth::{Module, Require};
use shared::domain::{PoStatus, ReservationStatus, TaskStatus};
use shared::error::ApiError;
use uuid::Uuid;

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = DashboardSummary)]
pub struct Summary {
    products: i64,
    low_stock: i64,
    open_purchase_orders: i64,
    active_reservations: i64,
    /// The caller's pending tasks (none for an API key).
    my_open_tasks: i64,
    /// The last 10 audit entries the caller may read: everything for owners and admins; for
    /// others the records of the modules they can read and their own to-dos, never sign-ins,
    /// people, keys or the organization.
    #[schema(value_type = Vec<Activity>)]
    recent_activity: sqlx::types::Json<Vec<Activity>>,
}

/// One entry of the recent activity: what `GET /api/audit-log` shows, without the snapshots.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Activity {
    id: i64,
    /// What was done (`product.created`, `purchase_order.submitted`, ...).
    action: String,
    /// The kind of record (`product`, `purchase_order`, ...).
    entity: String,
    entity_id: Option<Uuid>,
    actor_user_id: Option<Uuid>,
    actor_api_key_id: Option<Uuid>,
    /// Who acted, as people read it: the user's name or the API key's name (`null` for the
    /// system).
    actor_name: Option<String>,
    created_at: DateTime<Utc>,
}

/// The audit entities a caller may see in the recent activity: owners and admins everything
/// (`None`, as in `/api/audit-log`); anyone else the records of the modules they can read, and
/// their own to-dos (added in the query), never people, keys, the organization or sign-ins.
fn visible_entities(caller: &shared::auth::Caller) -> Option<Vec<String>> {
    if caller.is_admin() {
        return None;
    }
    let by_module: [(Module, &[&str]); 4] = [
        (Module::Products, &["product"]),
        (Module::Suppliers, &["supplier", "supplier_contact"]),
        (Module::Inventory, &["location", "reservation", "stocktake"]),
        (Module::Purchasing, &["purchase_order"]),
    ];
    Some(
        by_module
            .iter()
            .filter(|(module, _)| caller.can(*module, false))
            .flat_map(|(_, entities)| entities.iter().map(|e| (*e).to_owned()))
            .collect(),
    )
}

/// `GET /api/dashboard/summary`: every figure in one statement.
#[utoipa::path(get, path = "/api/dashboard/summary",
    responses((status = 200, description = "What needs attention, in one round trip", body = Summary)))]
pub(crate) async fn summary(mut tenant: Require<Reports, Read>) -> Result<Json<Summary>, ApiError> {
    let user = tenant.caller.user_id();
    let visible = visible_entities(&tenant.caller);
    let summary = sqlx::query_as!(
        Summary,
        r#"SELECT
             (SELECT count(*) FROM products WHERE org_id = $1 AND is_active) AS "products!",
             (SELECT count(*) FROM low_stock WHERE org_id = $1) AS "low_stock!",
             (SELECT count(*) FROM purchase_orders
              WHERE org_id = $1 AND status = ANY($4)) AS "open_purchase_orders!",
             (SELECT count(*) FROM reservations_now
              WHERE org_id = $1 AND status = $5) AS "active_reservations!",
             (SELECT count(*) FROM tasks WHERE org_id = $1 AND user_id = $2 AND status = $6) AS "my_open_tasks!",
             (SELECT coalesce(jsonb_agg(to_jsonb(a) ORDER BY a.id DESC), '[]'::jsonb) FROM (
                 SELECT l.id, l.action, l.entity, l.entity_id, l.actor_user_id, l.actor_api_key_id,
                        coalesce(u.name, k.name) AS actor_name, l.created_at
                 FROM audit_log l
                 LEFT JOIN users u ON u.id = l.actor_user_id
                 LEFT JOIN api_keys k ON k.org_id = l.org_id AND k.id = l.actor_api_key_id
                 WHERE l.org_id = $1
                   AND ($3::text[] IS NULL OR l.entity = ANY($3)
                        OR (l.entity = 'task' AND l.actor_user_id = $2))
                 ORDER BY l.id DESC LIMIT 10) a) AS "recent_activity!: sqlx::types::Json<Vec<Activity>>""#,
        tenant.caller.org_id,
        user,
        visible.as_deref() as Option<&[String]>,
        &PoStatus::OPEN as &[PoStatus],
        ReservationStatus::Active as ReservationStatus,
        TaskStatus::Pending as TaskStatus
    )
    .fetch_one(&mut *tenant.db)
    .await?;
    Ok(Json(summary))
}
