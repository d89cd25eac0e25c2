//! `/api/webhook-endpoints`: where the organization's events are POSTed. Owners and admins
//! only; making one, or pointing one elsewhere, needs a step-up (it sends the organization's
//! data out). The signing secret is shown when it is made, never again (so a create is not
//! replayed from an `Idempotency-Key`: the answer would have to be stored with the secret).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use shared::AppState;
use shared::audit::{Action, Change};
use shared::auth::step_up::Proof;
use shared::auth::{RequireAdmin, StepUp};
use shared::error::ApiError;
use shared::http::pagination::{Page, PageQuery, PageRequest};
use shared::http::{AppJson, PathId};
use uuid::Uuid;

use crate::endpoint::{
    CreateEndpoint, EndpointChange, EndpointWithSecret, NewEndpoint, UpdateEndpoint,
    WebhookEndpoint, load, new_secret,
};

/// How long a rotated-out secret keeps signing alongside the new one.
const ROTATION_OVERLAP_HOURS: i32 = 24;

/// `POST /api/webhook-endpoints`: needs a step-up (`X-Step-Up-Token`).
#[utoipa::path(post, path = "/api/webhook-endpoints", operation_id = "create_webhook_endpoint", params(shared::http::openapi::StepUpHeader), request_body = CreateEndpoint,
    responses((status = 201, description = "The endpoint with its signing `secret`, shown this once", body = EndpointWithSecret),
        (status = 401, description = "`step_up_required`: confirm with POST /api/auth/step-up first"),
        (status = 422, description = "An invalid field, every one listed: a URL that is not https, names a private address or another port; an unknown event type")))]
pub async fn create(
    State(state): State<AppState>,
    StepUp(mut admin): StepUp<RequireAdmin>,
    AppJson(body): AppJson<CreateEndpoint>,
) -> Result<(StatusCode, Json<EndpointWithSecret>), ApiError> {
    let new = NewEndpoint::try_from((body, &state.settings.webhooks))?;
    let id = Uuid::new_v4();
    let (secret, sealed) = new_secret(&state, id).await;
    let (caller, tx) = admin.parts();
    sqlx::query!(
        "INSERT INTO webhook_endpoints (id, org_id, url, event_types, description, secret, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        id,
        caller.org_id,
        new.url,
        &new.event_types,
        new.description,
        sealed,
        caller.user_id()
    )
    .execute(&mut *tx)
    .await?;
    let shown = with_secret(tx, caller, id, secret, Action::WebhookEndpointCreated).await?;
    Ok((StatusCode::CREATED, Json(shown)))
}

/// The endpoint `id` as it now is, with the `secret` just made (shown this once), and the
/// audit row of `action` that made it.
async fn with_secret(
    tx: &mut sqlx::PgConnection,
    caller: &shared::auth::Caller,
    id: Uuid,
    secret: String,
    action: Action,
) -> Result<EndpointWithSecret, ApiError> {
    let endpoint = load(&mut *tx, caller.org_id, id, false).await?;
    caller
        .audit(tx, action, id, Change::created(&endpoint))
        .await?;
    Ok(EndpointWithSecret { endpoint, secret })
}

/// `GET /api/webhook-endpoints`: oldest first.
#[utoipa::path(get, path = "/api/webhook-endpoints", operation_id = "list_webhook_endpoints", params(PageQuery),
    responses((status = 200, body = Page<WebhookEndpoint>)))]
pub async fn list(
    mut admin: RequireAdmin,
    page: PageRequest<(chrono::DateTime<chrono::Utc>, Uuid)>,
) -> Result<Json<Page<WebhookEndpoint>>, ApiError> {
    let org = admin.caller.org_id;
    let total = page
        .total(
            sqlx::query_scalar!(
                r#"SELECT count(*) AS "count!" FROM webhook_endpoints WHERE org_id = $1"#,
                org
            )
            .fetch_one(&mut *admin.db),
        )
        .await?;
    let (after_at, after_id) = page.after.unzip();
    let rows = sqlx::query_as!(
        WebhookEndpoint,
        "SELECT id, url, event_types, description, enabled, disabled_reason,
                CASE WHEN previous_secret_expires_at > now() THEN previous_secret_expires_at END
                    AS previous_secret_expires_at,
                failing_since, created_at, updated_at
         FROM webhook_endpoints
         WHERE org_id = $1 AND ($2::timestamptz IS NULL OR (created_at, id) > ($2, $3))
         ORDER BY created_at, id LIMIT $4",
        org,
        after_at,
        after_id,
        page.limit + 1
    )
    .fetch_all(&mut *admin.db)
    .await?;
    Ok(Json(Page::from_rows(rows, page.limit, total, |e| {
        (e.created_at, e.id)
    })))
}

