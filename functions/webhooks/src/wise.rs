//! Wise's webhook deliveries: `transfers#state-change` events move the payment of the purchase
//! order that made the transfer.
//!
//! - A missing or wrong `X-Signature-SHA256` is a 401 and nothing is stored.
//! - Every other answer is a 200 with `{"status": ...}` saying what happened (`processed`,
//!   `duplicate`, `stale`, `unknown_transfer`, `ignored`, `test`), so Wise does not redeliver
//!   what cannot change; an event type other than `transfers#state-change` is logged and ignored.
//! - Deliveries repeat. Each verified delivery's identity (`X-Delivery-Id`, or the body's
//!   SHA-256 when Wise sends none) is stored in the transaction that applies it, so a repeat is
//!   answered `duplicate` without being processed again; and since a retry may carry a new
//!   delivery id, an event no newer than the recorded state changes nothing either.
//! - Events arrive out of order: a state is applied only when it is newer than the recorded one
//!   (by `occurred_at`, then by how far along the transfer's life it is), else answered `stale`.
//! - Deliveries are matched to an organization through the transfer and the Wise profile that
//!   made it (each organization pays from its own profile). A delivery for a profile no
//!   organization holds is answered `unknown_profile`, one for a transfer no purchase order made
//!   `unknown_transfer`; both are logged, recorded on the delivery, and change nothing else.
//! - An applied state moves the payment status and is audited (actor: the system) in the same
//!   transaction, which runs with the order's organization under row-level security.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request, State};
use axum::http::HeaderMap;
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use shared::audit::{Actor, Change, Entry};
use shared::error::ApiError;
use shared::wise::{self, Payment, PaymentStatus, TransferState, Transition};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::WebhookState;

const STATE_CHANGE: &str = "transfers#state-change";

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct Event {
    event_type: String,
    #[serde(default)]
    data: Value,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct StateChange {
    resource: Resource,
    current_state: String,
    previous_state: Option<String>,
    occurred_at: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct Resource {
    /// The transfer.
    id: i64,
    profile_id: Option<i64>,
}

fn answer(status: &str) -> Json<Value> {
    Json(json!({ "status": status }))
}

fn invalid_signature(detail: &str) -> ApiError {
    ApiError::unauthorized("invalid_signature", detail)
}

/// A delivery Wise signed, checked before the handler runs: 503 when no Wise key is set, 401
/// when the signature is missing or is not Wise's signature of the body.
pub struct Signed {
    /// Its identity (see [`delivery_id`]); `None` for Wise's test notification.
    delivery: Option<String>,
    body: Bytes,
}

impl FromRequest<WebhookState> for Signed {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &WebhookState) -> Result<Self, ApiError> {
        let verifier = state.verifier.as_ref().ok_or_else(|| ApiError::NotConfigured {
            code: "webhooks_not_configured",
            detail: "Wise webhooks are not configured: set WISE_WEBHOOK_PUBLIC_KEY to Wise's public \
                     key"
                .into(),
        })?;
        let headers = request.headers().clone();
        let body = Bytes::from_request(request, state)
            .await
            .map_err(|error| ApiError::bad_request("unreadable_body", error.body_text()))?;
        let signature = headers
            .get("x-signature-sha256")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| invalid_signature("X-Signature-SHA256 is missing"))?;
        if !verifier.verify(&body, signature) {
            tracing::warn!("a Wise webhook delivery with a wrong signature was refused");
            return Err(invalid_signature(
                "X-Signature-SHA256 is not Wise's signature of this body",
            ));
        }
        let test = headers
            .get("x-test-notification")
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"true"));
        let delivery = (!test).then(|| delivery_id(&headers, &body));
        Ok(Self { delivery, body })
    }
}

/// `POST /webhooks/wise`.
#[utoipa::path(post, path = "/webhooks/wise", operation_id = "wise", security(()),
    params(("X-Signature-SHA256" = String, Header, description = "Base64 RSA-SHA256 signature of the raw body by Wise's key"),
        ("X-Delivery-Id" = Option<String>, Header, description = "Wise's id of this delivery; a repeat is processed once")),
    request_body(content = serde_json::Value, description = "A Wise event such as `transfers#state-change`", content_type = "application/json"),
    responses((status = 200, description = "Processed, a repeat, or ignored (unknown event type or transfer)", body = serde_json::Value),
        (status = 401, description = "`invalid_signature`: missing or wrong signature; nothing is stored"),
        (status = 503, description = "`webhooks_not_configured`: no Wise public key is set, or the database did not answer")))]
