//! Webhook delivery: events become deliveries to the endpoints subscribed to them, and each
//! delivery is POSTed until a receiver takes it (a 2xx) or 3 days have passed.
//!
//! At least once: a delivery is leased (its next attempt moved a minute on) before it is sent,
//! and its outcome recorded after, each in a transaction of its own; a dispatcher that dies
//! between the two leaves the lease to run out, and the delivery is sent again. A receiver
//! tells repeats by the event's id (`Stockroom-Event-Id`).
//!
//! Retries after a failed attempt: 1 min, 5 min, 30 min, 2 h, 5 h, 10 h, then every 12 h, until
//! 3 days after the first attempt (11 attempts); then the delivery is `failed` (an admin can
//! retry it, which starts the 3 days again). An endpoint
//! whose deliveries have failed for 3 days without a success in between is disabled and the
//! organization's owners and admins are mailed; one that answers 410 Gone is disabled at once.
//!
//! Like the scheduler's other jobs, this runs as the worker login: it learns which
//! organizations have work from `stockroom_orgs_with_webhook_work`, then works as each one's
//! tenant, under row-level security.

use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use sqlx::PgConnection;
use uuid::Uuid;

use super::outbound::{self, Attempt};
use super::realtime::{Handed, Pushed, Pusher};
use super::{EventRow, signature};
use crate::email::outbox::{Mail, Text};
use crate::error::ApiError;
use crate::state::AppState;

/// How long a delivery keeps trying.
pub const GIVE_UP_AFTER: Duration = Duration::from_secs(3 * 24 * 3600);
/// How long after a failed attempt the next one comes, by the number of attempts made.
pub const RETRY_AFTER_MINUTES: [i64; 7] = [1, 5, 30, 120, 300, 600, 720];
/// Endpoints sent to at once.
const PARALLEL: usize = 8;
/// Deliveries taken per organization and round.
const BATCH: i64 = 100;
/// How long one run keeps starting new work (the scheduler's function times out at 5 min;
/// an attempt takes at most 10 s). What is left waits for the next run, a minute later.
const BUDGET: Duration = Duration::from_secs(200);

/// What a run did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Report {
    /// Events turned into deliveries.
    pub events: u64,
    pub delivered: u64,
    /// Attempts that failed (retried later, or given up).
    pub failed_attempts: u64,
    /// Realtime messages pushed, and connections closed.
    pub pushed: u64,
    pub closed: u64,
}

impl Report {
    pub fn add(&mut self, other: Report) {
        self.events += other.events;
        self.delivered += other.delivered;
        self.failed_attempts += other.failed_attempts;
        self.pushed += other.pushed;
        self.closed += other.closed;
    }
}

/// Where events go: tenants' webhook receivers, and realtime connections (`REALTIME_ENDPOINT`).
#[derive(Clone, Debug)]
pub struct Channels {
    pub http: reqwest::Client,
    pub realtime: Option<Pusher>,
}

impl Channels {
    pub fn new(settings: &crate::config::WebhookSettings) -> Self {
        Self {
            http: outbound::client(settings),
            realtime: settings.realtime_endpoint.as_deref().map(Pusher::new),
        }
    }
}

/// The delay before attempt `attempts + 1`, after `attempts` failed ones.
pub fn retry_after(attempts: i32) -> Duration {
    let index = usize::try_from(attempts.max(1) - 1).unwrap_or(0);
    let minutes = RETRY_AFTER_MINUTES[index.min(RETRY_AFTER_MINUTES.len() - 1)];
    Duration::from_secs(minutes as u64 * 60)
}

/// Every organization's webhook work: events not handed over for `undispatched_for` (the fast
/// path's chance), and due deliveries.
pub async fn sweep(
    state: &AppState,
    channels: &Channels,
    undispatched_for: Duration,
) -> Result<Report, ApiError> {
    let orgs = sqlx::query_scalar!(
        r#"SELECT org AS "org!" FROM stockroom_orgs_with_webhook_work(make_interval(secs => $1)) org"#,
        undispatched_for.as_secs_f64()
    )
    .fetch_all(&state.pool)
    .await?;
    let mut report = Report::default();
    let started = std::time::Instant::now();
    for org in orgs {
        if started.elapsed() > BUDGET {
            tracing::warn!("webhook work left for the next run: this one used its time");
            break;
        }
        match organization(state, channels, org, started).await {
            Ok(done) => report.add(done),
            Err(error) => tracing::error!(%org, %error, "webhook work of an organization failed"),
        }
    }
    if let Some(realtime) = &channels.realtime {
        match realtime.close_ended(&state.pool).await {
            Ok(closed) => report.closed += closed,
            Err(error) => tracing::error!(%error, "could not close ended realtime connections"),
        }
    }
    Ok(report)
}

