//! As a frontend runs it: a page on http://localhost:3000 (the frontend's origin), in headless
//! Chromium, connects to the WebSocket API with an access token, and shows the stock level a
//! movement recorded through the API leaves.

use std::process::Stdio;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::response::Html;
use axum::routing::{get, post};
use sqlx::PgPool;
use tokio::sync::mpsc;

use crate::support::setup;

/// The page: connects with `["stockroom", token]`, subscribes to `stock.changed`, shows each
/// new level in `#level`, and reports what it shows to the page's server.
const PAGE: &str = r#"<!doctype html>
<html><body>
<p>On hand: <span id="level">?</span></p>
<script>
const params = new URLSearchParams(location.hash.slice(1));
const report = (what, text) => fetch("/" + what, {method: "POST", body: text});
const socket = new WebSocket(params.get("ws"), ["stockroom", params.get("token")]);
socket.onopen = () => socket.send(JSON.stringify({action: "subscribe", types: ["stock.changed"]}));
socket.onmessage = (message) => {
  const data = JSON.parse(message.data);
  if (data.kind === "subscribed") report("ready", socket.protocol);
  if (data.kind === "event" && data.event.type === "stock.changed") {
    document.getElementById("level").textContent = data.event.data.object.on_hand;
    report("shown", document.getElementById("level").textContent);
  }
};
socket.onerror = () => report("failed", "error");
</script>
</body></html>"#;

fn chromium() -> Option<String> {
    std::env::var("CHROMIUM").ok().or_else(|| {
        [
            "/usr/bin/chromium",
            "/usr/bin/chromium-browser",
            "/usr/bin/google-chrome",
        ]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .map(str::to_owned)
    })
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_page_in_chromium_shows_the_level_a_movement_leaves(pool: PgPool) {
    let Some(chromium) = chromium() else {
        // `make test` installs it where it can (scripts/tools.sh); CI requires it.
        assert!(
            std::env::var_os("STOCKROOM_REQUIRE_BROWSER").is_none(),
            "no Chromium here (set CHROMIUM, or apt-get install chromium)"
        );
        eprintln!("SKIPPED: no Chromium on this machine (apt-get install chromium)");
        return;
    };
    let s = setup(pool).await;
    let ann = s.products.register("ann@example.com").await;
    let product = s.product(&ann, "APL", 0).await;
    s.dispatch(&ann).await;

    // The frontend's origin.
    let (reports, mut reported) = mpsc::unbounded_channel::<(String, String)>();
    let page = Router::new()
        .route("/", get(|| async { Html(PAGE) }))
        .route(
            "/{what}",
            post(
                |State(reports): State<mpsc::UnboundedSender<(String, String)>>,
                 axum::extract::Path(what): axum::extract::Path<String>,
                 body: String| async move {
                    let _ = reports.send((what, body));
                },
            ),
        )
        .with_state(reports);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000")
        .await
        .expect("port 3000 (the frontend's origin) is free");
    tokio::spawn(async move { axum::serve(listener, page).await });

    let profile = std::env::temp_dir().join(format!("stockroom-chromium-{}", std::process::id()));
    let url = format!("http://localhost:3000/#ws={}&token={}", s.url, ann.token);
    let mut browser = tokio::process::Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            &format!("--user-data-dir={}", profile.display()),
            &url,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("Chromium starts");

    let mut next = async || {
        tokio::time::timeout(Duration::from_secs(60), reported.recv())
            .await
            .expect("the page reports within a minute")
            .expect("the page's server runs")
    };
    assert_eq!(next().await, ("ready".to_owned(), "stockroom".to_owned()));

    s.receive(&ann, &product, 7).await;
    let committed = Instant::now();
    s.dispatch(&ann).await;
    assert_eq!(next().await, ("shown".to_owned(), "7".to_owned()));
    eprintln!(
        "commit to the page showing it: {} ms",
        committed.elapsed().as_millis()
    );
    let _ = browser.kill().await;
    let _ = std::fs::remove_dir_all(profile);
}
