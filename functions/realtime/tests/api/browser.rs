//! As a frontend runs it: a page on http://localhost:3000 (the frontend's origin), in headless
//! Chromium, connects to the WebSocket API with an access token, and shows the stock level a
//! movement recorded through the API leaves.

use std::time::Instant;

use shared::testing::browser::Page;
use sqlx::PgPool;

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

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_page_in_chromium_shows_the_level_a_movement_leaves(pool: PgPool) {
    let Some(chromium) = shared::testing::browser::chromium() else {
        return;
    };
    let s = setup(pool).await;
    let ann = s.products.register("ann@example.com").await;
    let product = s.product(&ann, "APL", 0).await;
    s.dispatch(&ann).await;

    let mut page = Page::open(
        &chromium,
        PAGE,
        &format!("ws={}&token={}", s.url, ann.token),
    )
    .await;
    let mut next = async || page.next().await;
    assert_eq!(next().await, ("ready".to_owned(), "stockroom".to_owned()));

    s.receive(&ann, &product, 7).await;
    let committed = Instant::now();
    s.dispatch(&ann).await;
    assert_eq!(next().await, ("shown".to_owned(), "7".to_owned()));
    eprintln!(
        "commit to the page showing it: {} ms",
        committed.elapsed().as_millis()
    );
}