/// One organization's work: hands its new events over and pushes them to its realtime
/// connections, then sends the webhook deliveries that are due, round after round until
/// nothing is.
pub async fn organization(
    state: &AppState,
    channels: &Channels,
    org: Uuid,
    started: std::time::Instant,
) -> Result<Report, ApiError> {
    let handed = hand_over(state, org).await?;
    let mut report = Report {
        events: handed.len() as u64,
        ..Report::default()
    };
    if let Some(realtime) = &channels.realtime {
        // A push that fails is not retried (realtime is at most once); the deliveries go on.
        match realtime.push(&state.pool, org, &handed).await {
            Ok(Pushed { messages, closed }) => {
                report.pushed = messages;
                report.closed = closed;
            }
            Err(error) => tracing::error!(%org, %error, "could not push events to realtime"),
        }
    }
    let client = &channels.http;
    while started.elapsed() <= BUDGET {
        let due = lease(state, org).await?;
        if due.is_empty() {
            break;
        }
        // Endpoints in parallel; each one's deliveries in the order of their events.
        let mut endpoints: Vec<Vec<Due>> = Vec::new();
        for delivery in due {
            match endpoints
                .iter_mut()
                .find(|e| e[0].endpoint_id == delivery.endpoint_id)
            {
                Some(deliveries) => deliveries.push(delivery),
                None => endpoints.push(vec![delivery]),
            }
        }
        let rounds: Vec<Result<Report, ApiError>> = futures_util::stream::iter(endpoints)
            .map(|deliveries| endpoint_round(state, client, org, deliveries))
            .buffer_unordered(PARALLEL)
            .collect()
            .await;
        for round in rounds {
            report.add(round?);
        }
    }
    Ok(report)
}

/// Sends one endpoint's leased deliveries in turn, stopping at the first that fails: the rest
/// wait out their lease (a minute), so a receiver in trouble is not flooded, and one that
/// answered 410 gets nothing more.
async fn endpoint_round(
    state: &AppState,
    client: &reqwest::Client,
    org: Uuid,
    deliveries: Vec<Due>,
) -> Result<Report, ApiError> {
    let mut report = Report::default();
    for due in deliveries {
        let attempt = send(state, client, &due).await;
        record(state, org, &due, &attempt).await?;
        if attempt.succeeded() {
            report.delivered += 1;
        } else {
            report.failed_attempts += 1;
            break;
        }
    }
    Ok(report)
}

async fn enter(conn: &mut PgConnection, org: Uuid) -> Result<(), ApiError> {
    sqlx::query_scalar!("SELECT stockroom_enter_org($1)", org)
        .fetch_one(conn)
        .await?;
    Ok(())
}

/// Turns the organization's events not handed over yet into deliveries, one per enabled
/// endpoint subscribed to the event's type that existed when it happened; the events, in order.
pub async fn hand_over(state: &AppState, org: Uuid) -> Result<Vec<Handed>, ApiError> {
    let mut tx = state.pool.begin().await?;
    enter(&mut tx, org).await?;
    let rows = sqlx::query!(
        r#"WITH handed AS (
               UPDATE events SET dispatched_at = now()
               WHERE id IN (SELECT id FROM events WHERE dispatched_at IS NULL
                            ORDER BY seq LIMIT 1000 FOR UPDATE SKIP LOCKED)
               RETURNING id, seq, org_id, type, module, owner_id, object, previous_attributes,
                         request_id, idempotency_key, created_at
           ), delivered AS (
               INSERT INTO webhook_deliveries (org_id, endpoint_id, event_id)
               SELECT h.org_id, e.id, h.id
               FROM handed h JOIN webhook_endpoints e
                 ON e.org_id = h.org_id AND e.enabled AND e.created_at <= h.created_at
                AND e.event_types && ARRAY['*', h.type, split_part(h.type, '.', 1) || '.*']
               ON CONFLICT (endpoint_id, event_id) DO NOTHING
           )
           SELECT id AS "id!", seq AS "seq!", org_id AS "org_id!", type AS "event_type!",
                  module AS "module!", owner_id, object AS "object!", previous_attributes,
                  request_id, idempotency_key, created_at AS "created_at!"
           FROM handed ORDER BY seq"#
    )
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let row = EventRow {
                id: r.id,
                seq: r.seq,
                org_id: r.org_id,
                event_type: r.event_type,
                object: r.object,
                previous_attributes: r.previous_attributes,
                request_id: r.request_id,
                idempotency_key: r.idempotency_key,
                created_at: r.created_at,
            };
            Handed::new(row, r.module, r.owner_id)
        })
        .collect())
}

