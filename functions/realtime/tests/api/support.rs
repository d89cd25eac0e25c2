//! The realtime function behind the WebSocket API's stand-in (the `gateway` crate, as `make
//! dev` runs it), the functions whose changes make events, and the dispatcher's push.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use lambda_runtime::{Context, LambdaEvent};
use serde_json::{Value, json};
use shared::AppState;
use shared::db::Login;
use shared::events::dispatch::{self, Channels};
use shared::testing::{Registered, TestApp};
use sqlx::PgPool;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

pub struct Setup {
    /// `ws://127.0.0.1:{port}/realtime`.
    pub url: String,
    pub gateway: Arc<gateway::Gateway>,
    pub products: TestApp,
    pub inventory: TestApp,
    /// The dispatcher's state (the worker login) and channels (pushing to the stand-in).
    pub worker: AppState,
    pub channels: Channels,
    pub pool: PgPool,
}

/// The stand-in on a port of its own, invoking the realtime function in this process as the
/// tenant login; the dispatcher's pushes go to its management API, signed with SigV4.
pub async fn setup(pool: PgPool) -> Setup {
    // SAFETY: before the test starts other threads that read the environment; the SDK signs
    // with these (the stand-in checks a signature is there, not the key).
    unsafe {
        std::env::set_var("AWS_REGION", "eu-west-1");
        std::env::set_var("AWS_ACCESS_KEY_ID", "test");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "test");
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let settings = [("REALTIME_ENDPOINT", endpoint.as_str())];
    let tenant = shared::testing::state_as(pool.clone(), Login::Tenant, &settings);
    let worker = shared::testing::state_as(pool.clone(), Login::Worker, &settings);
    let function = Arc::new(realtime::Realtime::new(tenant.clone()));
    let invoke: gateway::Invoker = Arc::new(move |event| {
        let function = function.clone();
        Box::pin(async move {
            function
                .handle(LambdaEvent::new(event, Context::default()))
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))
        })
    });
    let gateway = gateway::Gateway::new(invoke, None);
    tokio::spawn(gateway::serve(listener, gateway.clone()));
    Setup {
        url: format!("ws://127.0.0.1:{port}/realtime"),
        gateway,
        products: TestApp::new(products::app(tenant.clone()), pool.clone()),
        inventory: TestApp::new(inventory::app(tenant), pool.clone()),
        channels: Channels::new(&worker.settings.webhooks),
        worker,
        pool,
    }
}

impl Setup {
    /// Connects offering `protocols` (`Sec-WebSocket-Protocol`), with `query`.
    pub async fn connect_with(
        &self,
        protocols: &str,
        query: &str,
    ) -> Result<Socket, tungstenite::Error> {
        let mut request = format!("{}{query}", self.url)
            .into_client_request()
            .unwrap();
        if !protocols.is_empty() {
            request
                .headers_mut()
                .insert("sec-websocket-protocol", protocols.parse().unwrap());
        }
        let (socket, answer) = tokio_tungstenite::connect_async(request).await?;
        assert_eq!(answer.headers()["sec-websocket-protocol"], "stockroom");
        Ok(socket)
    }

    /// `who` connected and subscribed to `types`.
    pub async fn subscribed(&self, who: &Registered, types: Value) -> Socket {
        let mut socket = self
            .connect_with(&format!("stockroom, {}", who.token), "")
            .await
            .expect("connected");
        send(&mut socket, json!({"action": "subscribe", "types": types})).await;
        let answer = next(&mut socket).await;
        assert_eq!(answer, json!({"kind": "subscribed", "types": types}));
        socket
    }

    /// What the dispatcher does for `who`'s organization once its write is announced.
    pub async fn dispatch(&self, who: &Registered) -> dispatch::Report {
        dispatch::organization(
            &self.worker,
            &self.channels,
            who.org_id.parse().unwrap(),
            Instant::now(),
        )
        .await
        .expect("the dispatcher runs")
    }

    /// A product of `owner`'s organization; its id.
    pub async fn product(&self, owner: &Registered, sku: &str, reorder_point: i32) -> String {
        let product = self
            .products
            .by(owner)
            .post(
                "/api/products",
                json!({"sku": sku, "name": sku, "price": "2.50", "reorder_point": reorder_point}),
            )
            .await
            .assert(201);
        product["id"].as_str().unwrap().to_owned()
    }

    /// `quantity` of `product` received at the organization's default location.
    pub async fn receive(&self, owner: &Registered, product: &str, quantity: i32) -> Value {
        self.inventory
            .by(owner)
            .post(
                "/api/inventory/movements",
                json!({"product_id": product, "kind": "receive", "quantity": quantity, "reason": "delivery"}),
            )
            .await
            .assert(201)
    }

    pub async fn connections(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM realtime_connections")
            .fetch_one(&self.pool)
            .await
            .unwrap()
    }
}

pub async fn send(socket: &mut Socket, message: Value) {
    socket
        .send(Message::Text(message.to_string().into()))
        .await
        .unwrap();
}

/// The next text message as JSON (within 5 s).
pub async fn next(socket: &mut Socket) -> Value {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(5), socket.next())
            .await
            .expect("a message within 5 s")
            .expect("the connection is open")
            .expect("a frame");
        if let Message::Text(text) = message {
            return serde_json::from_str(&text).unwrap();
        }
    }
}

/// The messages before the answer to a ping: what was pushed and not read yet.
pub async fn pending(socket: &mut Socket) -> Vec<Value> {
    send(socket, json!({"action": "ping"})).await;
    let mut got = Vec::new();
    loop {
        let message = next(socket).await;
        if message == json!({"kind": "pong"}) {
            return got;
        }
        got.push(message);
    }
}

/// Whether the server closes `socket` within 5 s (reading past any message).
pub async fn closed(socket: &mut Socket) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_millis(500), socket.next()).await {
            Ok(None | Some(Err(_)) | Some(Ok(Message::Close(_)))) => return true,
            _ => continue,
        }
    }
    false
}
