//! The connection budget at scale: `ENVIRONMENTS` simulated Lambda execution environments, each
//! with its own products router and its own pool of one connection (as `shared::db` builds it),
//! all reading products by id at once for `DURATION`, against a PostgreSQL server with
//! `max_connections = 50` — once directly and once through a transaction pooler (PgBouncer,
//! `pool_mode = transaction`, fewer server connections than clients). `scripts/bench.sh` starts
//! both and names them in `BENCH_SMALL_DATABASE_URL` and `BENCH_POOLER_DATABASE_URL`; without
//! them the part reports that it did not run.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use axum::body::Body;
use http::Request;
use serde_json::json;
use tower::ServiceExt;

use crate::fixture::Fixture;
use crate::report::Row;
use crate::stats::{millis, percentile};

const PART: &str = "connections";
const ENVIRONMENTS: usize = 200;
const DURATION: Duration = Duration::from_secs(10);

struct Outcome {
    statuses: BTreeMap<u16, u64>,
    failures: u64,
    latencies: Vec<Duration>,
}

/// One environment: its own pool of one and router, requests one at a time until `until`.
async fn environment(
    settings: shared::Settings,
    token: String,
    products: Vec<uuid::Uuid>,
    until: Instant,
) -> anyhow::Result<Outcome> {
    let pool = shared::db::pool(&settings)?;
    let router = products::app(shared::AppState::new(settings, pool.clone())?);
    let mut outcome = Outcome {
        statuses: BTreeMap::new(),
        failures: 0,
        latencies: Vec::new(),
    };
    let mut n = 0usize;
    while Instant::now() < until {
        let id = products[n % products.len()];
        n += 1;
        let request = Request::get(format!("/api/products/{id}"))
            .header("authorization", format!("Bearer {token}"))
            .body(Body::empty())?;
        let started = Instant::now();
        match router.clone().oneshot(request).await {
            Ok(response) => {
                *outcome
                    .statuses
                    .entry(response.status().as_u16())
                    .or_default() += 1;
            }
            Err(_) => outcome.failures += 1,
        }
        outcome.latencies.push(started.elapsed());
    }
    pool.close().await;
    Ok(outcome)
}

async fn scenario(fixture: &Fixture, database_url: &str, label: &str) -> anyhow::Result<Row> {
    let until = Instant::now() + DURATION;
    let mut tasks = Vec::with_capacity(ENVIRONMENTS);
    for _ in 0..ENVIRONMENTS {
        tasks.push(tokio::spawn(environment(
            crate::fixture::settings(database_url, 1)?,
            fixture.token.clone(),
            fixture.product_ids.clone(),
            until,
        )));
    }
    let mut statuses: BTreeMap<u16, u64> = BTreeMap::new();
    let mut failures = 0;
    let mut latencies = Vec::new();
    for task in tasks {
        let outcome = task.await??;
        for (status, count) in outcome.statuses {
            *statuses.entry(status).or_default() += count;
        }
        failures += outcome.failures;
        latencies.extend(outcome.latencies);
    }
    let total: u64 = statuses.values().sum::<u64>() + failures;
    let ok = statuses.get(&200).copied().unwrap_or(0);
    let unavailable = statuses.get(&503).copied().unwrap_or(0);
    let errors = total - ok - unavailable;
    let p99 = millis(percentile(&mut latencies, 0.99));
    Ok(Row::new(
        PART,
        format!("{ENVIRONMENTS} environments (pool of 1 each), product by id, {label}"),
        format!(
            "{total} requests in {:.0} s: {ok} answered, {unavailable} 503, {errors} other errors; p99 {p99:.1} ms",
            DURATION.as_secs_f64()
        ),
    )
    .data(json!({
        "environments": ENVIRONMENTS, "duration_s": DURATION.as_secs_f64(), "requests": total,
        "ok": ok, "unavailable": unavailable, "errors": errors,
        "statuses": statuses, "p99_ms": p99,
    })))
}

pub async fn run() -> anyhow::Result<Vec<Row>> {
    let (Ok(direct), Ok(pooler)) = (
        std::env::var("BENCH_SMALL_DATABASE_URL"),
        std::env::var("BENCH_POOLER_DATABASE_URL"),
    ) else {
        return Ok(vec![Row::new(
            PART,
            "connection budget",
            "not run: BENCH_SMALL_DATABASE_URL and BENCH_POOLER_DATABASE_URL unset (make bench sets them)",
        )]);
    };
    // The data lives on the small server; the pooler reaches the same database by name.
    let fixture = Fixture::create(&direct).await?;
    let database = fixture
        .database_url
        .rsplit_once('/')
        .map(|(_, name)| name.to_owned())
        .unwrap_or_default();
    let through_pooler = match pooler.rsplit_once('/') {
        Some((server, _)) => format!("{server}/{database}"),
        None => pooler.clone(),
    };
    let outcome = async {
        Ok::<_, anyhow::Error>(vec![
            scenario(
                &fixture,
                &fixture.database_url,
                "PostgreSQL max_connections = 50",
            )
            .await?,
            scenario(
                &fixture,
                &through_pooler,
                "through PgBouncer (transaction mode, 20 server connections)",
            )
            .await?,
        ])
    }
    .await;
    fixture.drop_database().await?;
    outcome
}
