//! The fast path: a tenant request that committed a write announces its organization on the
//! events queue (SQS) once its response has left, and the dispatcher function, which the queue
//! triggers, hands the organization's new events over and sends them at once. Nothing depends
//! on it: a function that stops between its commit and the announcement, or a queue that
//! refuses it, leaves events the scheduler's sweep finds within two minutes.
//!
//! Every committed write is announced, whether or not it made an event: knowing would cost the
//! request a statement, and an announcement that finds nothing costs the dispatcher one.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::sync::OnceCell;
use uuid::Uuid;

/// What a message on the events queue says.
#[derive(Debug, Serialize, Deserialize)]
pub struct Announcement {
    pub org_id: Uuid,
}

/// The events queue (`EVENTS_QUEUE_URL`), its client made on first use.
#[derive(Clone, Debug)]
pub struct Queue {
    url: Arc<str>,
    client: Arc<OnceCell<aws_sdk_sqs::Client>>,
}

impl Queue {
    pub fn new(url: &str) -> Self {
        Self {
            url: url.into(),
            client: Arc::new(OnceCell::new()),
        }
    }

    /// Announces that `org` committed something; a failure is logged, never the request's.
    pub async fn announce(&self, org: Uuid) {
        let client = self
            .client
            .get_or_init(|| async {
                aws_sdk_sqs::Client::new(&crate::config::secrets::sdk_config().await)
            })
            .await;
        let body = match serde_json::to_string(&Announcement { org_id: org }) {
            Ok(body) => body,
            Err(error) => {
                tracing::error!(%error, "could not write an announcement");
                return;
            }
        };
        let sent = client
            .send_message()
            .queue_url(self.url.as_ref())
            .message_body(body)
            .send()
            .await;
        if let Err(error) = sent {
            let error = aws_sdk_sqs::error::DisplayErrorContext(&error);
            tracing::warn!(%org, %error, "could not announce events; the sweep will send them");
        }
    }
}
