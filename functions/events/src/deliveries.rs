//! An endpoint's deliveries, each with its attempts (time, status, latency, the first 1 KB of
//! the answer), and retrying one by hand.

use axum::Json;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::Serialize;
use shared::auth::RequireAdmin;
use shared::error::ApiError;
use shared::http::pagination::{Page, PageQuery, PageRequest};
use shared::http::{PathId, PathIds};
use uuid::Uuid;

use crate::endpoint::load;

/// Attempts shown with each delivery (the latest).
const ATTEMPTS_SHOWN: i64 = 10;

fn status_schema() -> utoipa::openapi::schema::Object {
    shared::http::openapi::text_enum(&["pending", "succeeded", "failed"])
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Delivery {
    pub id: Uuid,
    pub event_id: Uuid,
    pub event_type: String,
    /// `pending` (tried again at `next_attempt_at`), `succeeded` or `failed` (given up after 3
    /// days, or its endpoint was disabled).
    #[schema(schema_with = status_schema)]
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// The latest attempts, newest first (at most 10).
    #[schema(value_type = Vec<DeliveryAttempt>)]
    pub recent_attempts: serde_json::Value,
}

/// One attempt (documents `recent_attempts`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeliveryAttempt {
    pub attempted_at: DateTime<Utc>,
    /// The receiver's HTTP status; `null` when it gave none (see `error`).
    pub status: Option<i32>,
    pub latency_ms: i32,
    /// The first 1 KB of the receiver's answer.
    pub response: Option<String>,
    /// Why the attempt failed: the status, a timeout, a refused address, a redirect.
    pub error: Option<String>,
}

/// `GET /api/webhook-endpoints/{id}/deliveries`: newest first.
#[utoipa::path(get, path = "/api/webhook-endpoints/{id}/deliveries", operation_id = "list_webhook_deliveries", params(("id" = Uuid, Path), PageQuery),
    responses((status = 200, body = Page<Delivery>), (status = 404, description = "No such endpoint")))]
pub async fn list(
    mut admin: RequireAdmin,
    PathId(endpoint): PathId,
    page: PageRequest<(DateTime<Utc>, Uuid)>,
) -> Result<Json<Page<Delivery>>, ApiError> {
    let org = admin.caller.org_id;
    load(&mut admin.db, org, endpoint, false).await?;
    let (before_at, before_id) = page.after.unzip();
    let rows = sqlx::query_as!(
        Delivery,
        r#"SELECT d.id, d.event_id, v.type AS event_type, d.status, d.attempts,
                  CASE WHEN d.status = 'pending' THEN d.next_attempt_at END AS next_attempt_at,
                  d.created_at,
                  coalesce((SELECT jsonb_agg(jsonb_build_object(
                                'attempted_at', stockroom_rfc3339(a.attempted_at),
                                'status', a.status, 'latency_ms', a.latency_ms,
                                'response', a.response, 'error', a.error) ORDER BY a.id DESC)
                            FROM (SELECT * FROM webhook_attempts
                                  WHERE delivery_id = d.id ORDER BY id DESC LIMIT $5) a),
                           '[]'::jsonb) AS "recent_attempts!"
           FROM webhook_deliveries d JOIN events v ON v.id = d.event_id
           WHERE d.org_id = $1 AND d.endpoint_id = $2
             AND ($3::timestamptz IS NULL OR (d.created_at, d.id) < ($3, $4))
           ORDER BY d.created_at DESC, d.id DESC
           LIMIT $6"#,
        org,
        endpoint,
        before_at,
        before_id,
        ATTEMPTS_SHOWN,
        page.limit + 1
    )
    .fetch_all(&mut *admin.db)
    .await?;
    Ok(Json(Page::from_rows(rows, page.limit, None, |d| {
        (d.created_at, d.id)
    })))
}

/// `POST /api/webhook-endpoints/{id}/deliveries/{delivery_id}/retry`: sends the delivery again
/// at the next dispatch (within a minute), whatever became of it: a failed one is tried for
/// another 3 days from now on, a succeeded one once more.
#[utoipa::path(post, path = "/api/webhook-endpoints/{id}/deliveries/{delivery_id}/retry", operation_id = "retry_webhook_delivery",
    params(("id" = Uuid, Path), ("delivery_id" = Uuid, Path)),
    responses((status = 202, description = "Queued"),
        (status = 404, description = "No such endpoint or delivery"),
        (status = 409, description = "`endpoint_disabled`: enable the endpoint first")))]
pub async fn retry(
    mut admin: RequireAdmin,
    PathIds(endpoint, delivery): PathIds,
) -> Result<StatusCode, ApiError> {
    let org = admin.caller.org_id;
    if !load(&mut admin.db, org, endpoint, true).await?.enabled {
        return Err(ApiError::conflict(
            "endpoint_disabled",
            "this endpoint is disabled: enable it (PATCH enabled: true) first",
        ));
    }
    let queued = sqlx::query!(
        "UPDATE webhook_deliveries
         SET status = 'pending', next_attempt_at = now(), started_at = now(), updated_at = now()
         WHERE org_id = $1 AND endpoint_id = $2 AND id = $3",
        org,
        endpoint,
        delivery
    )
    .execute(&mut *admin.db)
    .await?;
    if queued.rows_affected() == 0 {
        return Err(ApiError::not_found("delivery"));
    }
    Ok(StatusCode::ACCEPTED)
}
