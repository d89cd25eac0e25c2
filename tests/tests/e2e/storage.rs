//! Storage as a frontend uses it: a page on http://localhost:3000 in headless Chromium asks for
//! an upload, sends a real PNG (drawn on a canvas) straight to the bucket with the pre-signed
//! form, completes it, makes it a product's image and shows the thumbnail the product's JSON
//! links to once the thumbnail function (invoked with the bucket's own announcement) made it.

use shared::testing::TestBucket;
use shared::testing::browser::{ORIGIN, Page, chromium};
use sqlx::PgPool;

const BUCKET: &str = "stockroom-files";

const PAGE: &str = r##"<!doctype html>
<html><body>
<img id="thumbnail" alt="">
<script>
const params = new URLSearchParams(location.hash.slice(1));
const api = params.get("api"), token = params.get("token"), product = params.get("product");
const report = (what, text) => fetch("/" + what, {method: "POST", body: String(text)});
const call = async (method, path, body) => {
  const answer = await fetch(api + path, {method, body: body && JSON.stringify(body),
    headers: {"authorization": "Bearer " + token, "content-type": "application/json"}});
  if (!answer.ok) throw new Error(`${method} ${path}: ${answer.status} ${await answer.text()}`);
  return answer.json();
};
(async () => {
  const canvas = document.createElement("canvas");
  canvas.width = 640; canvas.height = 480;
  const pen = canvas.getContext("2d");
  pen.fillStyle = "#2a7"; pen.fillRect(0, 0, 640, 480);
  pen.fillStyle = "#fff"; pen.fillRect(100, 100, 200, 150);
  const png = await new Promise((done) => canvas.toBlob(done, "image/png"));
  const asked = await call("POST", "/api/uploads", {purpose: "product_image",
    filename: "shelf.png", content_type: "image/png", size: png.size});
  const form = new FormData();
  for (const [name, value] of Object.entries(asked.form.fields)) form.append(name, value);
  form.append("file", png, "shelf.png");
  const sent = await fetch(asked.form.url, {method: "POST", body: form});
  if (!sent.ok) throw new Error("the bucket answered " + sent.status);
  await call("POST", `/api/uploads/${asked.upload.id}/complete`);
  await call("PUT", `/api/products/${product}/image`, {upload_id: asked.upload.id});
  report("uploaded", asked.upload.id);
  for (;;) {
    const shown = await call("GET", `/api/products/${product}`);
    if (shown.image && shown.image.thumbnail_url) {
      const image = document.getElementById("thumbnail");
      image.onload = () => report("shown", `${image.naturalWidth}x${image.naturalHeight}`);
      image.onerror = () => report("failed", "the thumbnail did not load");
      image.src = shown.image.thumbnail_url;
      return;
    }
    await new Promise((wait) => setTimeout(wait, 200));
  }
})().catch((error) => report("failed", error.message));
</script>
</body></html>"##;

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_page_in_chromium_uploads_a_png_and_shows_its_thumbnail(pool: PgPool) {
    let Some(chromium) = chromium() else {
        return;
    };
    let bucket = TestBucket::start(BUCKET).await;
    bucket.allow_origin(ORIGIN).await;
    let announcements = bucket.announce_uploads().await;
    let settings = [("FILES_BUCKET", BUCKET), ("CORS_ALLOWED_ORIGINS", ORIGIN)];
    let base = e2e::local_router::serve(shared::testing::state_with(pool.clone(), &settings)).await;
    let worker = shared::testing::state_as(pool.clone(), shared::db::Login::Worker, &settings);
    let client = reqwest::Client::new();
    let keys = shared::testing::settings(&[]).keys.snapshot();
    let session = e2e::sign_up(&client, &base, &pool, &keys).await;
    let token = session["access_token"].as_str().unwrap();
    let product: serde_json::Value = client
        .post(format!("{base}/api/products"))
        .bearer_auth(token)
        .json(&serde_json::json!({"sku": "SHELF", "name": "Shelf", "price": "40.00"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = product["id"].as_str().unwrap();

    let mut page = Page::open(
        &chromium,
        PAGE,
        &format!("api={base}&token={token}&product={id}"),
    )
    .await;
    let (what, upload) = page.next().await;
    assert_eq!(what, "uploaded", "{upload}");
    // The bucket announced the file; the thumbnail function runs on that event.
    let events = announcements.take().await;
    assert_eq!(events.len(), 1, "{events:?}");
    for event in events {
        let invocation =
            lambda_runtime::LambdaEvent::new(event, lambda_runtime::Context::default());
        let answer = thumbnails::handle(&worker, invocation).await.unwrap();
        assert_eq!(answer["uploads"][0]["outcome"], "made", "{answer}");
    }
    assert_eq!(
        page.next().await,
        ("shown".to_owned(), "256x192".to_owned())
    );
}
