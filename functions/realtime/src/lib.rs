//! The `realtime` function: the routes of the WebSocket API (API Gateway's, or `make dev`'s
//! stand-in, which sends the same events).
//!
//! - `$connect`: the client offers the subprotocols `stockroom` and its access token
//!   (`new WebSocket(url, ["stockroom", accessToken])`). A valid token whose session is live in
//!   its organization opens the connection (the answer names `stockroom`, as browsers require);
//!   a member with 20 connections open in the organization is refused with 429, anything else
//!   with 401, and nothing is recorded. An optional `?types=` (comma
//!   separated) subscribes at once.
//! - `$default`: JSON messages. `{"action": "subscribe", "types": [...]}` replaces the
//!   subscription (event types, `<object>.*` or `*`; an unknown one is refused, naming it) and
//!   is answered `{"kind": "subscribed", "types": [...]}`; `{"action": "ping"}` is answered
//!   `{"kind": "pong"}`. The answer goes back through the route's response.
//! - `$disconnect`: the connection is forgotten.
//!
//! Events are pushed by the dispatcher (`shared::events::realtime`), not by this function.

use std::collections::HashMap;

use lambda_runtime::LambdaEvent;
use serde::Deserialize;
use serde_json::{Value, json};
use shared::AppState;
use shared::auth::jwt;
use shared::events::catalogue;
use shared::events::realtime::{Message, PROTOCOL};

/// The part of API Gateway's WebSocket event this function reads.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WebSocketEvent {
    request_context: RequestContext,
    #[serde(default)]
    headers: Option<HashMap<String, String>>,
    #[serde(default)]
    query_string_parameters: Option<HashMap<String, String>>,
    #[serde(default)]
    body: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RequestContext {
    route_key: String,
    connection_id: String,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
enum Request {
    Subscribe { types: Vec<String> },
    Ping,
}

/// The function's environment: the tenant login's state (it reaches the connections only
/// through the database functions that check the session).
pub struct Realtime {
    state: AppState,
}

impl Realtime {
    /// The cold start: settings and a lazy pool as the tenant login.
    pub async fn start() -> anyhow::Result<Self> {
        let state = AppState::init_as(shared::db::Login::Tenant)
            .await?
            .answering_through_pool();
        Ok(Self::new(state))
    }

    pub fn new(state: AppState) -> Self {
        Self { state }
    }

    /// One event of the WebSocket API: the route's answer.
    pub async fn handle(&self, event: LambdaEvent<Value>) -> Result<Value, lambda_runtime::Error> {
        let event: WebSocketEvent = serde_json::from_value(event.payload)?;
        let connection = event.request_context.connection_id.clone();
        let answer = match event.request_context.route_key.as_str() {
            "$connect" => self.connect(&event).await,
            "$disconnect" => {
                sqlx::query!("SELECT stockroom_realtime_disconnect($1)", connection)
                    .fetch_one(&self.state.pool)
                    .await?;
                json!({"statusCode": 200})
            }
            _ => self.message(&connection, event.body.as_deref()).await?,
        };
        Ok(answer)
    }

    async fn connect(&self, event: &WebSocketEvent) -> Value {
        let refused = |reason: &str| {
            tracing::info!(reason, "realtime connection refused");
            json!({"statusCode": 401})
        };
        let offered = header(event, "sec-websocket-protocol").unwrap_or_default();
        let offered: Vec<&str> = offered.split(',').map(str::trim).collect();
        if !offered.contains(&PROTOCOL) {
            return refused("no stockroom subprotocol");
        }
        let Some(token) = offered.iter().find(|p| **p != PROTOCOL && !p.is_empty()) else {
            return refused("no access token");
        };
        let Ok(claims) = jwt::verify_live(&self.state.settings.keys, token).await else {
            return refused("invalid access token");
        };
        let types = event
            .query_string_parameters
            .as_ref()
            .and_then(|q| q.get("types"))
            .map(|t| {
                t.split(',')
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        let types = match check_types(&types) {
            Ok(types) => types,
            Err(_) => return json!({"statusCode": 400}),
        };
        let connected = sqlx::query_scalar!(
            r#"SELECT stockroom_realtime_connect($1, $2, $3, $4, $5) AS "outcome!""#,
            event.request_context.connection_id,
            claims.sub.0,
            claims.org.0,
            claims.sid.0,
            &types
        )
        .fetch_one(&self.state.pool)
        .await;
        match connected.as_deref() {
            Ok("connected") => json!({
                "statusCode": 200,
                "headers": {"Sec-WebSocket-Protocol": PROTOCOL}
            }),
            Ok("too_many_connections") => {
                tracing::info!("realtime connection refused: 20 open already");
                json!({"statusCode": 429})
            }
            Ok(_) => refused("session ended"),
            Err(error) => {
                tracing::error!(%error, "could not record a realtime connection");
                json!({"statusCode": 500})
            }
        }
    }

    async fn message(&self, connection: &str, body: Option<&str>) -> Result<Value, sqlx::Error> {
        let request = match serde_json::from_str::<Request>(body.unwrap_or_default()) {
            Ok(request) => request,
            Err(_) => {
                return Ok(reply(&Message::Error {
                    code: "bad_message",
                    detail: r#"send {"action": "subscribe", "types": ["stock.*"]} or {"action": "ping"}"#,
                }));
            }
        };
        match request {
            Request::Ping => Ok(reply(&Message::Pong)),
            Request::Subscribe { types } => {
                let types = match check_types(&types) {
                    Ok(types) => types,
                    Err(detail) => {
                        return Ok(reply(&Message::Error {
                            code: "unknown_event_type",
                            detail: &detail,
                        }));
                    }
                };
                let live = sqlx::query_scalar!(
                    r#"SELECT stockroom_realtime_subscribe($1, $2) AS "live!""#,
                    connection,
                    &types
                )
                .fetch_one(&self.state.pool)
                .await?;
                if live {
                    Ok(reply(&Message::Subscribed { types: &types }))
                } else {
                    Ok(reply(&Message::Error {
                        code: "session_ended",
                        detail: "this session was signed out; sign in again and reconnect",
                    }))
                }
            }
        }
    }
}

/// The types as the catalogue knows them, duplicates gone, or why not (the unknown named).
fn check_types(types: &[String]) -> Result<Vec<String>, String> {
    if types.len() > 50 {
        return Err("subscribe to at most 50 types or patterns".to_owned());
    }
    let unknown: Vec<&str> = types
        .iter()
        .map(|t| t.trim())
        .filter(|t| !catalogue::is_known(t))
        .collect();
    if !unknown.is_empty() {
        return Err(format!(
            "not an event type, `<prefix>.*` of one, or `*`: {}",
            unknown.join(", ")
        ));
    }
    let mut kept: Vec<String> = Vec::new();
    for t in types.iter().map(|t| t.trim()) {
        if !kept.iter().any(|k| k == t) {
            kept.push(t.to_owned());
        }
    }
    Ok(kept)
}

/// A request header, by its name in any case.
fn header(event: &WebSocketEvent, name: &str) -> Option<String> {
    event
        .headers
        .as_ref()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.clone())
}

fn reply(message: &Message<'_>) -> Value {
    json!({"statusCode": 200, "body": message.to_json()})
}
