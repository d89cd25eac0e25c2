//! What the stock is worth, for 100,000 products (issue 31's number: the value at a past date
//! in under 2 s), through the dashboard router in this process, against the real Postgres.
//!
//! The shop: 100,000 products, 150,000 stock levels (every product at the front, every other one
//! in a back room too). Its ledger: each level received 40 days ago, 5 more 20 days ago, 5 sold
//! 3 days ago (450,000 rows); each product's average changed with both receipts (200,000 rows
//! of `product_costs`). Valued 10 days ago, the report sums 300,000 ledger rows and looks up
//! 100,000 averages of then.

use std::time::Instant;

use http::Method;
use serde_json::json;

use crate::fixture::{Fixture, call, organization, owner_token, seed_products};
use crate::report::{Row, Target};
use crate::stats::percentile;

const PRODUCTS: i64 = 100_000;
const RUNS: usize = 5;

pub async fn run(fixture: &Fixture) -> anyhow::Result<Vec<Row>> {
    let settings = fixture.settings(2)?;
    let pool = shared::db::pool(&settings)?;
    let state = shared::AppState::new(settings, pool)?;
    let router = dashboard::app(state.clone());
    let mut admin = sqlx::Connection::connect(&fixture.database_url).await?;
    let (org, owner) = organization(&mut admin, "Stock value").await?;
    seed_products(&mut admin, org, None, 1, PRODUCTS).await?;
    seed_ledger(&mut admin, org).await?;
    let token = owner_token(&fixture.pool, &state.settings.keys.snapshot(), owner, org).await?;

    let at = (chrono::Utc::now() - chrono::Duration::days(10)).format("%Y-%m-%dT%H:%M:%SZ");
    let mut rows = Vec::new();
    for (figure, path, target) in [
        (
            format!("the value of {PRODUCTS} products 10 days ago (totals, per location)"),
            format!("/api/reports/stock-value?at={at}"),
            Some(2.0),
        ),
        (
            format!("the value of {PRODUCTS} products now (totals, per location)"),
            "/api/reports/stock-value".to_owned(),
            None,
        ),
        (
            "the first page of 100 products, valued 10 days ago".to_owned(),
            format!("/api/reports/stock-value/products?at={at}&limit=100"),
            None,
        ),
        (
            "the first page of 100 products, valued now".to_owned(),
            "/api/reports/stock-value/products?limit=100".to_owned(),
            None,
        ),
    ] {
        let mut times = Vec::with_capacity(RUNS);
        let mut answer = serde_json::Value::Null;
        for _ in 0..RUNS {
            let started = Instant::now();
            answer = call(&router, &token, Method::GET, &path, json!(null)).await?;
            times.push(started.elapsed());
        }
        if let Some(totals) = answer.get("totals") {
            anyhow::ensure!(totals[0]["products"] == PRODUCTS, "{answer}");
        } else {
            anyhow::ensure!(answer["items"].as_array().is_some_and(|i| i.len() == 100));
        }
        let seconds: Vec<f64> = times.iter().map(|t| t.as_secs_f64()).collect();
        let median = percentile(&mut times, 0.5).as_secs_f64();
        let mut row = Row::new(
            "stock_value",
            figure,
            format!("{:.1} ms (median of {RUNS})", median * 1000.0),
        )
        .data(json!({ "median_s": median, "runs_s": seconds }));
        if let Some(bound) = target {
            row = row.target(Target::below(median, bound, format!("< {bound} s")));
        }
        rows.push(row);
    }
    Ok(rows)
}

/// The ledger and the average costs the stock levels `seed_products` made would have (written
/// directly, without the triggers that would announce 450,000 stock changes as events).
async fn seed_ledger(conn: &mut sqlx::PgConnection, org: uuid::Uuid) -> anyhow::Result<()> {
    sqlx::query("SET session_replication_role = replica")
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "INSERT INTO stock_movements (org_id, product_id, location_id, kind, quantity, reason,
                                      unit_cost, cost_currency, created_at)
         SELECT s.org_id, s.product_id, s.location_id, m.kind::movement_kind, m.quantity, 'bench',
                m.cost, 'EUR', now() - make_interval(days => m.days)
         FROM stock_levels s
         JOIN products p ON p.id = s.product_id
         CROSS JOIN LATERAL (VALUES
             ('receive', s.on_hand, 40, 1 + (p.price % 7)),
             ('receive', 5, 20, 2 + (p.price % 5)),
             ('sell', -5, 3, 2 + (p.price % 5))) AS m(kind, quantity, days, cost)
         WHERE s.org_id = $1
         ORDER BY 9, s.product_id",
    )
    .bind(org)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO product_costs (org_id, product_id, movement_id, currency, on_hand_before,
                                    quantity, unit_cost, average_cost, created_at)
         SELECT m.org_id, m.product_id, min(m.id), 'EUR', 0, sum(m.quantity)::int,
                min(m.unit_cost), min(m.unit_cost) + (m.created_at < now() - interval '30 days')::int,
                m.created_at
         FROM stock_movements m
         WHERE m.org_id = $1 AND m.kind = 'receive'
         GROUP BY m.org_id, m.product_id, m.created_at",
    )
    .bind(org)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "UPDATE products p SET average_cost = c.average_cost
         FROM (SELECT DISTINCT ON (product_id) product_id, average_cost FROM product_costs
               WHERE org_id = $1 ORDER BY product_id, created_at DESC, id DESC) c
         WHERE p.id = c.product_id",
    )
    .bind(org)
    .execute(&mut *conn)
    .await?;
    sqlx::query("SET session_replication_role = DEFAULT")
        .execute(&mut *conn)
        .await?;
    for table in ["stock_movements", "product_costs", "products"] {
        sqlx::query(&format!("ANALYZE {table}"))
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}
