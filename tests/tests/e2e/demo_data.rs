//! `scripts/demo_data.py`, which `make dev` runs for the demo organization, against the
//! functions' routers (`e2e::local_router`): afterwards every view has something to show, and a
//! second run changes nothing.

use std::collections::HashSet;
use std::path::Path;
use std::time::Instant;

use serde_json::{Value, json};
use sqlx::PgPool;

const EMAIL: &str = "demo@stockroom.test";
const PASSWORD: &str = "Demo-passw0rd!";

/// The API on the test's database; its base URL.
async fn start(pool: &PgPool) -> String {
    e2e::local_router::serve(shared::testing::state(pool.clone())).await
}

/// The demo owner's view of the API.
struct Demo {
    client: reqwest::Client,
    base: String,
    token: String,
}

impl Demo {
    /// Registers the demo organization as `make dev` does (confirming it with the mailed link)
    /// and keeps the owner's token.
    async fn register(base: &str, pool: &PgPool) -> Self {
        let client = reqwest::Client::new();
        let response = client
            .post(format!("{base}/api/auth/register"))
            .json(
                &json!({"organization_name": "Demo Hardware", "name": "Demo Owner",
                "email": EMAIL, "password": PASSWORD}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202, "registering the demo organization");
        let token = shared::testing::mailed_token(pool, EMAIL, "/confirm-registration").await;
        let response = client
            .post(format!("{base}/api/auth/register/confirm"))
            .json(&json!({ "token": token }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "confirming the demo organization");
        let session: Value = response.json().await.unwrap();
        let token = session["access_token"].as_str().unwrap().to_owned();
        Self {
            client,
            base: base.to_owned(),
            token,
        }
    }

    async fn get(&self, path: &str) -> Value {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert!(status.is_success(), "GET {path}: {status} {body}");
        body
    }

    /// Every item of a list, page after page.
    async fn all(&self, path: &str) -> Vec<Value> {
        let separator = if path.contains('?') { '&' } else { '?' };
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let after = cursor.map(|c| format!("&cursor={c}")).unwrap_or_default();
            let page = self
                .get(&format!("{path}{separator}limit=100{after}"))
                .await;
            items.extend(page["items"].as_array().unwrap().iter().cloned());
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => return items,
            }
        }
    }

    async fn product_count(&self) -> i64 {
        let page = self.get("/api/products?limit=1&include_total=true").await;
        page["total"].as_i64().unwrap()
    }

    /// The audit trail without sign-ins: each run of the script logs in, which is recorded.
    async fn audit_entries_besides_logins(&self) -> usize {
        let log = self.all("/api/audit-log").await;
        log.iter().filter(|e| e["action"] != "login").count()
    }
}

/// Runs the script from the workspace root as `make dev` does; its output line.
async fn run_demo_data(base: &str) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let output = tokio::process::Command::new("python3")
        .args(["scripts/demo_data.py", base, EMAIL, PASSWORD])
        .current_dir(root)
        .output()
        .await
        .expect("python3 runs");
    let stdout = String::from_utf8(output.stdout).unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "demo_data.py: {stdout}{stderr}");
    stdout
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn demo_data_fills_every_view_once(pool: PgPool) {
    let base = start(&pool).await;
    let demo = Demo::register(&base, &pool).await;

    let started = Instant::now();
    let summary = run_demo_data(&base).await;
    eprintln!("seeded in {:?}: {summary}", started.elapsed());
    assert!(summary.starts_with("Demo data: "), "{summary}");

    assert!(demo.product_count().await >= 20);
    let low_stock = demo.get("/api/inventory/low-stock").await;
    assert!(!low_stock["items"].as_array().unwrap().is_empty());

    let dashboard = demo.get("/api/dashboard/summary").await;
    assert!(dashboard["products"].as_i64().unwrap() >= 20, "{dashboard}");
    for figure in [
        "low_stock",
        "open_purchase_orders",
        "active_reservations",
        "my_open_tasks",
    ] {
        assert!(
            dashboard[figure].as_i64().unwrap() >= 1,
            "{figure}: {dashboard}"
        );
    }
    let completed = demo.get("/api/tasks?status=Completed").await;
    assert!(!completed["items"].as_array().unwrap().is_empty());

    let orders = demo.all("/api/purchase-orders").await;
    let states: HashSet<&str> = orders
        .iter()
        .map(|o| o["status"].as_str().unwrap())
        .collect();
    for state in ["draft", "submitted", "partially_received", "received"] {
        assert!(states.contains(state), "no {state} order among {states:?}");
    }

    let repriced = demo.all("/api/audit-log?action=product_updated").await;
    let product = repriced[0]["entity_id"].as_str().unwrap();
    let history = demo
        .all(&format!("/api/products/{product}/price-history"))
        .await;
    assert!(history.len() >= 2, "{history:?}");

    let stock = demo.all("/api/inventory/stock").await;
    let stocked: HashSet<&str> = stock
        .iter()
        .filter(|s| s["on_hand"].as_i64().unwrap() > 0)
        .map(|s| s["location_name"].as_str().unwrap())
        .collect();
    assert_eq!(stocked, HashSet::from(["Main", "Back room"]));

    let products = demo.product_count().await;
    let movements = demo.all("/api/inventory/movements").await.len();
    let audited = demo.audit_entries_besides_logins().await;
    assert!(audited > 0);

    let again = run_demo_data(&base).await;
    assert!(again.contains("already there"), "{again}");
    assert_eq!(demo.product_count().await, products);
    assert_eq!(demo.all("/api/inventory/movements").await.len(), movements);
    assert_eq!(demo.audit_entries_besides_logins().await, audited);
}
