//! How the catalogue scales: a product list page of 50 and a product by id at 1,000 and at
//! 100,000 products in one organization (its own, so the other parts are unaffected), through
//! the products router in this process, one request at a time, with the SQL statements each
//! request sends.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::body::Body;
use http::Request;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use sqlx::Connection;
use tower::ServiceExt;
use tracing_subscriber::layer::SubscriberExt;

use crate::fixture::{Fixture, organization, owner_token, seed_products};
use crate::report::Row;
use crate::stats::{millis, percentile};

const SAMPLES: usize = 300;

/// Counts the statements sqlx sends (its `sqlx::query` events).
#[derive(Clone, Default)]
pub struct StatementCounter(Arc<AtomicUsize>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for StatementCounter {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if event.metadata().target() == "sqlx::query" {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl StatementCounter {
    /// The process's counter, installed as the global subscriber on first use (so statements
    /// sent from other threads, such as the connection reset task, are counted too).
    pub fn global() -> &'static StatementCounter {
        static COUNTER: std::sync::OnceLock<StatementCounter> = std::sync::OnceLock::new();
        COUNTER.get_or_init(|| {
            let counter = StatementCounter::default();
            let subscriber = tracing_subscriber::registry()
                .with(
                    tracing_subscriber::filter::Targets::new()
                        .with_target("sqlx::query", tracing::Level::TRACE),
                )
                .with(counter.clone());
            if tracing::subscriber::set_global_default(subscriber).is_err() {
                eprintln!("bench: another subscriber is set; statements are not counted");
            }
            counter
        })
    }

    pub fn count(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }
}

struct Figures {
    list_p50: Duration,
    by_id_p50: Duration,
    list_statements: f64,
    by_id_statements: f64,
}

async fn call(router: &axum::Router, path: String, token: &str) -> anyhow::Result<(u16, Value)> {
    let request = Request::get(path)
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())?;
    let response = router.clone().oneshot(request).await?;
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await?.to_bytes();
    Ok((
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    ))
}

async fn measure(
    router: &axum::Router,
    pool: &sqlx::PgPool,
    org: uuid::Uuid,
    token: &str,
    counter: &StatementCounter,
) -> anyhow::Result<Figures> {
    let ids: Vec<uuid::Uuid> =
        sqlx::query_scalar("SELECT id FROM products WHERE org_id = $1 ORDER BY random() LIMIT $2")
            .bind(org)
            .bind(SAMPLES as i64)
            .fetch_all(pool)
            .await?;
    // Warm up caches and the connection.
    for _ in 0..20 {
        call(router, "/api/products?limit=50".into(), token).await?;
    }
    let mut list_times = Vec::new();
    let before = counter.0.load(Ordering::Relaxed);
    for _ in 0..SAMPLES {
        let started = Instant::now();
        let (status, body) = call(router, "/api/products?limit=50".into(), token).await?;
        list_times.push(started.elapsed());
        anyhow::ensure!(
            status == 200 && body["items"].as_array().map_or(0, Vec::len) == 50,
            "list answered {status}"
        );
    }
    let list_statements = (counter.0.load(Ordering::Relaxed) - before) as f64 / SAMPLES as f64;
    let mut by_id_times = Vec::new();
    let before = counter.0.load(Ordering::Relaxed);
    for id in &ids {
        let started = Instant::now();
        let (status, _) = call(router, format!("/api/products/{id}"), token).await?;
        by_id_times.push(started.elapsed());
        anyhow::ensure!(status == 200, "by id answered {status}");
    }
    let by_id_statements =
        (counter.0.load(Ordering::Relaxed) - before) as f64 / ids.len().max(1) as f64;
    Ok(Figures {
        list_p50: percentile(&mut list_times, 0.5),
        by_id_p50: percentile(&mut by_id_times, 0.5),
        list_statements,
        by_id_statements,
    })
}

pub async fn run(fixture: &Fixture) -> anyhow::Result<Vec<Row>> {
    let counter = StatementCounter::global().clone();

    let settings = fixture.settings(2)?;
    let pool = shared::db::pool(&settings)?;
    let mut conn = sqlx::PgConnection::connect(&fixture.database_url).await?;
    let (org, owner) = organization(&mut conn, "Scaling").await?;
    let token = owner_token(&pool, &settings.keys.snapshot(), owner, org).await?;
    let router = products::app(shared::AppState::new(settings, pool.clone())?);

    seed_products(&mut conn, org, None, 1, 1_000).await?;
    let small = measure(&router, &pool, org, &token, &counter).await?;
    seed_products(&mut conn, org, None, 1_001, 100_000).await?;
    let large = measure(&router, &pool, org, &token, &counter).await?;
    conn.close().await?;
    pool.close().await;

    let part = "scaling";
    let change = |small: Duration, large: Duration| (millis(large) / millis(small) - 1.0) * 100.0;
    Ok(vec![
        Row::new(
            part,
            "product list page of 50, p50 at 1,000 / 100,000 products (in-process, sequential)",
            format!(
                "{:.2} ms / {:.2} ms ({:+.0}%)",
                millis(small.list_p50),
                millis(large.list_p50),
                change(small.list_p50, large.list_p50)
            ),
        )
        .data(json!({ "p50_ms_1k": millis(small.list_p50), "p50_ms_100k": millis(large.list_p50) })),
        Row::new(
            part,
            "product by id, p50 at 1,000 / 100,000 products (in-process, sequential)",
            format!(
                "{:.2} ms / {:.2} ms ({:+.0}%)",
                millis(small.by_id_p50),
                millis(large.by_id_p50),
                change(small.by_id_p50, large.by_id_p50)
            ),
        )
        .data(json!({ "p50_ms_1k": millis(small.by_id_p50), "p50_ms_100k": millis(large.by_id_p50) })),
        Row::new(
            part,
            "SQL statements per request (list / by id), incl. the connection reset after the response",
            format!("{:.1} / {:.1}", large.list_statements, large.by_id_statements),
        )
        .data(json!({ "list": large.list_statements, "by_id": large.by_id_statements })),
    ])
}
