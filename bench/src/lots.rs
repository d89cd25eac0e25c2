//! What first-expiry-first-out costs a sale (issue 31's number: at most 2 statements more than
//! an untracked product's sale): sales of one unit of an untracked product and of a product
//! tracked by lot with three lots at the location, through the inventory router in this
//! process, one at a time, with the statements each sends and its median time.

use std::time::{Duration, Instant};

use http::Method;
use serde_json::json;
use uuid::Uuid;

use crate::fixture::{Fixture, call, organization, owner_token};
use crate::report::{Row, Target};
use crate::scaling::StatementCounter;
use crate::stats::{millis, percentile};

const SALES: usize = 300;

pub async fn run(fixture: &Fixture) -> anyhow::Result<Vec<Row>> {
    let counter = StatementCounter::global();
    let settings = fixture.settings(2)?;
    let pool = shared::db::pool(&settings)?;
    let state = shared::AppState::new(settings, pool)?;
    let router = inventory::app(state.clone());
    let mut admin = sqlx::Connection::connect(&fixture.database_url).await?;
    let (org, owner) = organization(&mut admin, "Lots").await?;
    let token = owner_token(&fixture.pool, &state.settings.keys.snapshot(), owner, org).await?;
    let product = |sku: &'static str, tracking: &'static str| {
        sqlx::query_scalar::<_, Uuid>(
            "INSERT INTO products (org_id, sku, name, price, currency, tracking)
             VALUES ($1, $2, $2, 1, 'EUR', $3::product_tracking) RETURNING id",
        )
        .bind(org)
        .bind(sku)
        .bind(tracking)
    };
    let plain = product("PLAIN", "none").fetch_one(&fixture.pool).await?;
    let fresh = product("FRESH", "lot").fetch_one(&fixture.pool).await?;
    let movement = |body: serde_json::Value| {
        call(
            &router,
            &token,
            Method::POST,
            "/api/inventory/movements",
            body,
        )
    };
    movement(
        json!({"kind": "receive", "product_id": plain, "quantity": 150_000, "reason": "bench"}),
    )
    .await?;
    let today = chrono::Utc::now().date_naive();
    for (lot, days) in [("L-30", 30), ("L-60", 60), ("L-90", 90)] {
        let expires = today + chrono::Days::new(days);
        movement(
            json!({"kind": "receive", "product_id": fresh, "quantity": 50_000,
                        "reason": "bench", "lot_number": lot, "expires_on": expires}),
        )
        .await?;
    }

    // Alternating, so both meet the same caches and connection.
    let sell = |product: Uuid| {
        movement(json!({"kind": "sell", "product_id": product, "quantity": 1, "reason": "till"}))
    };
    for _ in 0..20 {
        sell(plain).await?;
        sell(fresh).await?;
    }
    let (mut plain_times, mut fresh_times) = (Vec::new(), Vec::new());
    let (mut plain_statements, mut fresh_statements) = (0, 0);
    for _ in 0..SALES {
        for (product, times, statements) in [
            (plain, &mut plain_times, &mut plain_statements),
            (fresh, &mut fresh_times, &mut fresh_statements),
        ] {
            let before = counter.count();
            let started = Instant::now();
            let sold = sell(product).await?;
            times.push(started.elapsed());
            *statements += counter.count() - before;
            anyhow::ensure!(sold["available"].is_i64(), "{sold}");
        }
    }
    let per = |n: usize| n as f64 / SALES as f64;
    let (plain_per, fresh_per) = (per(plain_statements), per(fresh_statements));
    let p50 = |times: &mut Vec<Duration>| millis(percentile(times, 0.5));
    let (plain_ms, fresh_ms) = (p50(&mut plain_times), p50(&mut fresh_times));
    Ok(vec![
        Row::new(
            "lots",
            "sell 1 unit of an untracked product: statements, p50",
            format!("{plain_per:.1}, {plain_ms:.2} ms"),
        )
        .data(json!({ "statements": plain_per, "p50_ms": plain_ms })),
        Row::new(
            "lots",
            "sell 1 unit of a product tracked by lot (3 lots, first expiry first): statements, p50",
            format!(
                "{fresh_per:.1} (+{:.1}), {fresh_ms:.2} ms",
                fresh_per - plain_per
            ),
        )
        .target(Target::below(
            fresh_per - plain_per,
            2.5,
            "≤ 2 statements more",
        ))
        .data(json!({ "statements": fresh_per, "p50_ms": fresh_ms })),
    ])
}
