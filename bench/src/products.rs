//! Product list and product by id at 1,000 and 100,000 products.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::body::Body;
use http::Request;
use tracing_subscriber::layer::SubscriberExt;

use crate::{call, percentile};

const SAMPLES: usize = 300;

/// Counts the statements sqlx sends (its `sqlx::query` events).
#[derive(Clone, Default)]
struct StatementCounter(Arc<AtomicUsize>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for StatementCounter {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if event.metadata().target() == "sqlx::query" {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Bulk insert on its own connection: no statement timeout (the API's 5 s would cut it short).
async fn seed(url: &str, org: uuid::Uuid, from: i64, to: i64) -> anyhow::Result<()> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(url).await?;
    sqlx::query(
        "INSERT INTO products (org_id, sku, name, price, currency, reorder_point)
         SELECT $1, 'SKU-' || n, 'Product ' || md5(n::text), (n % 10000) / 100.0 + 1, 'EUR', n % 50
         FROM generate_series($2::bigint, $3::bigint) AS n",
    )
    .bind(org)
    .bind(from)
    .bind(to)
    .execute(&mut conn)
    .await?;
    sqlx::query("ANALYZE products").execute(&mut conn).await?;
    conn.close().await?;
    Ok(())
}

struct Figures {
    list_p50: Duration,
    by_id_p50: Duration,
    list_statements: f64,
    by_id_statements: f64,
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
    let get = |path: String| {
        Request::get(path)
            .header("authorization", format!("Bearer {token}"))
            .body(Body::empty())
            .expect("valid request")
    };
    // Warm up caches and the connection.
    for _ in 0..20 {
        call(router, get("/api/products?limit=50".into())).await?;
    }
    let mut list_times = Vec::new();
    let before = counter.0.load(Ordering::Relaxed);
    for _ in 0..SAMPLES {
        let started = Instant::now();
        let (status, body) = call(router, get("/api/products?limit=50".into())).await?;
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
        let (status, _) = call(router, get(format!("/api/products/{id}"))).await?;
        by_id_times.push(started.elapsed());
        anyhow::ensure!(status == 200, "by id answered {status}");
    }
    let by_id_statements = (counter.0.load(Ordering::Relaxed) - before) as f64 / ids.len() as f64;
    Ok(Figures {
        list_p50: percentile(&mut list_times, 0.5),
        by_id_p50: percentile(&mut by_id_times, 0.5),
        list_statements,
        by_id_statements,
    })
}

pub async fn run(
    state: shared::AppState,
    url: &str,
    token: &str,
    org: uuid::Uuid,
) -> anyhow::Result<()> {
    let counter = StatementCounter::default();
    let subscriber = tracing_subscriber::registry()
        .with(
            tracing_subscriber::filter::Targets::new()
                .with_target("sqlx::query", tracing::Level::TRACE),
        )
        .with(counter.clone());
    // Global, so statements sent from other threads (the reset task) are counted too.
    tracing::subscriber::set_global_default(subscriber)?;

    let pool = state.pool.clone();
    let router = products::app(state);
    seed(url, org, 1, 1_000).await?;
    let small = measure(&router, &pool, org, token, &counter).await?;
    seed(url, org, 1_001, 100_000).await?;
    let large = measure(&router, &pool, org, token, &counter).await?;

    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "| product list page of 50, p50 at 1,000 / 100,000 products | {:.2} ms / {:.2} ms ({:+.0}%) |",
        ms(small.list_p50),
        ms(large.list_p50),
        (ms(large.list_p50) / ms(small.list_p50) - 1.0) * 100.0
    );
    println!(
        "| product by id, p50 at 1,000 / 100,000 products | {:.2} ms / {:.2} ms ({:+.0}%) |",
        ms(small.by_id_p50),
        ms(large.by_id_p50),
        (ms(large.by_id_p50) / ms(small.by_id_p50) - 1.0) * 100.0
    );
    println!(
        "| SQL statements per request (list / by id), incl. the connection reset after the response | {:.1} / {:.1} |",
        large.list_statements, large.by_id_statements
    );
    Ok(())
}
