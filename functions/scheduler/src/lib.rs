//! The `scheduler` function: jobs EventBridge runs on a schedule (see `template.yaml`), each
//! named in the event's input (`{"job": "expire_reservations"}`); an event without a job (a
//! bare scheduled event, or `{}`) runs them all.
//!
//! Every job is idempotent and safe when two runs overlap: reservation expiry claims rows with
//! `FOR UPDATE SKIP LOCKED`, clean-up only deletes what is past its time, and the low-stock
//! digest claims `(organization, day)` before sending.
//!
//! The function logs in as `stockroom_worker` (`WORKER_DATABASE_URL`): it learns which
//! organizations have work from functions that answer only that, then does each
//! organization's work as that organization's tenant, in a transaction of its own.

use lambda_runtime::LambdaEvent;
use serde::Deserialize;
use serde_json::Value;
use shared::AppState;
use shared::events::dispatch;
use std::sync::OnceLock;
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
    run(state, job).await.map_err(|error| {
        // A rotated database password: read the credentials again for the retry.
        if let Some(error) = error.downcast_ref::<sqlx::Error>() {
            shared::db::after_refused_login(error);
        }
        error.into()
    })
}

async fn run(state: &AppState, job: Option<String>) -> anyhow::Result<Value> {
    let mut report = serde_json::Map::new();
    let all = job.is_none();
    let wants = |name: &str| all || job.as_deref() == Some(name);
    if let Some(unknown) = job.as_deref().filter(|j| {
        ![
            "expire_reservations",
            "cleanup",
            "low_stock_digest",
            "send_mail",
            "deliver_webhooks",
            "purge_uploads",
        ]
        .contains(j)
    }) {
        anyhow::bail!("unknown job {unknown}");
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
    if wants("send_mail") {
        report.insert("mail_sent".into(), send_mail(state).await.into());
    }
    if wants("deliver_webhooks") {
        report.insert(
            "webhooks".into(),
            serde_json::to_value(deliver_webhooks(state).await?)?,
        );
    }
    if wants("purge_uploads") {
        report.insert("uploads_purged".into(), purge_uploads(state).await?.into());
    }
    let report = Value::Object(report);
    tracing::info!(report = %report, "scheduled jobs done");
    Ok(report)
}

/// Releases reservations past their deadline, organization by organization and in batches;
/// returns how many expired.
pub async fn expire_reservations(state: &AppState) -> anyhow::Result<i64> {
    let orgs = sqlx::query_scalar!(
        r#"SELECT org AS "org!" FROM stockroom_orgs_with_expired_reservations() org"#
    )
    .fetch_all(&state.pool)
    .await?;
    let mut total = 0;
    for org in orgs {
        let mut released = 0;
        loop {
            let mut tx = state.pool.begin().await?;
            enter(&mut tx, org).await?;
            // The same release every stock change does for its product, here for all of the
            // organization's, in batches.
            let expired = sqlx::query_scalar!(
                r#"SELECT release_expired_reservations(NULL, $1) AS "expired!""#,
                BATCH as i32
            )
            .fetch_one(&mut *tx)
            .await?;
            tx.commit().await?;
            total += expired;
            released += expired;
            if expired < BATCH {
                break;
            }
        }
        // Expiries are events (`reservation.expired`, `stock.changed`): the dispatcher hears of
        // them at once, as of a request's writes.
        if released > 0
            && let Some(queue) = &state.events_queue
        {
            queue.announce(org).await;
        }
    }
    Ok(total)
}

/// Sends the outbox's mail that the functions did not send after their responses (the function
/// stopped, the mail server was down): at most 500 a run, oldest first; how many went out.
pub async fn send_mail(state: &AppState) -> usize {
    state.outbox.send_due(500).await
}

/// How long an event may wait for the fast path before the sweep hands it over itself.
pub const UNDISPATCHED_FOR: std::time::Duration = std::time::Duration::from_secs(30);

/// Sends the organizations' webhooks: events the fast path did not hand over within
/// [`UNDISPATCHED_FOR`] (a function stopped between its commit and the queue), and every
/// delivery due (see `shared::events::dispatch`).
pub async fn deliver_webhooks(state: &AppState) -> anyhow::Result<dispatch::Report> {
    static CHANNELS: OnceLock<dispatch::Channels> = OnceLock::new();
    let channels = CHANNELS.get_or_init(|| dispatch::Channels::new(&state.settings.webhooks));
    Ok(dispatch::sweep(state, channels, UNDISPATCHED_FOR).await?)
}

/// Confines the rest of `tx` to `org`, as its tenant, under row-level security: the worker's
/// login role reads no organization's rows of its own.
async fn enter(tx: &mut sqlx::PgConnection, org: Uuid) -> sqlx::Result<()> {
    sqlx::query_scalar!("SELECT stockroom_enter_org($1)", org)
        .fetch_one(tx)
        .await?;
    Ok(())
}

/// Deletes expired sessions, tokens, challenges, idempotency keys, old rate-limit hits and old
/// Wise webhook delivery ids (`stockroom_delete_expired`, which may delete only those), in
/// batches of [`CLEANUP_BATCH`] per kind, each its own short transaction; returns how many of
/// each.
pub async fn cleanup(state: &AppState) -> anyhow::Result<Value> {
    cleanup_in_batches(state, CLEANUP_BATCH).await
}

/// Rows of one kind the clean-up deletes per statement.
pub const CLEANUP_BATCH: i32 = 5_000;

/// [`cleanup`] with batches of `batch` rows: calls again until a call deletes less than a batch
/// of every kind.
pub async fn cleanup_in_batches(state: &AppState, batch: i32) -> anyhow::Result<Value> {
    let mut totals = serde_json::Map::new();
    loop {
        let deleted = sqlx::query_scalar!(
            r#"SELECT stockroom_delete_expired($1) AS "deleted!""#,
            batch
        )
        .fetch_one(&state.pool)
        .await?;
        let Value::Object(counts) = deleted else {
            anyhow::bail!("stockroom_delete_expired answered {deleted}");
        };
        let mut more = false;
        for (kind, count) in counts {
            let count = count.as_i64().unwrap_or_default();
            more |= count >= i64::from(batch);
            let total = totals.entry(kind).or_insert(Value::from(0));
            *total = Value::from(total.as_i64().unwrap_or_default() + count);
        }
        if !more {
            break;
        }
    }
    // Events are kept 30 days (their deliveries and attempts go with them).
    let mut events = 0;
    loop {
        let deleted = sqlx::query_scalar!(
            r#"SELECT stockroom_delete_old_events($1) AS "deleted!""#,
            batch
        )
        .fetch_one(&state.pool)
        .await?;
        events += i64::from(deleted);
        if deleted < batch {
            break;
        }
    }
    totals.insert("events".into(), events.into());
    Ok(Value::Object(totals))
}

/// How long a pending upload may wait for its completion (its form works 5 minutes).
pub const PENDING_UPLOAD_FOR: std::time::Duration = std::time::Duration::from_secs(3600);

/// How long a completed upload may wait to become an image or an attachment.
pub const ORPHAN_UPLOAD_FOR: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// Uploads purged per round.
const PURGE_BATCH: i32 = 500;

/// Deletes the files of uploads that are gone or abandoned, then their rows: removed ones (a
/// replaced image, a removed attachment, a refused or deleted upload whose objects a request
/// could not delete), pending ones past [`PENDING_UPLOAD_FOR`], completed ones nothing took
/// within [`ORPHAN_UPLOAD_FOR`]. Objects first: a row goes only once its objects are gone, so
/// a failure leaves it for the next run. Returns how many uploads went.
pub async fn purge_uploads(state: &AppState) -> anyhow::Result<i64> {
    purge_uploads_after(state, PENDING_UPLOAD_FOR, ORPHAN_UPLOAD_FOR).await
}

/// [`purge_uploads`] with other waits (tests).
pub async fn purge_uploads_after(
    state: &AppState,
    pending: std::time::Duration,
    orphan: std::time::Duration,
) -> anyhow::Result<i64> {
    let Some(files) = &state.files else {
        return Ok(0);
    };
    let bucket = files.bucket().await;
    let interval = |d: std::time::Duration| sqlx::postgres::types::PgInterval {
        months: 0,
        days: 0,
        microseconds: i64::try_from(d.as_micros()).unwrap_or(i64::MAX),
    };
    let mut purged = 0;
    loop {
        let uploads = sqlx::query!(
            r#"SELECT org_id AS "org_id!", id AS "id!", thumbnail_format
               FROM stockroom_uploads_to_purge($1, $2, $3)"#,
            interval(pending),
            interval(orphan),
            PURGE_BATCH
        )
        .fetch_all(&state.pool)
        .await?;
        if uploads.is_empty() {
            break;
        }
        let keys: Vec<String> = uploads
            .iter()
            .flat_map(|u| {
                shared::storage::upload_keys(u.org_id, u.id, u.thumbnail_format.as_deref())
            })
            .collect();
        bucket.delete(&keys).await?;
        let ids: Vec<Uuid> = uploads.iter().map(|u| u.id).collect();
        purged += sqlx::query_scalar!(r#"SELECT stockroom_uploads_purged($1) AS "purged!""#, &ids)
            .fetch_one(&state.pool)
            .await?;
        if uploads.len() < PURGE_BATCH as usize {
            break;
        }
    }
    Ok(purged)
}

struct LowItem {
    sku: String,
    name: String,
    reorder_point: i32,
    available: i64,
}

/// Lots expiring within this many days are in the digest and announced (`lot.expiring`).
const EXPIRY_NOTICE_DAYS: i32 = 7;

struct ExpiringItem {
    sku: String,
    name: String,
    number: String,
    expires_on: chrono::NaiveDate,
    on_hand: i64,
}

/// Emails each organization's owners and admins, once a day, the products below their reorder
/// point and the lots that expire within a week (or have expired) with units on hand; emits a
/// `lot.expiring` for each such lot the first time it is seen. Returns how many organizations
/// were sent a digest.
pub async fn low_stock_digest(state: &AppState) -> anyhow::Result<i64> {
    let orgs = sqlx::query_scalar!(
        r#"SELECT org AS "org!" FROM stockroom_orgs_with_digest_items($1) org"#,
        EXPIRY_NOTICE_DAYS
    )
    .fetch_all(&state.pool)
    .await?;
    let mut sent = 0;
    for org_id in orgs {
        let mut tx = state.pool.begin().await?;
        enter(&mut tx, org_id).await?;
        // The events first, in a transaction of their own: they do not wait for the mail.
        sqlx::query_scalar!(
            r#"SELECT stockroom_announce_expiring_lots($1) AS "announced!""#,
            EXPIRY_NOTICE_DAYS
        )
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        let mut tx = state.pool.begin().await?;
        enter(&mut tx, org_id).await?;
        let items = sqlx::query_as!(
            LowItem,
            r#"SELECT sku AS "sku!", name AS "name!", reorder_point AS "reorder_point!",
                      available AS "available!"
               FROM low_stock WHERE org_id = $1
               ORDER BY gap, sku"#,
            org_id
        )
        .fetch_all(&mut *tx)
        .await?;
        let expiring = sqlx::query_as!(
            ExpiringItem,
            r#"SELECT p.sku, p.name, lo.number, lo.expires_on AS "expires_on!",
                      sum(l.on_hand)::bigint AS "on_hand!"
               FROM lots lo
               JOIN lot_levels l ON l.lot_id = lo.id AND l.on_hand > 0
               JOIN products p ON p.org_id = lo.org_id AND p.id = lo.product_id
               WHERE lo.org_id = $1 AND lo.expires_on <= current_date + $2::int
               GROUP BY p.sku, p.name, lo.number, lo.expires_on
               ORDER BY lo.expires_on, p.sku, lo.number"#,
            org_id,
            EXPIRY_NOTICE_DAYS
        )
        .fetch_all(&mut *tx)
        .await?;
        if items.is_empty() && expiring.is_empty() {
            continue;
        }
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
        let admins = shared::auth::membership::admin_addresses(&mut tx, org_id).await?;
        let (subject, text) = digest_text(&items, &expiring, &state.settings.app_url);
        let mut delivered = false;
        for email in &admins {
            match state.mailer.send(email, subject, text.clone()).await {
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

/// The digest's subject and text.
fn digest_text(
    items: &[LowItem],
    expiring: &[ExpiringItem],
    app_url: &str,
) -> (&'static str, String) {
    let subject = match (items.is_empty(), expiring.is_empty()) {
        (false, true) => "Stockroom: products to reorder",
        (true, false) => "Stockroom: stock expiring soon",
        _ => "Stockroom: products to reorder and stock expiring soon",
    };
    let mut text = String::new();
    if !items.is_empty() {
        text.push_str(&format!(
            "{} product(s) are below their reorder point:\n\n",
            items.len()
        ));
        for item in items {
            text.push_str(&format!(
                "  {}  {}: {} available, reorder point {}\n",
                item.sku, item.name, item.available, item.reorder_point
            ));
        }
        text.push_str(&format!("\nSee {app_url}/inventory/low-stock\n"));
    }
    if !expiring.is_empty() {
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(&format!(
            "{} lot(s) expire within {EXPIRY_NOTICE_DAYS} days or have expired:\n\n",
            expiring.len()
        ));
        let today = chrono::Utc::now().date_naive();
        for lot in expiring {
            let when = if lot.expires_on < today {
                format!("expired {}", lot.expires_on)
            } else {
                format!("expires {}", lot.expires_on)
            };
            text.push_str(&format!(
                "  {}  {}, lot {}: {} on hand, {when}\n",
                lot.sku, lot.name, lot.number, lot.on_hand
            ));
        }
        text.push_str(&format!("\nSee {app_url}/stock/expiring\n"));
    }
    (subject, text)
}