/// A delivery leased for sending: the event, and where and how to sign it.
struct Due {
    id: Uuid,
    attempts: i32,
    started_at: DateTime<Utc>,
    endpoint_id: Uuid,
    url: String,
    secret: Vec<u8>,
    previous_secret: Option<Vec<u8>>,
    event: EventRow,
}

/// Takes the organization's due deliveries, moving each one's next attempt a minute on: if this
/// run dies with them, another sends them then.
async fn lease(state: &AppState, org: Uuid) -> Result<Vec<Due>, ApiError> {
    let mut tx = state.pool.begin().await?;
    enter(&mut tx, org).await?;
    let rows = sqlx::query!(
        r#"WITH due AS (
               UPDATE webhook_deliveries d SET next_attempt_at = now() + interval '1 minute'
               WHERE d.id IN (SELECT id FROM webhook_deliveries
                              WHERE status = 'pending' AND next_attempt_at <= now()
                              ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED)
               RETURNING d.id, d.attempts, d.started_at, d.endpoint_id, d.event_id
           )
           SELECT due.id, due.attempts, due.started_at, due.endpoint_id, e.url, e.secret,
                  CASE WHEN e.previous_secret_expires_at > now() THEN e.previous_secret END
                      AS previous_secret,
                  v.id AS event_id, v.seq, v.org_id, v.type, v.object, v.previous_attributes,
                  v.request_id, v.idempotency_key, v.created_at
           FROM due
           JOIN webhook_endpoints e ON e.id = due.endpoint_id
           JOIN events v ON v.id = due.event_id
           ORDER BY v.seq"#,
        BATCH
    )
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(rows
        .into_iter()
        .map(|r| Due {
            id: r.id,
            attempts: r.attempts,
            started_at: r.started_at,
            endpoint_id: r.endpoint_id,
            url: r.url,
            secret: r.secret,
            previous_secret: r.previous_secret,
            event: EventRow {
                id: r.event_id,
                seq: r.seq,
                org_id: r.org_id,
                event_type: r.r#type,
                object: r.object,
                previous_attributes: r.previous_attributes,
                request_id: r.request_id,
                idempotency_key: r.idempotency_key,
                created_at: r.created_at,
            },
        })
        .collect())
}

/// One attempt at a delivery: the event's JSON, signed with the endpoint's secret (and the one
/// it replaced, while that is honoured).
async fn send(state: &AppState, client: &reqwest::Client, due: &Due) -> Attempt {
    let failed = |error: String| Attempt {
        status: None,
        response: None,
        error: Some(error),
        latency: Duration::ZERO,
    };
    let keys = &state.settings.keys;
    let owner = due.endpoint_id.as_bytes();
    let mut secrets = Vec::new();
    for sealed in std::iter::once(&due.secret).chain(due.previous_secret.as_ref()) {
        match keys.open(sealed, owner).await {
            Ok(secret) => secrets.push(String::from_utf8_lossy(&secret).into_owned()),
            Err(error) => return failed(format!("could not open the signing secret: {error}")),
        }
    }
    let body = match serde_json::to_vec(&super::Event::from(due.event.clone())) {
        Ok(body) => body,
        Err(error) => return failed(format!("could not write the event: {error}")),
    };
    let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
    let headers = vec![
        (
            signature::HEADER,
            signature::sign(&secrets, Utc::now().timestamp(), &body),
        ),
        ("stockroom-event-id", due.event.id.to_string()),
        ("stockroom-event-type", due.event.event_type.clone()),
        ("stockroom-delivery-id", due.id.to_string()),
    ];
    outbound::post(client, &state.settings.webhooks, &due.url, headers, body).await
}

