//! `GET /api/audit-log`: the organization's audit trail, newest first, filterable.

use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use shared::auth::RequireAdmin;
use shared::error::ApiError;
use shared::http::AppQuery;
use shared::http::pagination::{Page, PageQuery, PageRequest};
use uuid::Uuid;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    entity: Option<String>,
    entity_id: Option<Uuid>,
    action: Option<String>,
    actor_user_id: Option<Uuid>,
    actor_api_key_id: Option<Uuid>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditEntry {
    id: i64,
    action: String,
    entity: String,
    entity_id: Option<Uuid>,
    actor_user_id: Option<Uuid>,
    actor_api_key_id: Option<Uuid>,
    /// Who acted, as people read it: the user's name or the API key's name (`null` for the
    /// system and anonymous attempts).
    actor_name: Option<String>,
    #[schema(schema_with = shared::http::openapi::record_schema)]
    before: Option<serde_json::Value>,
    #[schema(schema_with = shared::http::openapi::record_schema)]
    after: Option<serde_json::Value>,
    request_id: Option<String>,
    ip: Option<String>,
    created_at: DateTime<Utc>,
}

/// `GET /api/audit-log`: what happened in the organization, newest first.
#[utoipa::path(get, path = "/api/audit-log", operation_id = "list_audit_log", params(AuditQuery, PageQuery),
    responses((status = 200, description = "Newest first", body = Page<AuditEntry>)))]
pub async fn list(
    mut admin: RequireAdmin,
    page: PageRequest<i64>,
    AppQuery(query): AppQuery<AuditQuery>,
) -> Result<Json<Page<AuditEntry>>, ApiError> {
    let total = page
        .total(
            sqlx::query_scalar!(
                r#"SELECT count(*) AS "count!" FROM audit_log
                   WHERE org_id = $1
                     AND ($2::text IS NULL OR entity = $2)
                     AND ($3::uuid IS NULL OR entity_id = $3)
                     AND ($4::text IS NULL OR action = $4)
                     AND ($5::uuid IS NULL OR actor_user_id = $5)
                     AND ($6::uuid IS NULL OR actor_api_key_id = $6)
                     AND ($7::timestamptz IS NULL OR created_at >= $7)
                     AND ($8::timestamptz IS NULL OR created_at < $8)"#,
                admin.caller.org_id,
                query.entity,
                query.entity_id,
                query.action,
                query.actor_user_id,
                query.actor_api_key_id,
                query.from,
                query.to,
            )
            .fetch_one(&mut *admin.db),
        )
        .await?;
    let rows = sqlx::query_as!(
        AuditEntry,
        r#"SELECT a.id, a.action, a.entity, a.entity_id, a.actor_user_id, a.actor_api_key_id,
                  coalesce(u.name, k.name) AS actor_name, a.before, a.after, a.request_id, a.ip,
                  a.created_at
           FROM audit_log a
           LEFT JOIN users u ON u.id = a.actor_user_id
           LEFT JOIN api_keys k ON k.id = a.actor_api_key_id
           WHERE a.org_id = $1
             AND ($2::text IS NULL OR a.entity = $2)
             AND ($3::uuid IS NULL OR a.entity_id = $3)
             AND ($4::text IS NULL OR a.action = $4)
             AND ($5::uuid IS NULL OR a.actor_user_id = $5)
             AND ($6::uuid IS NULL OR a.actor_api_key_id = $6)
             AND ($7::timestamptz IS NULL OR a.created_at >= $7)
             AND ($8::timestamptz IS NULL OR a.created_at < $8)
             AND ($9::bigint IS NULL OR a.id < $9)
           ORDER BY a.id DESC
           LIMIT $10"#,
        admin.caller.org_id,
        query.entity,
        query.entity_id,
        query.action,
        query.actor_user_id,
        query.actor_api_key_id,
        query.from,
        query.to,
        page.after,
        page.limit + 1
    )
    .fetch_all(&mut *admin.db)
    .await?;
    Ok(Json(Page::from_rows(rows, page.limit, total, |e| e.id)))
}
