//! A minimal Lambda Runtime API on 127.0.0.1, enough to run the real function binaries outside
//! AWS: `GET /2018-06-01/runtime/invocation/next` hands out queued events with the headers Lambda
//! sends, `POST .../invocation/{id}/response` and `.../error` complete them, and
//! `POST /2018-06-01/runtime/init/error` records a failed start. It also takes the
//! CloudFormation custom-resource answer (`PUT /cloudformation/{id}`), so `migrate` can be
//! invoked the way a deploy invokes it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// How long an invocation may run (what the deadline header says).
const TIMEOUT: Duration = Duration::from_secs(30);

/// How an invocation ended, and when the function reported it.
#[derive(Debug)]
pub enum Outcome {
    Response { body: Bytes, at: Instant },
    Error { body: String },
}

struct Invocation {
    id: String,
    event: Vec<u8>,
    reply: oneshot::Sender<Outcome>,
}

struct Shared {
    function_name: String,
    queue: tokio::sync::Mutex<mpsc::UnboundedReceiver<Invocation>>,
    pending: Mutex<HashMap<String, oneshot::Sender<Outcome>>>,
    first_next: OnceLock<Instant>,
    init_error: Mutex<Option<String>>,
    cloudformation: Mutex<Vec<serde_json::Value>>,
}

/// One Runtime API server for one function process.
pub struct RuntimeApi {
    addr: SocketAddr,
    shared: Arc<Shared>,
    sender: mpsc::UnboundedSender<Invocation>,
    server: JoinHandle<()>,
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl RuntimeApi {
    pub async fn start(function_name: &str) -> anyhow::Result<Self> {
        let (sender, receiver) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            function_name: function_name.to_owned(),
            queue: tokio::sync::Mutex::new(receiver),
            pending: Mutex::default(),
            first_next: OnceLock::new(),
            init_error: Mutex::default(),
            cloudformation: Mutex::default(),
        });
        let router = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(response),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .route("/cloudformation/{id}", put(cloudformation))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let server = tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, router).await {
                eprintln!("runtime API stopped: {error}");
            }
        });
        Ok(Self {
            addr,
            shared,
            sender,
            server,
        })
    }

    /// The value of `AWS_LAMBDA_RUNTIME_API`: `host:port`, as Lambda sets it.
    pub fn endpoint(&self) -> String {
        self.addr.to_string()
    }

    /// Where the `migrate` function should send its CloudFormation answer.
    pub fn cloudformation_url(&self, id: &str) -> String {
        format!("http://{}/cloudformation/{id}", self.addr)
    }

    /// Queues an event; the receiver yields its outcome once the function reports it.
    pub fn invoke(&self, event: &serde_json::Value) -> anyhow::Result<oneshot::Receiver<Outcome>> {
        let (reply, outcome) = oneshot::channel();
        self.sender
            .send(Invocation {
                id: uuid::Uuid::new_v4().to_string(),
                event: serde_json::to_vec(event)?,
                reply,
            })
            .map_err(|_| anyhow::anyhow!("the runtime API has stopped"))?;
        Ok(outcome)
    }

    /// When the function first asked for an event: it was ready.
    pub fn first_next(&self) -> Option<Instant> {
        self.shared.first_next.get().copied()
    }

    /// The error the function reported instead of starting, if any.
    pub fn init_error(&self) -> Option<String> {
        lock(&self.shared.init_error).clone()
    }

    /// The CloudFormation custom-resource answers received so far.
    pub fn cloudformation_answers(&self) -> Vec<serde_json::Value> {
        lock(&self.shared.cloudformation).clone()
    }
}

/// A poisoned lock only means another handler panicked; the data is still usable here.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

async fn next(State(shared): State<Arc<Shared>>) -> Response {
    let _ = shared.first_next.set(Instant::now());
    // One function process polls at a time; the lock makes a second poller wait its turn.
    let Some(invocation) = shared.queue.lock().await.recv().await else {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    };
    let deadline = SystemTime::now() + TIMEOUT;
    let deadline_ms = deadline
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let arn = format!(
        "arn:aws:lambda:eu-west-1:123456789012:function:{}",
        shared.function_name
    );
    let mut headers = HeaderMap::new();
    let header = |value: String| {
        HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
    };
    headers.insert(
        "lambda-runtime-aws-request-id",
        header(invocation.id.clone()),
    );
    headers.insert(
        "lambda-runtime-deadline-ms",
        header(deadline_ms.to_string()),
    );
    headers.insert("lambda-runtime-invoked-function-arn", header(arn));
    headers.insert(
        "lambda-runtime-trace-id",
        HeaderValue::from_static(
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=0",
        ),
    );
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    lock(&shared.pending).insert(invocation.id, invocation.reply);
    (headers, invocation.event).into_response()
}

fn complete(shared: &Shared, id: &str, outcome: Outcome) -> StatusCode {
    match lock(&shared.pending).remove(id) {
        Some(reply) => {
            // The bench may have stopped waiting (a timeout); nothing else to do then.
            let _ = reply.send(outcome);
            StatusCode::ACCEPTED
        }
        None => StatusCode::BAD_REQUEST,
    }
}

async fn response(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Bytes,
) -> StatusCode {
    let at = Instant::now();
    complete(&shared, &id, Outcome::Response { body, at })
}

async fn error(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Bytes,
) -> StatusCode {
    let body = String::from_utf8_lossy(&body).into_owned();
    complete(&shared, &id, Outcome::Error { body })
}

async fn init_error(State(shared): State<Arc<Shared>>, body: Bytes) -> StatusCode {
    *lock(&shared.init_error) = Some(String::from_utf8_lossy(&body).into_owned());
    StatusCode::ACCEPTED
}

async fn cloudformation(State(shared): State<Arc<Shared>>, body: Bytes) -> StatusCode {
    let answer = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    lock(&shared.cloudformation).push(answer);
    StatusCode::OK
}
