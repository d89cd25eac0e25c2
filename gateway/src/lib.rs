//! A stand-in for API Gateway's WebSocket API, so the realtime code path on a developer's
//! machine and in the tests is the one AWS runs:
//!
//! - a WebSocket at `/realtime`. Each handshake becomes a `$connect` event for the realtime
//!   function (headers, query string, `requestContext.connectionId`); a 2xx answer opens the
//!   connection with the subprotocol the answer names, anything else refuses the handshake with
//!   that status. Each message becomes a `$default` event, whose answer's `body`, if any, goes
//!   back to the client (a route response); a close becomes `$disconnect`.
//! - the management API at `/@connections/{id}`: `POST` sends its body to the connection,
//!   `DELETE` closes it, `GET` describes it; an unknown connection is `410 GoneException`. A
//!   request must be SigV4-signed for `execute-api` (the signature itself is not checked).
//! - for `make dev`, every other request is passed to the functions' server (`cargo lambda
//!   watch`), so the API and the WebSocket share one base URL.
//!
//! What it leaves out: API Gateway's idle timeout (10 minutes) and 2-hour limit, frame size
//! limits, and more than one route besides `$default`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use futures_util::future::BoxFuture;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::mpsc;

/// Invokes the realtime function with an event, answering its result.
pub type Invoker = Arc<dyn Fn(Value) -> BoxFuture<'static, anyhow::Result<Value>> + Send + Sync>;

/// The function behind a Lambda invoke URL
/// (`http://127.0.0.1:9001/2015-03-31/functions/realtime/invocations` under `cargo lambda watch`).
pub fn invoke_url(url: String) -> Invoker {
    let client = reqwest::Client::new();
    Arc::new(move |event| {
        let (client, url) = (client.clone(), url.clone());
        Box::pin(async move {
            let answer = client.post(&url).json(&event).send().await?;
            let status = answer.status();
            let body: Value = answer.json().await?;
            anyhow::ensure!(status.is_success(), "the function failed: {body}");
            Ok(body)
        })
    })
}

enum Outgoing {
    Text(String),
    Close,
}

struct Connection {
    sender: mpsc::UnboundedSender<Outgoing>,
    connected_at: chrono::DateTime<chrono::Utc>,
}

/// The stand-in's state.
pub struct Gateway {
    invoke: Invoker,
    stage: String,
    connections: Mutex<HashMap<String, Connection>>,
    upstream: Option<String>,
    http: reqwest::Client,
}

impl Gateway {
    /// A gateway that invokes the realtime function with `invoke`, and passes any other
    /// request to `upstream` (a base URL) if there is one.
    pub fn new(invoke: Invoker, upstream: Option<String>) -> Arc<Self> {
        Arc::new(Self {
            invoke,
            stage: "local".to_owned(),
            connections: Mutex::new(HashMap::new()),
            upstream: upstream.map(|u| u.trim_end_matches('/').to_owned()),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap_or_default(),
        })
    }

    /// How many connections are open.
    pub fn open_connections(&self) -> usize {
        self.connections.lock().map(|c| c.len()).unwrap_or(0)
    }

    fn sender(&self, id: &str) -> Option<mpsc::UnboundedSender<Outgoing>> {
        let connections = self.connections.lock().ok()?;
        connections.get(id).map(|c| c.sender.clone())
    }

    fn forget(&self, id: &str) -> bool {
        self.connections
            .lock()
            .map(|mut c| c.remove(id).is_some())
            .unwrap_or(false)
    }

    fn context(&self, id: &str, route: &str, kind: &str) -> Value {
        let now = chrono::Utc::now().timestamp_millis();
        json!({
            "routeKey": route,
            "eventType": kind,
            "connectionId": id,
            "requestId": uuid::Uuid::new_v4().to_string(),
            "messageDirection": "IN",
            "stage": self.stage,
            "apiId": "local",
            "domainName": "127.0.0.1",
            "requestTimeEpoch": now,
            "identity": {"sourceIp": "127.0.0.1"},
        })
    }
}

/// The stand-in's routes.
pub fn router(gateway: Arc<Gateway>) -> Router {
    Router::new()
        .route("/realtime", get(connect))
        .route("/@connections/{id}", any(manage))
        .route("/%40connections/{id}", any(manage))
        .fallback(pass_on)
        .with_state(gateway)
}

/// Serves the stand-in on `listener` until the process ends.
pub async fn serve(
    listener: tokio::net::TcpListener,
    gateway: Arc<Gateway>,
) -> std::io::Result<()> {
    axum::serve(listener, router(gateway)).await
}

async fn connect(
    State(gateway): State<Arc<Gateway>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    let id = connection_id();
    let headers: serde_json::Map<String, Value> = headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_owned(), Value::from(v.to_str().ok()?))))
        .collect();
    let query: Option<serde_json::Map<String, Value>> = query.map(|q| {
        form_urlencoded::parse(q.as_bytes())
            .map(|(k, v)| (k.into_owned(), Value::from(v.into_owned())))
            .collect()
    });
    let event = json!({
        "headers": headers,
        "queryStringParameters": query,
        "requestContext": gateway.context(&id, "$connect", "CONNECT"),
        "isBase64Encoded": false,
    });
    // Registered before the function answers: a push that comes before the handshake ends
    // waits for it, as API Gateway's does.
    let (sender, outgoing) = mpsc::unbounded_channel();
    if let Ok(mut connections) = gateway.connections.lock() {
        connections.insert(
            id.clone(),
            Connection {
                sender,
                connected_at: chrono::Utc::now(),
            },
        );
    }
    let answer = match (gateway.invoke)(event).await {
        Ok(answer) => answer,
        Err(error) => {
            tracing::error!(%error, "$connect failed");
            gateway.forget(&id);
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    let status = answer["statusCode"]
        .as_u64()
        .and_then(|s| StatusCode::from_u16(s as u16).ok())
        .unwrap_or(StatusCode::OK);
    if !status.is_success() {
        gateway.forget(&id);
        return status.into_response();
    }
    let protocol = answer["headers"].as_object().and_then(|h| {
        h.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("sec-websocket-protocol"))
            .and_then(|(_, v)| v.as_str().map(str::to_owned))
    });
    upgrade
        .protocols(protocol)
        .on_upgrade(move |socket| run(gateway, id, socket, outgoing))
}