/// Writes the attempt and what follows from it: the delivery done, retried later or given up;
/// the endpoint's failing streak ended, or the endpoint disabled (a 410, or 3 days failing,
/// mailed to the owners and admins).
async fn record(state: &AppState, org: Uuid, due: &Due, attempt: &Attempt) -> Result<(), ApiError> {
    let mut tx = state.pool.begin().await?;
    enter(&mut tx, org).await?;
    let latency_ms = i32::try_from(attempt.latency.as_millis()).unwrap_or(i32::MAX);
    sqlx::query!(
        "INSERT INTO webhook_attempts (org_id, delivery_id, status, latency_ms, response, error)
         VALUES ($1, $2, $3, $4, $5, $6)",
        org,
        due.id,
        attempt.status.map(i32::from),
        latency_ms,
        attempt.response,
        attempt.error
    )
    .execute(&mut *tx)
    .await?;
    let attempts = due.attempts + 1;
    let give_up_at: DateTime<Utc> = due.started_at
        + chrono::Duration::from_std(GIVE_UP_AFTER).unwrap_or(chrono::Duration::days(3));
    let next = Utc::now()
        + chrono::Duration::from_std(retry_after(attempts)).unwrap_or(chrono::Duration::hours(12));
    let status = match (attempt.succeeded(), next > give_up_at) {
        (true, _) => "succeeded",
        (false, true) => "failed",
        (false, false) => "pending",
    };
    sqlx::query!(
        "UPDATE webhook_deliveries
         SET status = $2, attempts = $3, next_attempt_at = $4, updated_at = now()
         WHERE id = $1",
        due.id,
        status,
        attempts,
        next
    )
    .execute(&mut *tx)
    .await?;
    let disable = if attempt.succeeded() {
        sqlx::query!(
            "UPDATE webhook_endpoints SET failing_since = NULL WHERE id = $1 AND failing_since IS NOT NULL",
            due.endpoint_id
        )
        .execute(&mut *tx)
        .await?;
        None
    } else if attempt.status == Some(410) {
        Some("gone")
    } else {
        let since = sqlx::query_scalar!(
            r#"UPDATE webhook_endpoints SET failing_since = coalesce(failing_since, now())
               WHERE id = $1 RETURNING failing_since AS "since!""#,
            due.endpoint_id
        )
        .fetch_one(&mut *tx)
        .await?;
        let failing_for = (Utc::now() - since).to_std().unwrap_or_default();
        (failing_for >= GIVE_UP_AFTER).then_some("failing")
    };
    if let Some(reason) = disable {
        disable_endpoint(state, &mut tx, org, due, reason, attempt).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Disables the endpoint for `reason`, stops its pending deliveries and tells the owners and
/// admins.
async fn disable_endpoint(
    state: &AppState,
    tx: &mut PgConnection,
    org: Uuid,
    due: &Due,
    reason: &str,
    attempt: &Attempt,
) -> Result<(), ApiError> {
    let disabled = sqlx::query_scalar!(
        "UPDATE webhook_endpoints SET enabled = false, disabled_reason = $2, updated_at = now()
         WHERE id = $1 AND enabled RETURNING url",
        due.endpoint_id,
        reason
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(url) = disabled else {
        return Ok(());
    };
    sqlx::query!(
        "UPDATE webhook_deliveries SET status = 'failed', updated_at = now()
         WHERE endpoint_id = $1 AND status = 'pending'",
        due.endpoint_id
    )
    .execute(&mut *tx)
    .await?;
    tracing::warn!(endpoint = %due.endpoint_id, %org, reason, "webhook endpoint disabled");
    let why = match reason {
        "gone" => "it answered 410 Gone".to_owned(),
        _ => format!(
            "its deliveries have failed for 3 days (last: {})",
            attempt.error.as_deref().unwrap_or("no answer")
        ),
    };
    let text = Text::new(
        "A webhook endpoint was disabled",
        format!(
            "Stockroom stopped sending events to {url} because {why}.\n\n\
             Events are kept for 30 days. Once the receiver works again, enable the endpoint \
             (PATCH /api/webhook-endpoints/{} with {{\"enabled\": true}}) and retry the failed \
             deliveries you need (POST .../deliveries/{{id}}/retry).\n",
            due.endpoint_id
        ),
    );
    for to in crate::auth::membership::admin_addresses(&mut *tx, org).await? {
        let mail = Mail::to("webhook_endpoint_disabled", to, text.clone());
        state.outbox.queue(&mut *tx, Some(org), mail).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_slow_down_and_stay_within_three_days() {
        assert_eq!(retry_after(1), Duration::from_secs(60));
        assert_eq!(retry_after(2), Duration::from_secs(300));
        assert_eq!(retry_after(7), Duration::from_secs(720 * 60));
        assert_eq!(retry_after(40), Duration::from_secs(720 * 60));
        // The attempts a receiver down for good gets in 3 days: the table, then every 12 h.
        let (mut at, mut attempts) = (Duration::ZERO, 1);
        while at + retry_after(attempts) <= GIVE_UP_AFTER {
            at += retry_after(attempts);
            attempts += 1;
        }
        assert_eq!(attempts, 11);
    }
}
