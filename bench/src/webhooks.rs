//! Events and webhooks (issue 29's numbers), through the products router and the dispatcher in
//! this process, against the real Postgres, with receivers on this machine:
//! - what events cost a write: creating a product with the event triggers off and on, in the
//!   same run (the SQL statements the request sends, and its median time: the triggers' work
//!   is in the statements the request sends anyway);
//! - commit to delivery on the fast path: each product created, then its organization
//!   dispatched as the dispatcher function does on the announcement (the SQS hop is not in it:
//!   no SQS runs here); the time from the response to the receiver having the event;
//! - 1,000 events to 3 endpoints: all delivered, none twice to an endpoint that answered 2xx;
//! - a receiver down, then up: the attempts fail, the retries come due (the clock moved on by
//!   setting `next_attempt_at`, rather than waiting out the schedule's minutes), and every event
//!   arrives; none is given up.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use http::Request;
use http_body_util::BodyExt;
use serde_json::json;
use shared::events::dispatch;
use sqlx::Connection;
use tower::ServiceExt;

use crate::fixture::{Fixture, organization, owner_token};
use crate::report::{Row, Target};
use crate::stats::{millis, percentile};

const WRITES: usize = 200;
const EVENTS: usize = 1000;

/// A receiver: when each event id arrived (every arrival kept), answering 503 while `down`.
#[derive(Clone, Default)]
struct Receiver {
    arrivals: Arc<Mutex<Vec<(String, Instant)>>>,
    down: Arc<AtomicBool>,
}

impl Receiver {
    async fn start(self) -> anyhow::Result<String> {
        let router = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(self);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        tokio::spawn(async move { axum::serve(listener, router).await });
        Ok(format!("http://127.0.0.1:{port}/hook"))
    }

    fn arrivals(&self) -> Vec<(String, Instant)> {
        self.arrivals.lock().map(|a| a.clone()).unwrap_or_default()
    }
}

