//! Deliveries: the dispatcher POSTs each subscribed event, signed; failures are retried and
//! recorded; a receiver that is gone disables its endpoint; an admin sees and retries them.
//!
//! Routes: `GET /api/webhook-endpoints/{id}/deliveries`,
//!  `POST /api/webhook-endpoints/{id}/deliveries/{delivery_id}/retry`.

use std::process::Command;

use serde_json::{Value, json};
use shared::events::signature;
use shared::testing::{Registered, assert_problem};
use sqlx::PgPool;

use crate::support::*;

async fn deliveries(apps: &Apps, who: &Registered, endpoint: &str) -> Vec<Value> {
    apps.events
        .by(who)
        .get(&format!("/api/webhook-endpoints/{endpoint}/deliveries"))
        .await
        .assert(200)["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Verifies a delivery as a receiver would, with Python's standard library only (a verifier
/// written apart from the Rust that signs).
fn python_verifies(secret: &str, header: &str, body: &[u8]) -> bool {
    let script = r#"
import hashlib, hmac, sys, time
secret, header, body = sys.argv[1], sys.argv[2], sys.stdin.buffer.read()
parts = dict(p.split("=", 1) for p in header.split(",") if p.startswith("t="))
signatures = [p[3:] for p in header.split(",") if p.startswith("v1=")]
t = parts["t"]
if abs(time.time() - int(t)) > 300:
    sys.exit(2)
expected = hmac.new(secret.encode(), t.encode() + b"." + body, hashlib.sha256).hexdigest()
sys.exit(0 if any(hmac.compare_digest(expected, s) for s in signatures) else 1)
"#;
    let mut child = Command::new("python3")
        .args(["-c", script, secret, header])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs");
    use std::io::Write;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(body)
        .expect("the body is written");
    child.wait().expect("python3 ends").success()
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_subscribed_event_is_delivered_signed_and_recorded(pool: PgPool) {
    let apps = apps(pool);
    let receiver = Receiver::start().await;
    let ann = apps.products.register("ann@example.com").await;
    let endpoint = apps
        .endpoint(&ann, &receiver.url, json!(["product.*"]))
        .await;
    let (id, secret) = (
        endpoint["id"].as_str().unwrap(),
        endpoint["secret"].as_str().unwrap(),
    );
    let product = apps.product(&ann, "APL", 0).await;
    apps.movement(
        &ann,
        json!({"kind": "receive", "product_id": product["id"], "quantity": 2, "reason": "in"}),
    )
    .await;

    let report = apps.dispatch().await;
    assert_eq!(
        (report.delivered, report.failed_attempts),
        (1, 0),
        "{report:?}"
    );
    let got = receiver.received();
    assert_eq!(got.len(), 1, "stock.changed is not subscribed");
    let delivery = &got[0];
    let event = delivery.json();
    assert_eq!(event["type"], "product.created");
    assert_eq!(event["data"]["object"]["id"], product["id"]);
    assert_eq!(
        delivery.headers["stockroom-event-id"],
        event["id"].as_str().unwrap()
    );
    assert_eq!(delivery.headers["stockroom-event-type"], "product.created");
    assert_eq!(delivery.headers["content-type"], "application/json");
    let header = delivery.headers[signature::HEADER].to_str().unwrap();
    assert!(python_verifies(secret, header, &delivery.body), "{header}");
    assert!(!python_verifies("whsec_other", header, &delivery.body));
    assert!(signature::verify(
        secret,
        header,
        &delivery.body,
        chrono::Utc::now().timestamp()
    ));
    // The same as the event list shows.
    let listed = apps.events(&ann, "?type=product.created").await;
    assert_eq!(listed[0], event);

    let recorded = deliveries(&apps, &ann, id).await;
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0]["status"], "succeeded");
    assert_eq!(recorded[0]["event_type"], "product.created");
    assert_eq!(recorded[0]["recent_attempts"][0]["status"], 200);
    assert!(recorded[0]["recent_attempts"][0]["latency_ms"].is_number());

    // Nothing is sent twice.
    assert_eq!(apps.dispatch().await, Default::default());
    assert_eq!(receiver.received().len(), 1);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_failed_delivery_is_retried_later_and_on_request(pool: PgPool) {
    let apps = apps(pool);
    let receiver = Receiver::start().await;
    receiver.answer(&[500]);
    let ann = apps.products.register("ann@example.com").await;
    let endpoint = apps.endpoint(&ann, &receiver.url, json!(["*"])).await;
    let id = endpoint["id"].as_str().unwrap();
    apps.product(&ann, "APL", 0).await;

    let report = apps.dispatch().await;
    assert_eq!((report.delivered, report.failed_attempts), (0, 1));
    let recorded = deliveries(&apps, &ann, id).await;
    assert_eq!(recorded[0]["status"], "pending");
    assert_eq!(recorded[0]["attempts"], 1);
    assert_eq!(recorded[0]["recent_attempts"][0]["status"], 500);
    assert_eq!(recorded[0]["recent_attempts"][0]["error"], "answered 500");
    let next =
        chrono::DateTime::parse_from_rfc3339(recorded[0]["next_attempt_at"].as_str().unwrap())
            .unwrap();
    let wait = next.with_timezone(&chrono::Utc) - chrono::Utc::now();
    assert!((50..=60).contains(&wait.num_seconds()), "{wait}");
    // Not due yet: the next run sends nothing.
    assert_eq!(apps.dispatch().await.failed_attempts, 0);

    receiver.answer(&[204]);
    let delivery = recorded[0]["id"].as_str().unwrap();
    apps.events
        .by(&ann)
        .post(
            &format!("/api/webhook-endpoints/{id}/deliveries/{delivery}/retry"),
            json!({}),
        )
        .await
        .assert(202);
    assert_eq!(apps.dispatch().await.delivered, 1);
    let recorded = deliveries(&apps, &ann, id).await;
    assert_eq!(recorded[0]["status"], "succeeded");
    assert_eq!(recorded[0]["attempts"], 2);
    assert_eq!(receiver.received().len(), 2);
    // The same event both times.
    assert_eq!(
        receiver.received()[0].headers["stockroom-event-id"],
        receiver.received()[1].headers["stockroom-event-id"]
    );

    let unknown = apps
        .events
        .by(&ann)
        .post(
            &format!(
                "/api/webhook-endpoints/{id}/deliveries/{}/retry",
                uuid::Uuid::nil()
            ),
            json!({}),
        )
        .await;
    assert_problem(&unknown, http::StatusCode::NOT_FOUND, "not_found");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_receiver_that_is_gone_disables_its_endpoint_and_the_admins_hear_of_it(pool: PgPool) {
    let apps = apps(pool);
    let receiver = Receiver::start().await;
    receiver.answer(&[410]);
    let ann = apps.products.register("ann@example.com").await;
    let endpoint = apps.endpoint(&ann, &receiver.url, json!(["*"])).await;
    let id = endpoint["id"].as_str().unwrap();
    apps.product(&ann, "APL", 0).await;
    apps.product(&ann, "PEAR", 0).await;

    apps.dispatch().await;
    let now = apps
        .events
        .by(&ann)
        .get(&format!("/api/webhook-endpoints/{id}"))
        .await
        .assert(200);
    assert_eq!(now["enabled"], false);
    assert_eq!(now["disabled_reason"], "gone");
    // The other delivery is not sent to a receiver that said it is gone.
    assert_eq!(receiver.received().len(), 1);
    let statuses: Vec<Value> = deliveries(&apps, &ann, id)
        .await
        .iter()
        .map(|d| d["status"].clone())
        .collect();
    assert_eq!(statuses, [json!("failed"), json!("failed")]);
    let mailed: Vec<String> = sqlx::query_scalar(
        "SELECT recipient FROM mail_outbox WHERE kind = 'webhook_endpoint_disabled'",
    )
    .fetch_all(&apps.pool)
    .await
    .unwrap();
    assert_eq!(mailed, ["ann@example.com"]);
    // A retry waits for the endpoint to be enabled again.
    let delivery = deliveries(&apps, &ann, id).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = apps
        .events
        .by(&ann)
        .post(
            &format!("/api/webhook-endpoints/{id}/deliveries/{delivery}/retry"),
            json!({}),
        )
        .await;
    assert_problem(&r, http::StatusCode::CONFLICT, "endpoint_disabled");
    // Events while it is off are not queued for it.
    apps.product(&ann, "FIG", 0).await;
    apps.dispatch().await;
    assert_eq!(deliveries(&apps, &ann, id).await.len(), 2);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_delivery_never_goes_to_a_private_address_without_the_development_setting(pool: PgPool) {
    // An endpoint saved while local targets were allowed, sent by a deployment that refuses
    // them (the template never sets the setting).
    let local = apps(pool.clone());
    let receiver = Receiver::start().await;
    let ann = local.products.register("ann@example.com").await;
    let endpoint = local.endpoint(&ann, &receiver.url, json!(["*"])).await;
    local.product(&ann, "APL", 0).await;
    let strict = apps_with(pool, &[]);
    let report = strict.dispatch().await;
    assert_eq!((report.delivered, report.failed_attempts), (0, 1));
    assert!(receiver.received().is_empty());
    let recorded = deliveries(&strict, &ann, endpoint["id"].as_str().unwrap()).await;
    let error = recorded[0]["recent_attempts"][0]["error"].as_str().unwrap();
    assert!(error.starts_with("refused: the URL"), "{error}");
}

/// The error of the one attempt made at `endpoint`'s one delivery.
async fn only_error(apps: &Apps, who: &Registered, endpoint: &Value) -> String {
    let recorded = deliveries(apps, who, endpoint["id"].as_str().unwrap()).await;
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0]["status"], "pending");
    recorded[0]["recent_attempts"][0]["error"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_redirect_is_not_followed_and_an_unreachable_or_slow_receiver_is_retried(pool: PgPool) {
    let apps = apps(pool);
    let ann = apps.products.register("ann@example.com").await;
    let (redirecting, elsewhere, slow) = (
        Receiver::start().await,
        Receiver::start().await,
        Receiver::start().await,
    );
    redirecting.answer(&[307]);
    redirecting.redirect_to(&elsewhere.url);
    slow.slow(std::time::Duration::from_secs(12));
    let to_redirect = apps.endpoint(&ann, &redirecting.url, json!(["*"])).await;
    // Nothing listens on port 9 here.
    let to_nowhere = apps
        .endpoint(&ann, "http://127.0.0.1:9/hook", json!(["*"]))
        .await;
    let to_slow = apps.endpoint(&ann, &slow.url, json!(["*"])).await;
    apps.product(&ann, "APL", 0).await;

    let report = apps.dispatch().await;
    assert_eq!(
        (report.delivered, report.failed_attempts),
        (0, 3),
        "{report:?}"
    );
    assert_eq!(redirecting.received().len(), 1);
    assert!(elsewhere.received().is_empty(), "the redirect was followed");
    let error = only_error(&apps, &ann, &to_redirect).await;
    assert_eq!(error, "answered 307: redirects are not followed");
    let error = only_error(&apps, &ann, &to_nowhere).await;
    assert!(error.starts_with("could not connect"), "{error}");
    let error = only_error(&apps, &ann, &to_slow).await;
    assert!(error.starts_with("timed out"), "{error}");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_dispatcher_that_dies_holding_a_lease_leaves_the_delivery_to_the_next_run(pool: PgPool) {
    let apps = apps(pool);
    let receiver = Receiver::start().await;
    let ann = apps.products.register("ann@example.com").await;
    apps.endpoint(&ann, &receiver.url, json!(["*"])).await;
    apps.product(&ann, "APL", 0).await;
    // Handed over, then leased by a run that dies before sending (what a lease writes).
    shared::events::dispatch::hand_over(&apps.worker, ann.org_id.parse().unwrap())
        .await
        .unwrap();
    sqlx::query("UPDATE webhook_deliveries SET next_attempt_at = now() + interval '1 minute'")
        .execute(&apps.pool)
        .await
        .unwrap();
    assert_eq!(apps.dispatch().await, Default::default());
    assert!(receiver.received().is_empty());
    // The minute passes: the next run sends it, once.
    sqlx::query("UPDATE webhook_deliveries SET next_attempt_at = now()")
        .execute(&apps.pool)
        .await
        .unwrap();
    assert_eq!(apps.dispatch().await.delivered, 1);
    assert_eq!(apps.dispatch().await, Default::default());
    assert_eq!(receiver.received().len(), 1);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_database_restart_mid_delivery_loses_nothing(pool: PgPool) {
    let apps = apps(pool.clone());
    let receiver = Receiver::start().await;
    receiver.slow(std::time::Duration::from_millis(300));
    let ann = apps.products.register("ann@example.com").await;
    let endpoint = apps.endpoint(&ann, &receiver.url, json!(["*"])).await;
    apps.product(&ann, "APL", 0).await;
    // The dispatcher's connections go through a proxy that goes down while the receiver holds
    // the delivery (as a restart or a failover would): its outcome cannot be recorded.
    let proxy = shared::testing::DbProxy::to(&pool).await;
    let worker = proxy.route(&apps.worker);
    let channels = shared::events::dispatch::Channels::new(&worker.settings.webhooks);
    let cut_when_received = async {
        while receiver.received().is_empty() {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        proxy.cut();
    };
    let (report, ()) = tokio::join!(
        shared::events::dispatch::sweep(&worker, &channels, std::time::Duration::ZERO),
        cut_when_received
    );
    assert_eq!(
        report.unwrap().delivered,
        0,
        "the organization's run failed"
    );
    assert_eq!(receiver.received().len(), 1);
    proxy.restore();
    // Nothing was recorded: the delivery is pending under its lease, and the next run after it
    // sends the event again, with the same id.
    let (status,): (String,) = sqlx::query_as("SELECT status::text FROM webhook_deliveries")
        .fetch_one(&apps.pool)
        .await
        .unwrap();
    assert_eq!(status, "pending");
    sqlx::query("UPDATE webhook_deliveries SET next_attempt_at = now()")
        .execute(&apps.pool)
        .await
        .unwrap();
    let report = shared::events::dispatch::sweep(&worker, &channels, std::time::Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(report.delivered, 1);
    let got = receiver.received();
    assert_eq!(got.len(), 2);
    assert_eq!(
        got[0].headers["stockroom-event-id"],
        got[1].headers["stockroom-event-id"]
    );
    let list = deliveries(&apps, &ann, endpoint["id"].as_str().unwrap()).await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["status"], "succeeded", "{list:?}");
}
