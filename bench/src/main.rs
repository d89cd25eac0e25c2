//! `make bench`: prints a table of figures measured on this machine.
//!
//! Auth: login latency (p50) against the bcrypt-12 verification alone, and `GET /api/auth/me`
//! throughput through the in-process router with 32 concurrent clients.
//! Products: a list page of 50 and a product by id, at 1,000 and at 100,000 products in one
//! organization, with the SQL statements each request sends.

mod products;

use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use http::Request;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use sqlx::migrate::MigrateDatabase;
use tower::ServiceExt;

const CONCURRENCY: usize = 32;
const LOGIN_SAMPLES: usize = 20;

pub(crate) fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort();
    samples[((samples.len() - 1) as f64 * p).round() as usize]
}

pub(crate) async fn call(router: &Router, request: Request<Body>) -> anyhow::Result<(u16, Value)> {
    let response = router.clone().oneshot(request).await?;
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await?.to_bytes();
    Ok((
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    ))
}

fn login_request(email: &str, ip: &str) -> Request<Body> {
    let mut request = Request::post("/api/auth/login")
        .header("content-type", "application/json")
        .body(Body::from(
            json!({"email": email, "password": "Bench-passw0rd!"}).to_string(),
        ))
        .expect("valid request");
    request
        .extensions_mut()
        .insert(shared::testing::api_gateway_context(ip));
    request
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let base = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let url = format!(
        "{}/stockroom_bench",
        base.rsplit_once('/').map_or(base.as_str(), |(b, _)| b)
    );
    if sqlx::Postgres::database_exists(&url).await? {
        sqlx::Postgres::drop_database(&url).await?;
    }
    sqlx::Postgres::create_database(&url).await?;

    let settings = shared::Settings::from_vars(&std::collections::HashMap::from([
        ("DATABASE_URL".to_owned(), url.clone()),
        (
            "SECRET_KEY".to_owned(),
            "bench-secret-key-0123456789abcdef0123456789".to_owned(),
        ),
        ("DB_MAX_CONNECTIONS".to_owned(), "16".to_owned()),
    ]))?;
    let pool = shared::db::pool(&settings)?;
    shared::MIGRATOR.run(&pool).await?;
    let router = auth::app(shared::AppState::new(settings, pool.clone())?);

    // Users with one shared hash (each login counts against its own account and IP limits).
    let hash = shared::auth::password::Password::new("Bench-passw0rd!".into(), "password")
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .hash()
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let org: uuid::Uuid =
        sqlx::query_scalar("INSERT INTO organizations (name) VALUES ('Bench') RETURNING id")
            .fetch_one(&pool)
            .await?;
    for n in 0..LOGIN_SAMPLES {
        sqlx::query("INSERT INTO users (org_id, email, name, password_hash, role) VALUES ($1, $2, 'Bench', $3, 'owner')")
            .bind(org)
            .bind(format!("bench{n}@example.com"))
            .bind(&hash)
            .execute(&pool)
            .await?;
    }

    // bcrypt alone.
    let mut bcrypt_times = Vec::new();
    for _ in 0..LOGIN_SAMPLES {
        let started = Instant::now();
        shared::auth::password::verify("Bench-passw0rd!", Some(&hash))
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        bcrypt_times.push(started.elapsed());
    }
    // Whole logins through the router.
    let mut login_times = Vec::new();
    let mut token = String::new();
    for n in 0..LOGIN_SAMPLES {
        let started = Instant::now();
        let (status, body) = call(
            &router,
            login_request(&format!("bench{n}@example.com"), &format!("10.0.0.{n}")),
        )
        .await?;
        login_times.push(started.elapsed());
        anyhow::ensure!(status == 200, "login failed: {status} {body}");
        token = body["access_token"].as_str().unwrap_or_default().to_owned();
    }
    let bcrypt_p50 = percentile(&mut bcrypt_times, 0.5);
    let login_p50 = percentile(&mut login_times, 0.5);

    // GET /me at 32 concurrent clients for 5 s.
    let deadline = Instant::now() + Duration::from_secs(5);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..CONCURRENCY {
        let router = router.clone();
        let token = token.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while Instant::now() < deadline {
                let request = Request::get("/api/auth/me")
                    .header("authorization", format!("Bearer {token}"))
                    .body(Body::empty())
                    .expect("valid request");
                let t = Instant::now();
                let (status, _) = call(&router, request).await?;
                anyhow::ensure!(status == 200, "GET /me answered {status}");
                latencies.push(t.elapsed());
            }
            Ok::<_, anyhow::Error>(latencies)
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let rps = latencies.len() as f64 / elapsed;
    let me_p50 = percentile(&mut latencies, 0.5);
    let me_p99 = percentile(&mut latencies, 0.99);

    println!("| figure | value |");
    println!("|---|---|");
    println!(
        "| bcrypt-12 verify p50 | {:.1} ms |",
        bcrypt_p50.as_secs_f64() * 1e3
    );
    println!(
        "| login p50 (in-process router, real Postgres) | {:.1} ms |",
        login_p50.as_secs_f64() * 1e3
    );
    println!(
        "| login overhead beyond bcrypt (p50 - p50) | {:.1} ms |",
        (login_p50.as_secs_f64() - bcrypt_p50.as_secs_f64()) * 1e3
    );
    println!(
        "| GET /api/auth/me, {CONCURRENCY} clients, 16 connections | {rps:.0} req/s (p50 {:.2} ms, p99 {:.2} ms) |",
        me_p50.as_secs_f64() * 1e3,
        me_p99.as_secs_f64() * 1e3
    );

    let state = shared::AppState::new(
        shared::Settings::from_vars(&std::collections::HashMap::from([
            ("DATABASE_URL".to_owned(), url.clone()),
            (
                "SECRET_KEY".to_owned(),
                "bench-secret-key-0123456789abcdef0123456789".to_owned(),
            ),
        ]))?,
        pool.clone(),
    )?;
    products::run(state, &url, &token, org).await?;

    pool.close().await;
    sqlx::Postgres::drop_database(&url).await?;
    Ok(())
}
