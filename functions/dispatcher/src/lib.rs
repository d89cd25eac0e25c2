//! The `dispatcher` function: the events queue's consumer (the fast path of
//! `shared::events::queue`). Each message names an organization that committed a write; the
//! function hands that organization's new events over, pushes them to its realtime connections
//! and sends the webhook deliveries due, as the scheduler's sweep does for every organization
//! each minute.
//!
//! A batch's messages for one organization are handled once. A message whose organization
//! failed is answered as a batch item failure, so SQS redelivers only it (and after 5 tries
//! moves it to the dead-letter queue, which raises an alarm; the sweep still sends the events).

use std::time::Instant;

use lambda_runtime::LambdaEvent;
use serde::Deserialize;
use serde_json::{Value, json};
use shared::AppState;
use shared::events::dispatch;
use shared::events::queue::Announcement;
use uuid::Uuid;

#[derive(Debug, Deserialize)]
struct Batch {
    #[serde(rename = "Records", default)]
    records: Vec<Message>,
}

#[derive(Debug, Deserialize)]
struct Message {
    #[serde(rename = "messageId")]
    id: String,
    body: String,
}

/// The function's environment: the worker login's state, the delivery client and the
/// realtime pusher.
pub struct Dispatcher {
    state: AppState,
    channels: dispatch::Channels,
}

impl Dispatcher {
    /// The cold start: settings, a lazy pool as the worker login, the delivery client.
    pub async fn start() -> anyhow::Result<Self> {
        let state = AppState::init_as(shared::db::Login::Worker)
            .await?
            .answering_through_pool();
        Ok(Self::new(state))
    }

    pub fn new(state: AppState) -> Self {
        let channels = dispatch::Channels::new(&state.settings.webhooks);
        Self { state, channels }
    }

    /// One batch of the events queue.
    pub async fn handle(&self, event: LambdaEvent<Value>) -> Result<Value, lambda_runtime::Error> {
        handle(&self.state, &self.channels, event).await
    }
}

async fn handle(
    state: &AppState,
    channels: &dispatch::Channels,
    event: LambdaEvent<Value>,
) -> Result<Value, lambda_runtime::Error> {
    let batch: Batch = serde_json::from_value(event.payload)?;
    let started = Instant::now();
    // Each organization once, with the messages that named it.
    let mut orgs: Vec<(Uuid, Vec<String>)> = Vec::new();
    for message in batch.records {
        match serde_json::from_str::<Announcement>(&message.body) {
            Ok(Announcement { org_id }) => match orgs.iter_mut().find(|(org, _)| *org == org_id) {
                Some((_, ids)) => ids.push(message.id),
                None => orgs.push((org_id, vec![message.id])),
            },
            // Not ours to retry: it will never parse.
            Err(error) => tracing::error!(%error, id = %message.id, "not an announcement"),
        }
    }
    let mut failures = Vec::new();
    let mut report = dispatch::Report::default();
    for (org, ids) in orgs {
        match dispatch::organization(state, channels, org, started).await {
            Ok(done) => report.add(done),
            Err(error) => {
                tracing::error!(%org, %error, "an organization's events were not sent");
                failures.extend(ids.into_iter().map(|id| json!({"itemIdentifier": id})));
            }
        }
    }
    tracing::info!(?report, failed = failures.len(), "events dispatched");
    Ok(json!({"batchItemFailures": failures}))
}
