//! The fast path: a committed write announces its organization on the events queue (moto's SQS
//! here), and the dispatcher, given the queue's batch, sends the new events at once.

use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::routing::post;
use lambda_runtime::{Context, LambdaEvent};
use serde_json::{Value, json};
use shared::db::Login;
use shared::testing::{Moto, TestApp};
use sqlx::PgPool;
use tokio::sync::mpsc;

/// A receiver on this machine that passes on every body it gets.
async fn receiver() -> (String, mpsc::UnboundedReceiver<Bytes>) {
    let (sender, got) = mpsc::unbounded_channel();
    let router = Router::new().route(
        "/hook",
        post(move |body: Bytes| {
            let sender = sender.clone();
            async move {
                let _ = sender.send(body);
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, router).await });
    (format!("http://127.0.0.1:{port}/hook"), got)
}

/// The queue's messages as the Lambda event SQS sends the dispatcher, waiting up to 10 s for
/// at least one.
async fn batch(sqs: &aws_sdk_sqs::Client, queue: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let received = sqs
            .receive_message()
            .queue_url(queue)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        let messages = received.messages.unwrap_or_default();
        if !messages.is_empty() || Instant::now() > deadline {
            let records: Vec<Value> = messages
                .iter()
                .map(|m| json!({"messageId": m.message_id, "body": m.body}))
                .collect();
            return json!({"Records": records});
        }
    }
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_committed_write_is_announced_and_its_events_sent_at_once(pool: PgPool) {
    let moto = Moto::start();
    moto.use_from_this_process();
    let sqs = aws_sdk_sqs::Client::new(&shared::config::secrets::sdk_config().await);
    let queue = sqs
        .create_queue()
        .queue_name("events")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let settings = [
        ("WEBHOOK_ALLOW_LOCAL_TARGETS", "true"),
        ("EVENTS_QUEUE_URL", queue.as_str()),
    ];
    let tenant = shared::testing::state_as(pool.clone(), Login::Tenant, &settings);
    let worker = shared::testing::state_as(pool.clone(), Login::Worker, &settings);
    let events = TestApp::new(events::app(tenant.clone()), pool.clone());
    let products = TestApp::new(products::app(tenant), pool.clone());
    let client = shared::events::dispatch::Channels::new(&worker.settings.webhooks);
    let (url, mut got) = receiver().await;

    let ann = products.register("ann@example.com").await;
    events
        .by(&ann)
        .stepped_up()
        .post(
            "/api/webhook-endpoints",
            json!({"url": url, "event_types": ["product.*"]}),
        )
        .await
        .assert(201);
    // Creating the endpoint was a write too: its announcement finds no event.
    let announced = batch(&sqs, &queue).await;
    assert_eq!(announced["Records"].as_array().unwrap().len(), 1);
    // A refused write and a read announce nothing.
    products
        .by(&ann)
        .post("/api/products", json!({"sku": ""}))
        .await
        .assert(422);
    products.by(&ann).get("/api/products").await.assert(200);

    products
        .by(&ann)
        .post(
            "/api/products",
            json!({"sku": "APL", "name": "Apple", "price": "1.00"}),
        )
        .await
        .assert(201);
    let announced = batch(&sqs, &queue).await;
    let records = announced["Records"].as_array().unwrap();
    assert_eq!(records.len(), 1, "{announced}");
    let body: Value = serde_json::from_str(records[0]["body"].as_str().unwrap()).unwrap();
    assert_eq!(body, json!({"org_id": ann.org_id}));

    let answer = dispatcher::Dispatcher::new(worker.clone())
        .handle(LambdaEvent::new(announced.clone(), Context::default()))
        .await
        .unwrap();
    assert_eq!(answer, json!({"batchItemFailures": []}));
    let delivered = tokio::time::timeout(Duration::from_secs(5), got.recv())
        .await
        .expect("a delivery")
        .unwrap();
    let event: Value = serde_json::from_slice(&delivered).unwrap();
    assert_eq!(event["type"], "product.created");
    // Handed over: the sweep finds nothing left to send.
    let report = shared::events::dispatch::sweep(&worker, &client, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(report, Default::default());
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_message_that_is_no_announcement_is_dropped_and_a_bad_org_is_no_failure(pool: PgPool) {
    let worker = shared::testing::state_as(pool, Login::Worker, &[]);
    let batch = json!({"Records": [
        {"messageId": "1", "body": "not json"},
        {"messageId": "2", "body": "{\"org_id\": \"00000000-0000-0000-0000-000000000001\"}"}
    ]});
    let answer = dispatcher::Dispatcher::new(worker)
        .handle(LambdaEvent::new(batch, Context::default()))
        .await
        .unwrap();
    assert_eq!(answer, json!({"batchItemFailures": []}));
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn an_organization_the_database_cannot_serve_is_a_batch_item_failure_retried_later(
    pool: PgPool,
) {
    let products = TestApp::new(
        products::app(shared::testing::state_as(pool.clone(), Login::Tenant, &[])),
        pool.clone(),
    );
    let ann = products.register("ann@example.com").await;
    let zoe = products.register("zoe@example.com").await;
    products
        .by(&ann)
        .post(
            "/api/products",
            json!({"sku": "APL", "name": "Apple", "price": "1.00"}),
        )
        .await
        .assert(201);
    let undispatched = async || -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM events WHERE dispatched_at IS NULL")
            .fetch_one(&pool)
            .await
            .unwrap()
    };
    let worker = shared::testing::state_as(pool.clone(), Login::Worker, &[]);
    let proxy = shared::testing::DbProxy::to(&pool).await;
    let batch = json!({"Records": [
        {"messageId": "ann", "body": json!({"org_id": ann.org_id}).to_string()},
        {"messageId": "zoe", "body": json!({"org_id": zoe.org_id}).to_string()},
    ]});
    // The database is down (restarting): every organization fails, and SQS is told which
    // messages to deliver again.
    proxy.cut();
    let answer = dispatcher::Dispatcher::new(proxy.route(&worker))
        .handle(LambdaEvent::new(batch.clone(), Context::default()))
        .await
        .unwrap();
    assert_eq!(
        answer,
        json!({"batchItemFailures": [{"itemIdentifier": "ann"}, {"itemIdentifier": "zoe"}]})
    );
    assert!(undispatched().await > 0);
    // Back: the redelivered batch hands their events over.
    proxy.restore();
    let answer = dispatcher::Dispatcher::new(proxy.route(&worker))
        .handle(LambdaEvent::new(batch, Context::default()))
        .await
        .unwrap();
    assert_eq!(answer, json!({"batchItemFailures": []}));
    assert_eq!(undispatched().await, 0);
}