pub async fn receive(
    State(state): State<WebhookState>,
    Signed { delivery, body }: Signed,
) -> Result<Json<Value>, ApiError> {
    let Some(delivery) = delivery else {
        tracing::info!("Wise test notification received");
        return Ok(answer("test"));
    };
    let event: Event = serde_json::from_slice(&body).map_err(|error| {
        tracing::warn!(%delivery, %error, "a signed Wise delivery is not an event");
        ApiError::bad_request("malformed_event", "the body is not a Wise event")
    })?;
    if event.event_type != STATE_CHANGE {
        tracing::info!(
            %delivery,
            event_type = %event.event_type,
            "Wise event type not handled; ignored"
        );
        return Ok(answer("ignored"));
    }
    let change: StateChange = serde_json::from_value(event.data).map_err(|error| {
        tracing::warn!(%delivery, %error, "a transfers#state-change event without its data");
        ApiError::bad_request(
            "malformed_event",
            "the event's data is not a transfer state change",
        )
    })?;

    let mut tx = state.app.pool.begin().await?;
    let first = sqlx::query_scalar!(
        r#"INSERT INTO wise_webhook_deliveries (delivery_id, event_type, transfer_id, profile_id)
           VALUES ($1, $2, $3, $4) ON CONFLICT (delivery_id) DO NOTHING RETURNING true AS "first!""#,
        delivery,
        event.event_type,
        change.resource.id,
        change.resource.profile_id
    )
    .fetch_optional(&mut *tx)
    .await?;
    if first.is_none() {
        tracing::info!(%delivery, "Wise delivery already handled");
        return Ok(answer("duplicate"));
    }
    let mut moved = None;
    let outcome = apply(&mut tx, &delivery, &change, &mut moved).await?;
    tx.commit().await?;
    // The payment's events go to the tenant's webhooks at once, as a tenant write's do.
    if let (Some(org), Some(queue)) = (moved, state.app.events_queue.clone()) {
        shared::after_response::defer(async move { queue.announce(org).await });
    }
    Ok(answer(outcome))
}

/// Wise's `X-Delivery-Id`, else the SHA-256 of the body (a repeat has the same body).
fn delivery_id(headers: &HeaderMap, body: &[u8]) -> String {
    headers
        .get("x-delivery-id")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|id| (1..=200).contains(&id.len()))
        .map(str::to_owned)
        .unwrap_or_else(|| format!("sha256:{}", hex::encode(Sha256::digest(body))))
}

/// Records on the delivery that it matched no organization (it changes nothing else).
async fn unmatched(
    tx: &mut PgConnection,
    delivery: &str,
    outcome: &'static str,
) -> Result<&'static str, ApiError> {
    sqlx::query!(
        "UPDATE wise_webhook_deliveries SET outcome = $2 WHERE delivery_id = $1",
        delivery,
        outcome
    )
    .execute(tx)
    .await?;
    Ok(outcome)
}

/// `occurred_at` as Wise writes it: RFC 3339, or `2020-01-01 12:34:56` in UTC.
fn occurred_at(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f")
                .ok()
                .map(|t| t.and_utc())
        })
}

