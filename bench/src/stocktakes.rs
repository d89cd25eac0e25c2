//! A stocktake of 10,000 products (issue 31's number: applied in under 5 s), through the
//! inventory router in this process, against the real Postgres: the snapshot, the counts in
//! batches of 1,000, and the apply that writes one adjustment per difference (a third of
//! the products: one unit missing each) in one transaction.

use std::time::Instant;

use http::Method;
use serde_json::{Value, json};

use crate::fixture::{Fixture, call, organization, owner_token, seed_products};
use crate::report::{Row, Target};

const PRODUCTS: i64 = 10_000;
const BATCH: usize = 1_000;

pub async fn run(fixture: &Fixture) -> anyhow::Result<Vec<Row>> {
    let settings = fixture.settings(2)?;
    let pool = shared::db::pool(&settings)?;
    let state = shared::AppState::new(settings, pool)?;
    let router = inventory::app(state.clone());
    let mut admin = sqlx::Connection::connect(&fixture.database_url).await?;
    let (org, owner) = organization(&mut admin, "Stocktake").await?;
    seed_products(&mut admin, org, None, 1, PRODUCTS).await?;
    let token = owner_token(&fixture.pool, &state.settings.keys.snapshot(), owner, org).await?;

    let started = Instant::now();
    let take = call(&router, &token, Method::POST, "/api/stocktakes", json!({})).await?;
    let snapshot = started.elapsed().as_secs_f64();
    let id = take["id"].as_str().unwrap_or_default().to_owned();
    anyhow::ensure!(take["progress"]["lines"] == PRODUCTS, "{take}");

    // What the counters found: every third product one short.
    let expected: Vec<(uuid::Uuid, i32, i64)> = sqlx::query_as(
        "SELECT l.product_id, l.expected, substr(p.sku, 5)::bigint
         FROM stocktake_lines l JOIN products p ON p.id = l.product_id
         WHERE l.stocktake_id = $1::uuid ORDER BY l.product_id",
    )
    .bind(&id)
    .fetch_all(&fixture.pool)
    .await?;
    let started = Instant::now();
    for chunk in expected.chunks(BATCH) {
        let lines: Vec<Value> = chunk
            .iter()
            .map(|(product, on_hand, n)| {
                let counted = if n % 3 == 0 { on_hand - 1 } else { *on_hand };
                json!({"product_id": product, "counted": counted})
            })
            .collect();
        let path = format!("/api/stocktakes/{id}/lines");
        call(
            &router,
            &token,
            Method::POST,
            &path,
            json!({ "lines": lines }),
        )
        .await?;
    }
    let counting = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let path = format!("/api/stocktakes/{id}/apply");
    let applied = call(&router, &token, Method::POST, &path, json!({})).await?;
    let apply = started.elapsed().as_secs_f64();
    let adjusted = applied["adjusted_lines"].as_i64().unwrap_or_default();
    anyhow::ensure!(adjusted == PRODUCTS / 3, "{applied}");

    Ok(vec![
        Row::new(
            "stocktakes",
            format!("start a stocktake of {PRODUCTS} products (the snapshot)"),
            format!("{snapshot:.2} s"),
        )
        .data(json!({ "seconds": snapshot })),
        Row::new(
            "stocktakes",
            format!("count them in batches of {BATCH}"),
            format!("{counting:.2} s"),
        )
        .data(json!({ "seconds": counting })),
        Row::new(
            "stocktakes",
            format!("apply it ({adjusted} adjustments, one transaction)"),
            format!("{apply:.2} s"),
        )
        .target(Target::below(apply, 5.0, "< 5 s"))
        .data(json!({ "seconds": apply, "adjusted": adjusted })),
    ])
}
