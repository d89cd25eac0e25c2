//! Realtime: committed events pushed to the WebSocket connections of an organization's members,
//! through API Gateway's WebSocket API.
//!
//! A browser connects to the API's `wss://` URL with the access token as a subprotocol
//! (`new WebSocket(url, ["stockroom", accessToken])`: not in the URL, which gets logged), and
//! sends `{"action": "subscribe", "types": ["stock.*", "purchase_order.received"]}`. The
//! `realtime` function answers `$connect`, `$disconnect` and those messages; the dispatcher,
//! when it hands an organization's new events over (the fast path, within a second of the
//! commit, or the scheduler's sweep), pushes each to the connections subscribed to its type
//! whose member may read it now, through the `@connections` management API (signed with
//! SigV4 by the AWS SDK's own client).
//!
//! A connection lives as long as its session does in its organization: when the session has
//! ended (logout, a switch to another organization, the member deactivated), the next push
//! closes it instead, and the scheduler closes the rest every minute. A push is at most once:
//! a client that reconnects reads what it missed from `GET /api/events`.

use serde::Serialize;
use uuid::Uuid;

use super::{Event, EventRow};

#[cfg(feature = "webhooks")]
pub use push::{Pushed, Pusher};

/// The subprotocol a client offers beside its access token, and the one `$connect` accepts.
pub const PROTOCOL: &str = "stockroom";