async fn run(
    gateway: Arc<Gateway>,
    id: String,
    socket: WebSocket,
    mut outgoing: mpsc::UnboundedReceiver<Outgoing>,
) {
    let (mut sink, mut stream) = socket.split();
    let (replies, mut replied) = mpsc::unbounded_channel::<String>();
    let writer = tokio::spawn(async move {
        loop {
            // Pushes first: a push the function made before answering a message goes before
            // the answer.
            let message = tokio::select! {
                biased;
                Some(out) = outgoing.recv() => out,
                Some(reply) = replied.recv() => Outgoing::Text(reply),
                else => break,
            };
            match message {
                Outgoing::Text(text) => {
                    if sink.send(Message::Text(text.into())).await.is_err() {
                        break;
                    }
                }
                Outgoing::Close => {
                    let _ = sink.send(Message::Close(None)).await;
                    break;
                }
            }
        }
    });
    while let Some(Ok(message)) = stream.next().await {
        let body = match message {
            Message::Text(text) => text.to_string(),
            Message::Binary(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Message::Close(_) => break,
            _ => continue,
        };
        let event = json!({
            "body": body,
            "requestContext": gateway.context(&id, "$default", "MESSAGE"),
            "isBase64Encoded": false,
        });
        match (gateway.invoke)(event).await {
            Ok(answer) => {
                if let Some(body) = answer["body"].as_str() {
                    let _ = replies.send(body.to_owned());
                }
            }
            Err(error) => tracing::error!(%error, "$default failed"),
        }
    }
    gateway.forget(&id);
    writer.abort();
    let event = json!({
        "requestContext": gateway.context(&id, "$disconnect", "DISCONNECT"),
        "isBase64Encoded": false,
    });
    if let Err(error) = (gateway.invoke)(event).await {
        tracing::error!(%error, "$disconnect failed");
    }
}

/// The management API: `POST`, `DELETE` or `GET` `/@connections/{id}`.
async fn manage(
    State(gateway): State<Arc<Gateway>>,
    Path(id): Path<String>,
    request: Request,
) -> Response {
    let signed = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.starts_with("AWS4-HMAC-SHA256 ") && v.contains("/execute-api/aws4_request")
        });
    if !signed {
        return error(
            StatusCode::FORBIDDEN,
            "ForbiddenException",
            "Missing Authentication Token",
        );
    }
    let method = request.method().clone();
    let Some(sender) = gateway.sender(&id) else {
        return error(StatusCode::GONE, "GoneException", "");
    };
    match method.as_str() {
        "POST" => {
            let Ok(body) = axum::body::to_bytes(request.into_body(), 128 * 1024).await else {
                return error(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "PayloadTooLargeException",
                    "",
                );
            };
            let text = String::from_utf8_lossy(&body).into_owned();
            match sender.send(Outgoing::Text(text)) {
                Ok(()) => StatusCode::OK.into_response(),
                Err(_) => error(StatusCode::GONE, "GoneException", ""),
            }
        }
        "DELETE" => {
            let _ = sender.send(Outgoing::Close);
            gateway.forget(&id);
            StatusCode::NO_CONTENT.into_response()
        }
        "GET" => {
            let connected_at = gateway
                .connections
                .lock()
                .ok()
                .and_then(|c| c.get(&id).map(|c| c.connected_at));
            axum::Json(json!({
                "connectedAt": connected_at,
                "identity": {"sourceIp": "127.0.0.1"},
            }))
            .into_response()
        }
        _ => StatusCode::METHOD_NOT_ALLOWED.into_response(),
    }
}

fn error(status: StatusCode, kind: &'static str, message: &str) -> Response {
    let mut response = (status, axum::Json(json!({"message": message}))).into_response();
    response
        .headers_mut()
        .insert("x-amzn-errortype", HeaderValue::from_static(kind));
    response
}

/// Anything else goes to the functions' server, as it came (no redirect followed).
async fn pass_on(State(gateway): State<Arc<Gateway>>, request: Request) -> Response {
    let Some(upstream) = &gateway.upstream else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let (parts, body) = request.into_parts();
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let Ok(body) = axum::body::to_bytes(body, 32 * 1024 * 1024).await else {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    };
    let mut forwarded = gateway
        .http
        .request(parts.method.clone(), format!("{upstream}{path}"))
        .body(body);
    for (name, value) in &parts.headers {
        if name != "host" {
            forwarded = forwarded.header(name, value);
        }
    }
    let answer = match forwarded.send().await {
        Ok(answer) => answer,
        Err(error) => {
            tracing::warn!(%error, "the functions' server did not answer");
            return StatusCode::BAD_GATEWAY.into_response();
        }
    };
    let status = answer.status();
    let headers = answer.headers().clone();
    let body: Bytes = answer.bytes().await.unwrap_or_default();
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    for (name, value) in &headers {
        if name != "transfer-encoding" && name != "content-length" {
            response.headers_mut().append(name, value.clone());
        }
    }
    response
}

/// An id like API Gateway's (`L0SM9cOFvHcCIhw=`): opaque, 16 characters.
fn connection_id() -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("{}=", &id[..15])
}
