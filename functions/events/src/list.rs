//! `/api/events`: the organization's events of the last 30 days, newest first. A member sees
//! the events of the modules they may read, their own tasks' (owners and admins: everyone's),
//! and members' events only as an owner or admin.

use axum::Json;
use serde::Deserialize;
use shared::auth::Tenant;
use shared::error::ApiError;
use shared::events::{Event, EventRow, Visible, catalogue};
use shared::http::pagination::{Page, PageQuery, PageRequest};
use shared::http::{AppQuery, PathId};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventQuery {
    /// An event type (`stock.low`), every type of an object (`purchase_order.*`) or `*`.
    #[serde(rename = "type")]
    #[param(rename = "type", schema_with = catalogue::pattern_schema, example = "purchase_order.*")]
    event_type: Option<String>,
}

/// The filter's exact type and type prefix (`purchase_order.`), either or neither.
fn filter(pattern: Option<&str>) -> Result<(Option<String>, Option<String>), ApiError> {
    let Some(pattern) = pattern.map(str::trim).filter(|p| !p.is_empty()) else {
        return Ok((None, None));
    };
    let pattern = catalogue::check_pattern(pattern, "type")?;
    Ok(match pattern.strip_suffix('*') {
        Some("") => (None, None),
        Some(prefix) => (None, Some(prefix.to_owned())),
        None => (Some(pattern), None),
    })
}

/// `GET /api/events`: newest first; `type` filters.
#[utoipa::path(get, path = "/api/events", operation_id = "list_events", params(EventQuery, PageQuery),
    responses((status = 200, description = "The events of the last 30 days the caller may read, newest first (`include_total` is not offered)", body = Page<Event>),
        (status = 422, description = "`unknown_event_type`: `type` names no event type")))]
pub async fn list(
    mut tenant: Tenant,
    page: PageRequest<i64>,
    AppQuery(query): AppQuery<EventQuery>,
) -> Result<Json<Page<Event>>, ApiError> {
    let (exact, prefix) = filter(query.event_type.as_deref())?;
    let visible = Visible::of(&tenant.caller);
    let rows = sqlx::query_as!(
        EventRow,
        r#"SELECT id, seq, org_id, type AS event_type, object, previous_attributes, request_id,
                  idempotency_key, created_at
           FROM events
           WHERE org_id = $1 AND created_at > now() - interval '30 days'
             AND ($2::text IS NULL OR type = $2)
             AND ($3::text IS NULL OR starts_with(type, $3))
             AND CASE WHEN module = 'tasks' THEN $5 OR owner_id = $6
                      ELSE module = ANY($4) END
             AND ($7::bigint IS NULL OR seq < $7)
           ORDER BY seq DESC
           LIMIT $8"#,
        tenant.caller.org_id,
        exact,
        prefix,
        &visible.modules,
        visible.all_tasks,
        visible.me,
        page.after,
        page.limit + 1
    )
    .fetch_all(&mut *tenant.db)
    .await?;
    Ok(Json(
        Page::from_rows(rows, page.limit, None, |e| e.seq).map(Event::from),
    ))
}

/// `GET /api/events/{id}`: 404 for an event the caller may not read, as for one that does not
/// exist (or is older than 30 days).
#[utoipa::path(get, path = "/api/events/{id}", operation_id = "get_event", params(("id" = Uuid, Path)),
    responses((status = 200, body = Event), (status = 404, description = "No such event the caller may read")))]
pub async fn get(mut tenant: Tenant, PathId(id): PathId) -> Result<Json<Event>, ApiError> {
    let visible = Visible::of(&tenant.caller);
    sqlx::query_as!(
        EventRow,
        r#"SELECT id, seq, org_id, type AS event_type, object, previous_attributes, request_id,
                  idempotency_key, created_at
           FROM events
           WHERE org_id = $1 AND id = $2 AND created_at > now() - interval '30 days'
             AND CASE WHEN module = 'tasks' THEN $4 OR owner_id = $5
                      ELSE module = ANY($3) END"#,
        tenant.caller.org_id,
        id,
        &visible.modules,
        visible.all_tasks,
        visible.me
    )
    .fetch_optional(&mut *tenant.db)
    .await?
    .map(|row| Json(Event::from(row)))
    .ok_or_else(|| ApiError::not_found("event"))
}
