//! The thumbnail function on the files bucket's own announcement: moto's S3 notifies a queue of
//! each upload (as make dev runs it; in AWS the bucket invokes the function with the same
//! event), and the function makes, stores and records the thumbnails of product images only.

use serde_json::{Value, json};
use shared::testing::files::Announcements;
use shared::testing::files::{jpeg, png_bomb};
use shared::testing::{Registered, TestApp, TestBucket, send_form};
use sqlx::PgPool;
use uuid::Uuid;

const BUCKET: &str = "stockroom-files";

struct World {
    storage: TestApp,
    worker: shared::AppState,
    bucket: TestBucket,
    announcements: Announcements,
}

async fn world(pool: PgPool) -> World {
    let bucket = TestBucket::start(BUCKET).await;
    let announcements = bucket.announce_uploads().await;
    let settings = [("FILES_BUCKET", BUCKET)];
    let tenant = shared::testing::state_as(pool.clone(), shared::db::Login::Tenant, &settings);
    World {
        storage: TestApp::new(storage::app(tenant), pool.clone()),
        worker: shared::testing::state_as(pool, shared::db::Login::Worker, &settings),
        bucket,
        announcements,
    }
}

impl World {
    /// An upload of `bytes` by `who`, sent (S3 announces it) and completed: its id.
    async fn upload(
        &self,
        who: &Registered,
        purpose: &str,
        content_type: &str,
        bytes: Vec<u8>,
    ) -> Uuid {
        let asked = self
            .storage
            .by(who)
            .post(
                "/api/uploads",
                json!({"purpose": purpose, "filename": "f", "content_type": content_type,
                       "size": bytes.len()}),
            )
            .await
            .assert(201);
        assert_eq!(send_form(&asked["form"], bytes).await, 204);
        let id = asked["upload"]["id"].as_str().unwrap().to_owned();
        self.storage
            .by(who)
            .post(&format!("/api/uploads/{id}/complete"), json!({}))
            .await;
        id.parse().unwrap()
    }

    /// The function run on each announcement waiting on the queue, as the bucket would invoke
    /// it; what each invocation answered.
    async fn deliver(&self) -> Vec<Value> {
        let mut answers = Vec::new();
        for event in self.announcements.take().await {
            let invocation =
                lambda_runtime::LambdaEvent::new(event, lambda_runtime::Context::default());
            answers.push(thumbnails::handle(&self.worker, invocation).await.unwrap());
        }
        answers
    }
}

#[sqlx::test(migrations = "../../migrations")]
async fn a_product_images_thumbnails_are_made_on_the_buckets_announcement(pool: PgPool) {
    let w = world(pool.clone()).await;
    let owner = w.storage.register("owner@example.com").await;
    let photo = w
        .upload(&owner, "product_image", "image/jpeg", jpeg(2000, 1500))
        .await;
    let answers = w.deliver().await;
    assert_eq!(
        answers,
        [json!({"uploads": [{"upload_id": photo, "outcome": "made"}]})]
    );
    let org: Uuid = owner.org_id.parse().unwrap();
    let mut expected = shared::storage::upload_keys(org, photo, Some("jpeg"));
    expected.sort();
    assert_eq!(w.bucket.keys().await, expected);
    for (px, size) in [(256, (256, 192)), (1024, (1024, 768))] {
        let key = shared::storage::thumbnail_key(org, photo, px, "jpeg");
        let image = image::load_from_memory(&w.bucket.get(&key).await).unwrap();
        assert_eq!((image.width(), image.height()), size, "{key}");
    }
    let format: Option<String> =
        sqlx::query_scalar("SELECT thumbnail_format FROM uploads WHERE id = $1")
            .bind(photo)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(format.as_deref(), Some("jpeg"));
    // Announced again (S3 delivers at least once): nothing is made twice.
    let event = json!({"Records": [{"s3": {"object": {"key": shared::storage::original_key(org, photo)}}}]});
    let again = thumbnails::handle(
        &w.worker,
        lambda_runtime::LambdaEvent::new(event, lambda_runtime::Context::default()),
    )
    .await
    .unwrap();
    assert_eq!(again["uploads"][0]["outcome"], "already_made");
}

#[sqlx::test(migrations = "../../migrations")]
async fn attachments_refused_files_and_bombs_get_no_thumbnails(pool: PgPool) {
    let w = world(pool.clone()).await;
    let owner = w.storage.register("owner@example.com").await;
    let attachment = w
        .upload(&owner, "attachment", "image/jpeg", jpeg(40, 40))
        .await;
    assert_eq!(
        w.deliver().await[0]["uploads"][0]["outcome"],
        "not_a_product_image"
    );
    // A bomb is refused at completion and deleted; the announcement finds nothing.
    let bomb = w
        .upload(
            &owner,
            "product_image",
            "image/png",
            png_bomb(50_000, 50_000),
        )
        .await;
    let outcome = w.deliver().await[0]["uploads"][0]["outcome"].clone();
    assert_eq!(outcome, "unknown_or_removed");
    // A bomb announced before its completion is refused by the decoder's limits, unallocated.
    let org: Uuid = owner.org_id.parse().unwrap();
    let early = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO uploads (id, org_id, purpose, filename, content_type, size)
         VALUES ($1, $2, 'product_image', 'b.png', 'image/png', 100)",
    )
    .bind(early)
    .bind(org)
    .execute(&pool)
    .await
    .unwrap();
    w.bucket
        .s3
        .put_object()
        .bucket(BUCKET)
        .key(shared::storage::original_key(org, early))
        .body(png_bomb(50_000, 50_000).into())
        .send()
        .await
        .unwrap();
    assert_eq!(
        w.deliver().await[0]["uploads"][0]["outcome"],
        "not_renderable"
    );
    let keys = w.bucket.keys().await;
    assert!(keys.iter().all(|k| k.ends_with("/original")), "{keys:?}");
    assert!(keys.iter().any(|k| k.contains(&attachment.to_string())));
    assert!(!keys.iter().any(|k| k.contains(&bomb.to_string())));
}