/// `GET /api/webhook-endpoints/{id}`.
#[utoipa::path(get, path = "/api/webhook-endpoints/{id}", operation_id = "get_webhook_endpoint", params(("id" = Uuid, Path)),
    responses((status = 200, body = WebhookEndpoint), (status = 404, description = "No such endpoint")))]
pub async fn get(
    mut admin: RequireAdmin,
    PathId(id): PathId,
) -> Result<Json<WebhookEndpoint>, ApiError> {
    let org = admin.caller.org_id;
    load(&mut admin.db, org, id, false).await.map(Json)
}

/// `PATCH /api/webhook-endpoints/{id}`: only the fields sent change; a new `url` or
/// `event_types` needs a step-up.
#[utoipa::path(patch, path = "/api/webhook-endpoints/{id}", operation_id = "update_webhook_endpoint", params(("id" = Uuid, Path), shared::http::openapi::StepUpHeader), request_body = UpdateEndpoint,
    responses((status = 200, body = WebhookEndpoint),
        (status = 401, description = "`step_up_required`: a new URL or new event types need a recent confirmation"),
        (status = 404, description = "No such endpoint")))]
pub async fn update(
    State(state): State<AppState>,
    mut admin: RequireAdmin,
    proof: Proof,
    PathId(id): PathId,
    AppJson(body): AppJson<UpdateEndpoint>,
) -> Result<Json<WebhookEndpoint>, ApiError> {
    let change = EndpointChange::try_from((body, &state.settings.webhooks))?;
    let org = admin.caller.org_id;
    let before = load(&mut admin.db, org, id, true).await?;
    if change.redirects(&before) {
        proof.redeem(&mut admin, &state.pool).await?;
    }
    let next = change.apply(before.clone());
    let (caller, tx) = admin.parts();
    sqlx::query!(
        "UPDATE webhook_endpoints
         SET url = $3, event_types = $4, description = $5, enabled = $6, disabled_reason = $7,
             failing_since = CASE WHEN $6 AND NOT enabled THEN NULL ELSE failing_since END,
             updated_at = now()
         WHERE org_id = $1 AND id = $2",
        org,
        id,
        next.url,
        &next.event_types,
        next.description,
        next.enabled,
        next.disabled_reason
    )
    .execute(&mut *tx)
    .await?;
    let after = load(&mut *tx, org, id, false).await?;
    let change = Change::updated(&before, &after);
    caller
        .audit(tx, Action::WebhookEndpointUpdated, id, change)
        .await?;
    Ok(Json(after))
}

/// `DELETE /api/webhook-endpoints/{id}`: its deliveries and their attempts go with it.
#[utoipa::path(delete, path = "/api/webhook-endpoints/{id}", operation_id = "delete_webhook_endpoint", params(("id" = Uuid, Path)),
    responses((status = 204, description = "Deleted"), (status = 404, description = "No such endpoint")))]
pub async fn delete(mut admin: RequireAdmin, PathId(id): PathId) -> Result<StatusCode, ApiError> {
    let (caller, tx) = admin.parts();
    let before = load(&mut *tx, caller.org_id, id, true).await?;
    sqlx::query!(
        "DELETE FROM webhook_endpoints WHERE org_id = $1 AND id = $2",
        caller.org_id,
        id
    )
    .execute(&mut *tx)
    .await?;
    caller
        .audit(
            tx,
            Action::WebhookEndpointDeleted,
            id,
            Change::deleted(&before),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/webhook-endpoints/{id}/rotate-secret`: a new secret, shown this once; the old one
/// keeps signing alongside it for 24 hours, so receivers can switch without losing a delivery.
/// Needs a step-up.
#[utoipa::path(post, path = "/api/webhook-endpoints/{id}/rotate-secret", operation_id = "rotate_webhook_secret", params(("id" = Uuid, Path), shared::http::openapi::StepUpHeader),
    responses((status = 200, description = "The endpoint with its new `secret`, shown this once", body = EndpointWithSecret),
        (status = 401, description = "`step_up_required`"),
        (status = 404, description = "No such endpoint")))]
pub async fn rotate_secret(
    State(state): State<AppState>,
    StepUp(mut admin): StepUp<RequireAdmin>,
    PathId(id): PathId,
) -> Result<Json<EndpointWithSecret>, ApiError> {
    let (secret, sealed) = new_secret(&state, id).await;
    let (caller, tx) = admin.parts();
    load(&mut *tx, caller.org_id, id, true).await?;
    sqlx::query!(
        "UPDATE webhook_endpoints
         SET previous_secret = secret, secret = $3,
             previous_secret_expires_at = now() + make_interval(hours => $4), updated_at = now()
         WHERE org_id = $1 AND id = $2",
        caller.org_id,
        id,
        sealed,
        ROTATION_OVERLAP_HOURS
    )
    .execute(&mut *tx)
    .await?;
    with_secret(tx, caller, id, secret, Action::WebhookSecretRotated)
        .await
        .map(Json)
}