async fn receive(State(receiver): State<Receiver>, headers: HeaderMap, _: Bytes) -> StatusCode {
    if receiver.down.load(Ordering::Relaxed) {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    let id = headers
        .get("stockroom-event-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    if let Ok(mut arrivals) = receiver.arrivals.lock() {
        arrivals.push((id, Instant::now()));
    }
    StatusCode::NO_CONTENT
}

async fn create_product(router: &axum::Router, token: &str, sku: &str) -> anyhow::Result<()> {
    let body = json!({"sku": sku, "name": sku, "price": "1.00"});
    let request = Request::post("/api/products")
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {token}"))
        .body(Body::from(body.to_string()))?;
    let response = router.clone().oneshot(request).await?;
    let status = response.status();
    let bytes = response.into_body().collect().await?.to_bytes();
    anyhow::ensure!(status == 201, "create answered {status}: {bytes:?}");
    Ok(())
}

pub async fn run(fixture: &Fixture) -> anyhow::Result<Vec<Row>> {
    let mut settings = fixture.settings(2)?;
    settings.webhooks.allow_local_targets = true;
    let pool = shared::db::pool(&settings)?;
    let state = shared::AppState::new(settings, pool)?;
    let products = products::app(state.clone());
    let client = dispatch::Channels::new(&state.settings.webhooks);
    let mut admin = sqlx::PgConnection::connect(&fixture.database_url).await?;
    let (org, owner) = organization(&mut admin, "Webhooks").await?;
    let token = owner_token(&fixture.pool, &state.settings.keys.snapshot(), owner, org).await?;
    let mut rows = Vec::new();

    // What events cost a write: the same creates with the triggers off and on, in alternating
    // blocks (so neither side gets the emptier tables or the quieter minute).
    let counter = crate::scaling::StatementCounter::global();
    let mut times = [Vec::with_capacity(WRITES), Vec::with_capacity(WRITES)];
    let mut sent = [0usize; 2];
    for block in 0..8 {
        let on = block % 2;
        let toggle = if on == 1 { "ENABLE" } else { "DISABLE" };
        for (table, trigger) in [
            ("audit_log", "events_from_audit"),
            ("stock_movements", "events_from_movements"),
        ] {
            sqlx::query(&format!("ALTER TABLE {table} {toggle} TRIGGER {trigger}"))
                .execute(&mut admin)
                .await?;
        }
        let before = counter.count();
        for i in 0..WRITES / 4 {
            let started = Instant::now();
            create_product(&products, &token, &format!("COST-{block}-{i}")).await?;
            times[on].push(started.elapsed());
        }
        // The reset after a response runs on its own task: let the last one finish.
        tokio::time::sleep(Duration::from_millis(200)).await;
        sent[on] += counter.count() - before;
    }
    let statements = sent.map(|n| n as f64 / WRITES as f64);
    let medians = [
        percentile(&mut times[0], 0.5),
        percentile(&mut times[1], 0.5),
    ];
    let (off, on) = (millis(medians[0]), millis(medians[1]));
    rows.push(
        Row::new(
            "webhooks",
            "create product, event triggers off / on: SQL statements sent, median time",
            format!(
                "{:.1} / {:.1} statements, {off:.2} / {on:.2} ms ({:+.1} %)",
                statements[0],
                statements[1],
                (on / off - 1.0) * 100.0
            ),
        )
        .target(Target::below(
            statements[1] - statements[0],
            1.0,
            "at most one more statement",
        ))
        .data(json!({"samples": WRITES, "statements_off": statements[0], "statements_on": statements[1], "off_p50_ms": off, "on_p50_ms": on})),
    );
    // Those events are not the next figures' (no endpoint saw them).
    dispatch::hand_over(&state, org).await?;

    // Commit to delivery, as the dispatcher sends on an announcement.
    let one = Receiver::default();
    let url = one.clone().start().await?;
    endpoint(&mut admin, &state, org, &url, "product.*").await?;
    let mut latencies = Vec::with_capacity(WRITES);
    for i in 0..WRITES {
        create_product(&products, &token, &format!("FAST-{i}")).await?;
        let committed = Instant::now();
        dispatch::organization(&state, &client, org, Instant::now()).await?;
        let arrived = one
            .arrivals()
            .last()
            .map(|(_, at)| *at)
            .unwrap_or(committed);
        latencies.push(arrived.saturating_duration_since(committed));
    }
    let (p50, p99) = (
        millis(percentile(&mut latencies, 0.5)),
        millis(percentile(&mut latencies, 0.99)),
    );
    rows.push(
        Row::new(
            "webhooks",
            "commit to delivery, fast path without the SQS hop: p50 / p99",
            format!("{p50:.1} / {p99:.1} ms"),
        )
        .target(Target::below(p50, 200.0, "p50 < 200 ms").and(Target::below(
            p99,
            1000.0,
            "p99 < 1 s",
        )))
        .data(json!({"samples": WRITES, "p50_ms": p50, "p99_ms": p99})),
    );
    sqlx::query("DELETE FROM webhook_endpoints")
        .execute(&mut admin)
        .await?;

    // 1,000 events to 3 endpoints, one of them down for a while.
    let receivers: Vec<Receiver> = (0..3).map(|_| Receiver::default()).collect();
    for receiver in &receivers {
        let url = receiver.clone().start().await?;
        endpoint(&mut admin, &state, org, &url, "*").await?;
    }
    receivers[2].down.store(true, Ordering::Relaxed);
    for i in 0..EVENTS {
        create_product(&products, &token, &format!("MANY-{i}")).await?;
    }
    let started = Instant::now();
    let mut rounds = 0;
    loop {
        rounds += 1;
        dispatch::sweep(&state, &client, Duration::ZERO).await?;
        let pending: i64 =
            sqlx::query_scalar("SELECT count(*) FROM webhook_deliveries WHERE status = 'pending'")
                .fetch_one(&mut admin)
                .await?;
        if pending == 0 || rounds > 50 {
            break;
        }
        if rounds == 3 {
            receivers[2].down.store(false, Ordering::Relaxed);
        }
        // The retries' time has come (instead of waiting out 1, 5, 30 minutes).
        sqlx::query(
            "UPDATE webhook_deliveries SET next_attempt_at = now() WHERE status = 'pending'",
        )
        .execute(&mut admin)
        .await?;
    }
    let elapsed = started.elapsed();
    let failed: i64 =
        sqlx::query_scalar("SELECT count(*) FROM webhook_deliveries WHERE status <> 'succeeded'")
            .fetch_one(&mut admin)
            .await?;
    let mut received = Vec::new();
    let mut twice = 0;
    for receiver in &receivers {
        let arrivals = receiver.arrivals();
        let mut ids: Vec<&String> = arrivals.iter().map(|(id, _)| id).collect();
        let all = ids.len();
        ids.sort_unstable();
        ids.dedup();
        twice += all - ids.len();
        received.push(ids.len());
    }
    let all_arrived = received.iter().all(|n| *n == EVENTS);
    rows.push(
        Row::new(
            "webhooks",
            "1,000 events to 3 endpoints (one down for 2 rounds): received, twice, not delivered",
            format!(
                "{} / {twice} / {failed} in {:.1} s ({rounds} rounds)",
                received
                    .iter()
                    .map(usize::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
                elapsed.as_secs_f64()
            ),
        )
        .target(Target {
            text: "all delivered, none twice, none given up".into(),
            pass: all_arrived && twice == 0 && failed == 0,
        })
        .data(json!({"events": EVENTS, "received": received, "twice": twice, "not_delivered": failed, "seconds": elapsed.as_secs_f64()})),
    );
    Ok(rows)
}

/// An endpoint of `org` for `types` at `url`, written directly (the API's step-up is not what
/// is measured here), its secret sealed as the API seals it.
async fn endpoint(
    admin: &mut sqlx::PgConnection,
    state: &shared::AppState,
    org: uuid::Uuid,
    url: &str,
    types: &str,
) -> anyhow::Result<()> {
    let id = uuid::Uuid::new_v4();
    let keys = state.settings.keys.current().await;
    let (_, sealed) = shared::events::signature::new_sealed(&keys, id);
    sqlx::query(
        "INSERT INTO webhook_endpoints (id, org_id, url, event_types, secret) VALUES ($1, $2, $3, ARRAY[$4], $5)",
    )
    .bind(id)
    .bind(org)
    .bind(url)
    .bind(types)
    .bind(sealed)
    .execute(admin)
    .await?;
    Ok(())
}