/// What the server sends on a connection.
#[derive(Debug, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Message<'a> {
    /// A committed event the connection subscribed to.
    Event { event: &'a Event },
    /// The subscription now in force (the answer to `subscribe`).
    Subscribed { types: &'a [String] },
    /// The answer to `ping`.
    Pong,
    /// A message that was not understood; the connection stays open.
    Error { code: &'a str, detail: &'a str },
}

impl Message<'_> {
    pub fn to_json(&self) -> String {
        // Serializing these types cannot fail: strings, UUIDs, times and JSON values.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// An event handed over, with who may read it.
#[derive(Debug, Clone)]
pub struct Handed {
    pub event: Event,
    pub module: String,
    pub owner_id: Option<Uuid>,
}

impl Handed {
    pub fn new(row: EventRow, module: String, owner_id: Option<Uuid>) -> Self {
        Self {
            event: Event::from(row),
            module,
            owner_id,
        }
    }
}

#[cfg(feature = "webhooks")]
mod push {
    use std::time::Duration;

    use aws_sdk_apigatewaymanagement::Client;
    use aws_sdk_apigatewaymanagement::primitives::Blob;
    use futures_util::StreamExt;
    use serde::Serialize;
    use sqlx::PgPool;
    use tokio::sync::OnceCell;
    use uuid::Uuid;

    use super::super::{Visible, catalogue};
    use super::{Handed, Message};
    use crate::auth::Role;
    use crate::error::ApiError;

    /// Connections pushed to at once.
    const PARALLEL: usize = 16;
    /// Ended connections closed per scheduler run.
    const CLOSE_BATCH: i32 = 500;

    /// The management API of the WebSocket API (`REALTIME_ENDPOINT`), its client made on first use.
    #[derive(Clone, Debug)]
    pub struct Pusher {
        endpoint: String,
        client: std::sync::Arc<OnceCell<Client>>,
    }

    /// What a push did.
    #[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
    pub struct Pushed {
        /// Messages posted to connections.
        pub messages: u64,
        /// Connections closed or found gone (their rows forgotten).
        pub closed: u64,
    }

    enum Outcome {
        Sent,
        Gone,
        Failed,
    }

    impl Pusher {
        pub fn new(endpoint: &str) -> Self {
            Self {
                endpoint: endpoint.to_owned(),
                client: std::sync::Arc::new(OnceCell::new()),
            }
        }

        async fn client(&self) -> &Client {
            self.client
                .get_or_init(|| async {
                    let shared = crate::config::secrets::sdk_config().await;
                    let timeouts =
                        aws_sdk_apigatewaymanagement::config::timeout::TimeoutConfig::builder()
                            .operation_attempt_timeout(Duration::from_secs(5))
                            .build();
                    let config = aws_sdk_apigatewaymanagement::config::Builder::from(&shared)
                        .endpoint_url(&self.endpoint)
                        .timeout_config(timeouts)
                        .build();
                    Client::from_conf(config)
                })
                .await
        }

        /// Pushes `events` (one organization's, in order) to its connections that subscribed to
        /// them and may read them; closes the connections whose session has ended.
        pub async fn push(
            &self,
            pool: &PgPool,
            org: Uuid,
            events: &[Handed],
        ) -> Result<Pushed, ApiError> {
            if events.is_empty() {
                return Ok(Pushed::default());
            }
            let audience = sqlx::query!(
                r#"SELECT connection_id AS "connection_id!", user_id AS "user_id!",
                          role AS "role: Role", permissions, event_types AS "event_types!",
                          live AS "live!"
                   FROM stockroom_realtime_audience($1)"#,
                org
            )
            .fetch_all(pool)
            .await?;
            if audience.is_empty() {
                return Ok(Pushed::default());
            }
            let mut ended = Vec::new();
            let mut work = Vec::new();
            for listener in audience {
                let (Some(role), true) = (listener.role, listener.live) else {
                    ended.push(listener.connection_id);
                    continue;
                };
                let visible = Visible::of_member(
                    role,
                    &listener.permissions.unwrap_or_default(),
                    listener.user_id,
                );
                let messages: Vec<String> = events
                    .iter()
                    .filter(|h| {
                        visible.sees(&h.module, h.owner_id)
                            && listener
                                .event_types
                                .iter()
                                .any(|p| catalogue::matches(p, &h.event.event_type))
                    })
                    .map(|h| Message::Event { event: &h.event }.to_json())
                    .collect();
                if !messages.is_empty() {
                    work.push((listener.connection_id, messages));
                }
            }
            let mut pushed = Pushed::default();
            let results: Vec<(String, u64, bool)> = futures_util::stream::iter(work)
                .map(|(connection, messages)| async move {
                    let mut sent = 0;
                    for message in messages {
                        match self.post(&connection, message).await {
                            Outcome::Sent => sent += 1,
                            Outcome::Gone => return (connection, sent, true),
                            // The rest would likely fail alike; the client reads what it missed.
                            Outcome::Failed => break,
                        }
                    }
                    (connection, sent, false)
                })
                .buffer_unordered(PARALLEL)
                .collect()
                .await;
            for (connection, sent, gone) in results {
                pushed.messages += sent;
                if gone {
                    ended.push(connection);
                }
            }
            pushed.closed = self.close(pool, ended).await?;
            Ok(pushed)
        }

        /// Closes every organization's connections whose session has ended (the scheduler's
        /// minute); how many.
        pub async fn close_ended(&self, pool: &PgPool) -> Result<u64, ApiError> {
            let ended = sqlx::query_scalar!(
                r#"SELECT c AS "c!" FROM stockroom_realtime_ended($1) c"#,
                CLOSE_BATCH
            )
            .fetch_all(pool)
            .await?;
            self.close(pool, ended).await
        }

        /// Closes `connections` at the gateway (a gone one is fine) and forgets them.
        async fn close(&self, pool: &PgPool, connections: Vec<String>) -> Result<u64, ApiError> {
            if connections.is_empty() {
                return Ok(0);
            }
            let client = self.client().await;
            futures_util::stream::iter(connections.iter())
                .for_each_concurrent(PARALLEL, |connection| async move {
                    let closed = client
                        .delete_connection()
                        .connection_id(connection)
                        .send()
                        .await;
                    if let Err(error) = closed
                        && !error.as_service_error().is_some_and(|e| e.is_gone_exception())
                    {
                        let error = aws_sdk_apigatewaymanagement::error::DisplayErrorContext(&error);
                        tracing::warn!(%connection, %error, "could not close a realtime connection");
                    }
                })
                .await;
            sqlx::query!("SELECT stockroom_realtime_forget($1)", &connections)
                .fetch_one(pool)
                .await?;
            Ok(connections.len() as u64)
        }

        async fn post(&self, connection: &str, message: String) -> Outcome {
            let sent = self
                .client()
                .await
                .post_to_connection()
                .connection_id(connection)
                .data(Blob::new(message))
                .send()
                .await;
            match sent {
                Ok(_) => Outcome::Sent,
                Err(error)
                    if error
                        .as_service_error()
                        .is_some_and(|e| e.is_gone_exception()) =>
                {
                    Outcome::Gone
                }
                Err(error) => {
                    let error = aws_sdk_apigatewaymanagement::error::DisplayErrorContext(&error);
                    tracing::warn!(%connection, %error, "could not push to a realtime connection");
                    Outcome::Failed
                }
            }
        }
    }
}
