//! The `scheduler` function: jobs EventBridge runs on a schedule (see `template.yaml`), each
//! named in the event's input (`{"job": "expire_reservations"}`); an event without a job (a
//! bare scheduled event, or `{}`) runs them all.
//!
//! Every job is idempotent and safe when two runs overlap: reservation expiry claims rows with
//! `FOR UPDATE SKIP LOCKED`, clean-up only deletes what is past its time, and the low-stock
//! digest claims `(organization, day)` before sending.

use std::collections::BTreeMap;

use lambda_runtime::LambdaEvent;
use serde::Deserialize;
use serde_json::{Value, json};
use shared::AppState;
use uuid::Uuid;

const BATCH: i64 = 500;

#[derive(Debug, Default, Deserialize)]
struct Event {
    job: Option<String>,
}

pub async fn handle(
    state: &AppState,
    event: LambdaEvent<Value>,
) -> Result<Value, lambda_runtime::Error> {
    let job = serde_json::from_value::<Event>(event.payload)
        .unwrap_or_default()
        .job;
    let mut report = serde_json::Map::new();
    let all = job.is_none();
    let wants = |name: &str| all || job.as_deref() == Some(name);
    if let Some(unknown) = job
        .as_deref()
        .filter(|j| !["expire_reservations", "cleanup", "low_stock_digest"].contains(j))
    {
        return Err(format!("unknown job {unknown}").into());
    }
    if wants("expire_reservations") {
        report.insert(
            "expired_reservations".into(),
            expire_reservations(state).await?.into(),
        );
    }
    if wants("cleanup") {
        report.insert("deleted".into(), cleanup(state).await?);
    }
    if wants("low_stock_digest") {
        report.insert("digests_sent".into(), low_stock_digest(state).await?.into());
    }
    let report = Value::Object(report);
    tracing::info!(report = %report, "scheduled jobs done");
    Ok(report)
}

/// Releases reservations past their deadline, in batches; returns how many expired.
pub async fn expire_reservations(state: &AppState) -> anyhow::Result<i64> {
    let mut total = 0;
    loop {
        // The same release every stock change does for its product, here for all, in batches.
        let expired = sqlx::query_scalar!(
            r#"SELECT release_expired_reservations(NULL, $1) AS "expired!""#,
            BATCH as i32
        )
        .fetch_one(&state.pool)
        .await?;
        total += expired;
        if expired < BATCH {
            return Ok(total);
        }
    }
}

/// Deletes expired sessions, tokens, challenges, idempotency keys, old rate-limit hits and old
/// Wise webhook delivery ids.
pub async fn cleanup(state: &AppState) -> anyhow::Result<Value> {
    let pool = &state.pool;
    // Rotated refresh tokens are kept until they expire: reuse detection needs them.
    let refresh = sqlx::query!("DELETE FROM refresh_tokens WHERE expires_at < now()")
        .execute(pool)
        .await?;
    let resets = sqlx::query!("DELETE FROM password_reset_tokens WHERE expires_at < now()")
        .execute(pool)
        .await?;
    let mfa = sqlx::query!("DELETE FROM mfa_challenges WHERE expires_at < now()")
        .execute(pool)
        .await?;
    let invitations = sqlx::query!("DELETE FROM user_invitations WHERE expires_at < now()")
        .execute(pool)
        .await?;
    let idempotency = sqlx::query!("DELETE FROM idempotency_keys WHERE expires_at < now()")
        .execute(pool)
        .await?;
    let hits = sqlx::query!("DELETE FROM rate_limit_hits WHERE hit_at < now() - interval '1 hour'")
        .execute(pool)
        .await?;
    // Wise stops redelivering long before a month; the state ordering ignores any later repeat.
    let deliveries = sqlx::query!(
        "DELETE FROM wise_webhook_deliveries WHERE received_at < now() - interval '30 days'"
    )
    .execute(pool)
    .await?;
    Ok(json!({
        "refresh_tokens": refresh.rows_affected(),
        "password_reset_tokens": resets.rows_affected(),
        "mfa_challenges": mfa.rows_affected(),
        "user_invitations": invitations.rows_affected(),
        "idempotency_keys": idempotency.rows_affected(),
        "rate_limit_hits": hits.rows_affected(),
        "wise_webhook_deliveries": deliveries.rows_affected(),
    }))
}

struct LowItem {
    org_id: Uuid,
    sku: String,
    name: String,
    reorder_point: i32,
    available: i64,
}

/// Emails each organization's owners and admins the products below their reorder point, once a
/// day; returns how many organizations were sent a digest.
pub async fn low_stock_digest(state: &AppState) -> anyhow::Result<i64> {
    let items = sqlx::query_as!(
        LowItem,
        r#"SELECT p.org_id, p.sku, p.name, p.reorder_point,
                  coalesce(sum(s.on_hand - s.reserved), 0)::bigint AS "available!"
           FROM products p
           LEFT JOIN stock_now s ON s.org_id = p.org_id AND s.product_id = p.id
           WHERE p.is_active AND p.reorder_point > 0
           GROUP BY p.id
           HAVING coalesce(sum(s.on_hand - s.reserved), 0) < p.reorder_point
           ORDER BY p.org_id, coalesce(sum(s.on_hand - s.reserved), 0) - p.reorder_point, p.sku"#
    )
    .fetch_all(&state.pool)
    .await?;
    let mut by_org: BTreeMap<Uuid, Vec<LowItem>> = BTreeMap::new();
    for item in items {
        by_org.entry(item.org_id).or_default().push(item);
    }

    let mut sent = 0;
    for (org_id, items) in by_org {
        let mut tx = state.pool.begin().await?;
        // The claim: a concurrent run waits here, then finds the day taken.
        let claimed = sqlx::query_scalar!(
            "INSERT INTO low_stock_digests (org_id, day) VALUES ($1, current_date)
             ON CONFLICT DO NOTHING RETURNING org_id",
            org_id
        )
        .fetch_optional(&mut *tx)
        .await?;
        if claimed.is_none() {
            continue;
        }
        let admins = sqlx::query_scalar!(
            "SELECT email FROM users WHERE org_id = $1 AND is_active AND role IN ('owner', 'admin')
             AND password_hash IS NOT NULL ORDER BY email",
            org_id
        )
        .fetch_all(&mut *tx)
        .await?;
        let mut text = format!(
            "{} product(s) are below their reorder point:\n\n",
            items.len()
        );
        for item in &items {
            text.push_str(&format!(
                "  {}  {}: {} available, reorder point {}\n",
                item.sku, item.name, item.available, item.reorder_point
            ));
        }
        text.push_str(&format!(
            "\nSee {}/inventory/low-stock\n",
            state.settings.app_url
        ));
        let mut delivered = false;
        for email in &admins {
            match state
                .mailer
                .send(email, "Stockroom: products to reorder", text.clone())
                .await
            {
                Ok(()) => delivered = true,
                Err(error) => tracing::error!(%error, %org_id, "could not send a low-stock digest"),
            }
        }
        if delivered || admins.is_empty() {
            tx.commit().await?;
            sent += i64::from(delivered);
        }
        // Otherwise the claim rolls back and the next run tries again.
    }
    Ok(sent)
}
