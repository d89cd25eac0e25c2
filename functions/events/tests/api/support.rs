//! The events function with the functions whose changes make events, over one test database;
//! the dispatcher as the scheduler runs it; and a receiver for webhook deliveries.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::{Value, json};
use shared::AppState;
use shared::db::Login;
use shared::events::dispatch;
use shared::testing::{Registered, TestApp};
use sqlx::PgPool;

/// Settings every app here runs with: deliveries may go to this machine (the receiver).
pub const LOCAL: &[(&str, &str)] = &[("WEBHOOK_ALLOW_LOCAL_TARGETS", "true")];

pub struct Apps {
    pub events: TestApp,
    pub products: TestApp,
    pub inventory: TestApp,
    pub tasks: TestApp,
    /// The scheduler's state (the worker login), for the dispatcher.
    pub worker: AppState,
    pub pool: PgPool,
}

pub fn apps(pool: PgPool) -> Apps {
    apps_with(pool, LOCAL)
}

pub fn apps_with(pool: PgPool, settings: &[(&str, &str)]) -> Apps {
    let state = shared::testing::state_as(pool.clone(), Login::Tenant, settings);
    Apps {
        events: TestApp::new(events::app(state.clone()), pool.clone()),
        products: TestApp::new(products::app(state.clone()), pool.clone()),
        inventory: TestApp::new(inventory::app(state.clone()), pool.clone()),
        tasks: TestApp::new(tasks::app(state), pool.clone()),
        worker: shared::testing::state_as(pool.clone(), Login::Worker, settings),
        pool,
    }
}

impl Apps {
    /// A product of `owner`'s organization, made through the products function.
    pub async fn product(&self, owner: &Registered, sku: &str, reorder_point: i32) -> Value {
        self.products
            .by(owner)
            .post(
                "/api/products",
                json!({"sku": sku, "name": sku, "price": "2.50", "reorder_point": reorder_point}),
            )
            .await
            .assert(201)
    }

    /// Bob, a `user` of `owner`'s organization with module `permissions`, signed in.
    pub async fn bob(&self, owner: &Registered, permissions: Value) -> Registered {
        self.events
            .with_member(
                owner,
                "bob@example.com",
                shared::auth::Role::User,
                permissions,
            )
            .await
    }

    /// A stock movement through the inventory function.
    pub async fn movement(&self, owner: &Registered, body: Value) -> Value {
        self.inventory
            .by(owner)
            .post("/api/inventory/movements", body)
            .await
            .assert(201)
    }

    /// The events `who` sees, newest first, with `query` (`?type=...`).
    pub async fn events(&self, who: &Registered, query: &str) -> Vec<Value> {
        let page = self
            .events
            .by(who)
            .get(&format!("/api/events{query}"))
            .await
            .assert(200);
        page["items"].as_array().cloned().unwrap_or_default()
    }

    /// One run of the scheduler's `deliver_webhooks`, handing over even the newest events.
    pub async fn dispatch(&self) -> dispatch::Report {
        let channels = dispatch::Channels::new(&self.worker.settings.webhooks);
        dispatch::sweep(&self.worker, &channels, std::time::Duration::ZERO)
            .await
            .expect("the dispatcher runs")
    }

    /// A webhook endpoint of `owner`'s organization; its JSON with the secret.
    pub async fn endpoint(&self, owner: &Registered, url: &str, types: Value) -> Value {
        self.events
            .by(owner)
            .stepped_up()
            .post(
                "/api/webhook-endpoints",
                json!({"url": url, "event_types": types}),
            )
            .await
            .assert(201)
    }
}

/// One delivery as the receiver got it.
#[derive(Clone, Debug)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

#[derive(Clone, Default)]
struct Inbox {
    got: Arc<Mutex<Vec<Received>>>,
    /// The statuses to answer, in turn; the last one repeats (200 when empty).
    answers: Arc<Mutex<Vec<u16>>>,
    /// Where a 3xx answer points.
    location: Arc<Mutex<Option<String>>>,
    /// How long to wait before answering.
    delay: Arc<Mutex<std::time::Duration>>,
}

/// A webhook receiver on this machine: records every delivery and answers as told.
pub struct Receiver {
    pub url: String,
    inbox: Inbox,
}

impl Receiver {
    pub async fn start() -> Self {
        let inbox = Inbox::default();
        let router = Router::new()
            .route("/hook", post(receive))
            .with_state(inbox.clone());
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("a port");
        let port = listener.local_addr().expect("an address").port();
        tokio::spawn(async move { axum::serve(listener, router).await });
        Self {
            url: format!("http://127.0.0.1:{port}/hook"),
            inbox,
        }
    }

    /// Answer these statuses from now on, in turn (the last repeats).
    pub fn answer(&self, statuses: &[u16]) {
        *self.inbox.answers.lock().expect("lock") = statuses.to_vec();
    }

    /// Answer 3xx statuses with `Location: url`.
    pub fn redirect_to(&self, url: &str) {
        *self.inbox.location.lock().expect("lock") = Some(url.to_owned());
    }

    /// Take `delay` before every answer.
    pub fn slow(&self, delay: std::time::Duration) {
        *self.inbox.delay.lock().expect("lock") = delay;
    }

    pub fn received(&self) -> Vec<Received> {
        self.inbox.got.lock().expect("lock").clone()
    }
}

async fn receive(
    State(inbox): State<Inbox>,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    inbox
        .got
        .lock()
        .expect("lock")
        .push(Received { headers, body });
    let delay = *inbox.delay.lock().expect("lock");
    tokio::time::sleep(delay).await;
    let status = {
        let mut answers = inbox.answers.lock().expect("lock");
        match answers.len() {
            0 => 200,
            1 => answers[0],
            _ => answers.remove(0),
        }
    };
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    match inbox.location.lock().expect("lock").clone() {
        Some(to) if status.is_redirection() => (status, [("location", to)]).into_response(),
        _ => status.into_response(),
    }
}