/// Applies one state change inside the delivery's transaction; returns what happened, and sets
/// `moved` to the organization whose payment it moved (its events are then announced).
async fn apply(
    tx: &mut PgConnection,
    delivery: &str,
    change: &StateChange,
    moved: &mut Option<Uuid>,
) -> Result<&'static str, ApiError> {
    let transfer = change.resource.id;
    let Some(state) = TransferState::parse(&change.current_state) else {
        tracing::warn!(
            delivery,
            transfer,
            state = %change.current_state,
            "unknown Wise transfer state; ignored"
        );
        return Ok("ignored");
    };
    let at = change.occurred_at.as_deref().and_then(occurred_at);
    if at.is_none() {
        tracing::warn!(
            delivery,
            transfer,
            occurred_at = ?change.occurred_at,
            "event without a readable occurred_at; ordered by state"
        );
    }
    // Each organization pays from its own Wise profile, so the transfer and the profile that
    // made it name the organization together; a delivery without a profile names none.
    let Some(profile) = change.resource.profile_id else {
        tracing::warn!(
            delivery,
            transfer,
            "a state change without its profile; ignored"
        );
        return unmatched(tx, delivery, "unknown_profile").await;
    };
    // Which organization made the transfer is the one question this role may ask across
    // organizations (stockroom_wise_transfer_org).
    let org = sqlx::query_scalar!(
        "SELECT stockroom_wise_transfer_org($1, $2)",
        transfer,
        profile
    )
    .fetch_one(&mut *tx)
    .await?;
    let Some(org) = org else {
        let known = sqlx::query_scalar!("SELECT stockroom_wise_profile_known($1)", profile)
            .fetch_one(&mut *tx)
            .await?
            .unwrap_or(false);
        let outcome = if known {
            tracing::warn!(
                delivery,
                transfer,
                profile,
                "no purchase order made this Wise transfer; ignored"
            );
            "unknown_transfer"
        } else {
            tracing::warn!(
                delivery,
                transfer,
                profile,
                "no organization holds this Wise profile; ignored"
            );
            "unknown_profile"
        };
        return unmatched(tx, delivery, outcome).await;
    };
    // The rest of the transaction runs as that organization's tenant, under row-level security.
    sqlx::query_scalar!("SELECT stockroom_enter_org($1)", org)
        .fetch_one(&mut *tx)
        .await?;
    let payment = sqlx::query!(
        r#"SELECT purchase_order_id, status AS "status: PaymentStatus", wise_state, wise_state_at
           FROM purchase_order_payments
           WHERE org_id = $1 AND wise_transfer_id = $2 AND wise_profile_id = $3
           ORDER BY updated_at DESC LIMIT 1
           FOR UPDATE"#,
        org,
        transfer,
        profile
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(payment) = payment else {
        tracing::warn!(
            delivery,
            transfer,
            "no purchase order made this Wise transfer; ignored"
        );
        return Ok("unknown_transfer");
    };
    let recorded = payment.wise_state.as_deref().and_then(TransferState::parse);
    if !wise::supersedes(state, at, recorded, payment.wise_state_at) {
        tracing::info!(
            delivery,
            transfer,
            state = state.as_str(),
            recorded = ?payment.wise_state,
            "not newer than the recorded transfer state; ignored"
        );
        return Ok("stale");
    }

    let order = payment.purchase_order_id;
    let before = Payment::load(tx, org, order).await?;
    let (status, failure) = state.on_payment(payment.status);
    Payment::transition(
        tx,
        org,
        order,
        Transition {
            status,
            state: Some((state, at)),
            failure,
        },
    )
    .await?;
    let after = Payment::load(tx, org, order).await?;
    Entry::new(status.action(), order)
        .in_org(org)
        .by(Actor::System)
        .change(Change::between(before.as_ref(), after.as_ref()))
        .record(tx)
        .await?;
    tracing::info!(
        delivery,
        transfer,
        purchase_order = %order,
        state = state.as_str(),
        previous_state = ?change.previous_state,
        status = status.as_str(),
        "Wise transfer state applied"
    );
    *moved = Some(org);
    Ok("processed")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn occurred_at_is_read_in_both_of_wise_formats() {
        let expected: DateTime<Utc> = "2020-01-01T12:34:56Z".parse().unwrap();
        assert_eq!(occurred_at("2020-01-01T12:34:56Z"), Some(expected));
        assert_eq!(occurred_at("2020-01-01 12:34:56"), Some(expected));
        assert_eq!(occurred_at("2020-01-01T14:34:56+02:00"), Some(expected));
        assert_eq!(occurred_at("yesterday"), None);
    }

    #[test]
    fn the_delivery_id_falls_back_to_the_body_digest() {
        let mut headers = HeaderMap::new();
        assert!(delivery_id(&headers, b"{}").starts_with("sha256:"));
        assert_eq!(delivery_id(&headers, b"{}"), delivery_id(&headers, b"{}"));
        headers.insert("x-delivery-id", "d-1".parse().unwrap());
        assert_eq!(delivery_id(&headers, b"{}"), "d-1");
    }
}
