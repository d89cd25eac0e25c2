//! A product's image: a completed upload set as the image, shown as links in the list and by
//! id, replaced and removed; the refusals.
//!
//! Routes: `PUT /api/products/{id}/image`, `DELETE /api/products/{id}/image`

use super::*;
use serde_json::Value;
use shared::testing::files::png;
use shared::testing::{Registered, TestBucket, send_form};

const BUCKET: &str = "stockroom-files";

struct Shop {
    products: shared::testing::TestApp,
    storage: shared::testing::TestApp,
    bucket: TestBucket,
}

async fn shop(pool: PgPool) -> Shop {
    let bucket = TestBucket::start(BUCKET).await;
    let state = shared::testing::state_as(
        pool.clone(),
        shared::db::Login::Tenant,
        &[("FILES_BUCKET", BUCKET)],
    );
    Shop {
        products: shared::testing::TestApp::new(products::app(state.clone()), pool.clone()),
        storage: shared::testing::TestApp::new(storage::app(state), pool),
        bucket,
    }
}

impl Shop {
    /// An upload of `bytes` for `purpose` by `who`, sent and (when `complete`) completed: its id.
    async fn upload(
        &self,
        who: &Registered,
        purpose: &str,
        bytes: Vec<u8>,
        complete: bool,
    ) -> String {
        let asked = self
            .storage
            .by(who)
            .post(
                "/api/uploads",
                json!({"purpose": purpose, "filename": "photo.png", "content_type": "image/png",
                       "size": bytes.len()}),
            )
            .await
            .assert(201);
        assert_eq!(send_form(&asked["form"], bytes).await, 204);
        let id = asked["upload"]["id"].as_str().unwrap().to_owned();
        if complete {
            self.storage
                .by(who)
                .post(&format!("/api/uploads/{id}/complete"), json!({}))
                .await
                .assert(200);
        }
        id
    }

    async fn product(&self, who: &Registered, sku: &str) -> String {
        let made = self
            .products
            .by(who)
            .post("/api/products", product(sku, "9.99"))
            .await
            .assert(201);
        assert_eq!(made["image"], Value::Null);
        made["id"].as_str().unwrap().to_owned()
    }
}

#[sqlx::test(migrations = "../../migrations")]
async fn an_uploaded_image_is_shown_as_links_in_the_list_and_by_id(pool: PgPool) {
    let shop = shop(pool).await;
    let owner = shop.products.register("owner@example.com").await;
    let id = shop.product(&owner, "MUG").await;
    let bytes = png(300, 200);
    let upload = shop
        .upload(&owner, "product_image", bytes.clone(), true)
        .await;

    let set = shop
        .products
        .by(&owner)
        .put(
            &format!("/api/products/{id}/image"),
            json!({"upload_id": upload}),
        )
        .await
        .assert(200);
    assert_eq!(set["image_upload_id"], upload.as_str());
    let image = &set["image"];
    assert_eq!(
        (image["width"].as_i64(), image["height"].as_i64()),
        (Some(300), Some(200))
    );
    assert_eq!(image["thumbnail_url"], Value::Null, "no thumbnails yet");
    let url = image["url"].as_str().unwrap();
    assert!(
        url.contains(&format!(
            "/{BUCKET}/org/{}/{upload}/original?",
            owner.org_id
        )),
        "{url}"
    );
    assert!(url.contains("X-Amz-Signature="), "{url}");
    // The link reads the file without credentials.
    let got = reqwest::get(url).await.unwrap();
    assert_eq!(got.status(), 200);
    assert_eq!(got.bytes().await.unwrap().to_vec(), bytes);

    // The same link in the list and by id, within the hour: a page's images stay cached.
    let listed = shop
        .products
        .by(&owner)
        .get("/api/products")
        .await
        .assert(200);
    assert_eq!(listed["items"][0]["image"], *image);
    let detail = shop
        .products
        .by(&owner)
        .get(&format!("/api/products/{id}"))
        .await
        .assert(200);
    assert_eq!(detail["image"], *image);

    // Once the thumbnails are written, the product shows them.
    let org: uuid::Uuid = owner.org_id.parse().unwrap();
    let upload_id: uuid::Uuid = upload.parse().unwrap();
    sqlx::query("SELECT stockroom_thumbnails_written($1, $2, 'jpeg', 300, 200)")
        .bind(org)
        .bind(upload_id)
        .execute(&shop.products.pool)
        .await
        .unwrap();
    let listed = shop
        .products
        .by(&owner)
        .get("/api/products")
        .await
        .assert(200);
    let image = &listed["items"][0]["image"];
    for (field, px) in [("thumbnail_url", 256), ("preview_url", 1024)] {
        let link = image[field].as_str().unwrap();
        assert!(
            link.contains(&format!("/org/{org}/{upload}/{px}.jpeg?")),
            "{link}"
        );
    }
    // Changing the image is a product update in the audit log (and so an event).
    let audited: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE entity_id = $1 AND action = 'product_updated'
           AND after ? 'image_upload_id'",
    )
    .bind(id.parse::<uuid::Uuid>().unwrap())
    .fetch_one(&shop.products.pool)
    .await
    .unwrap();
    assert_eq!(audited, 1);
}

#[sqlx::test(migrations = "../../migrations")]
async fn a_replaced_or_removed_image_is_marked_for_removal_with_its_files(pool: PgPool) {
    let shop = shop(pool).await;
    let owner = shop.products.register("owner@example.com").await;
    let id = shop.product(&owner, "MUG").await;
    let first = shop.upload(&owner, "product_image", png(4, 4), true).await;
    let second = shop.upload(&owner, "product_image", png(8, 8), true).await;
    let path = format!("/api/products/{id}/image");
    shop.products
        .by(&owner)
        .put(&path, json!({"upload_id": first}))
        .await
        .assert(200);
    // Setting the same image again changes nothing.
    shop.products
        .by(&owner)
        .put(&path, json!({"upload_id": first}))
        .await
        .assert(200);
    shop.products
        .by(&owner)
        .put(&path, json!({"upload_id": second}))
        .await
        .assert(200);
    let removed = |upload: &str| {
        let pool = shop.products.pool.clone();
        let upload: uuid::Uuid = upload.parse().unwrap();
        async move {
            sqlx::query_scalar::<_, bool>(
                "SELECT deleted_at IS NOT NULL FROM uploads WHERE id = $1",
            )
            .bind(upload)
            .fetch_one(&pool)
            .await
            .unwrap()
        }
    };
    assert!(removed(&first).await);
    assert!(!removed(&second).await);
    let gone = shop.products.by(&owner).delete(&path).await.assert(200);
    assert_eq!(gone["image"], Value::Null);
    assert_eq!(gone["image_upload_id"], Value::Null);
    assert!(removed(&second).await);
    // Removed uploads free their room at once; their files wait for the scheduler.
    let used: i64 = sqlx::query_scalar("SELECT bytes FROM storage_usage WHERE org_id = $1::uuid")
        .bind(&owner.org_id)
        .fetch_one(&shop.products.pool)
        .await
        .unwrap();
    assert_eq!(used, 0);
    assert_eq!(shop.bucket.keys().await.len(), 2);
}

#[sqlx::test(migrations = "../../migrations")]
async fn only_a_completed_unused_image_upload_of_the_organization_becomes_an_image(pool: PgPool) {
    let shop = shop(pool).await;
    let owner = shop.products.register("owner@example.com").await;
    let other = shop.products.register("other@example.com").await;
    let id = shop.product(&owner, "MUG").await;
    let second = shop.product(&owner, "CUP").await;
    let path = format!("/api/products/{id}/image");
    let put = |upload: String| {
        let products = &shop.products;
        let owner = &owner;
        let path = path.clone();
        async move {
            products
                .by(owner)
                .put(&path, json!({"upload_id": upload}))
                .await
        }
    };

    let attachment = shop.upload(&owner, "attachment", png(2, 2), true).await;
    assert_problem(
        &put(attachment).await,
        StatusCode::CONFLICT,
        "not_a_product_image",
    );
    let pending = shop.upload(&owner, "product_image", png(2, 2), false).await;
    assert_problem(
        &put(pending).await,
        StatusCode::CONFLICT,
        "upload_not_completed",
    );
    let foreign = shop.upload(&other, "product_image", png(2, 2), true).await;
    let refused = put(foreign).await;
    assert_problem(&refused, StatusCode::NOT_FOUND, "unknown_upload");
    assert_eq!(refused.body["errors"][0]["field"], "upload_id");

    let taken = shop.upload(&owner, "product_image", png(2, 2), true).await;
    shop.products
        .by(&owner)
        .put(
            &format!("/api/products/{second}/image"),
            json!({"upload_id": taken}),
        )
        .await
        .assert(200);
    assert_problem(
        &put(taken.clone()).await,
        StatusCode::CONFLICT,
        "upload_in_use",
    );
    // An upload in use is not deleted through /api/uploads.
    let refused = shop
        .storage
        .by(&owner)
        .delete(&format!("/api/uploads/{taken}"))
        .await;
    assert_problem(&refused, StatusCode::CONFLICT, "upload_in_use");

    let reader = shop
        .products
        .member(
            &owner.org_id,
            "reader@example.com",
            json!({"products": "read"}),
        )
        .await;
    let fine = shop.upload(&owner, "product_image", png(2, 2), true).await;
    let refused = shop
        .products
        .by(&reader)
        .put(&path, json!({"upload_id": fine}))
        .await;
    assert_problem(&refused, StatusCode::FORBIDDEN, "missing_permission");
    let unchanged = shop
        .products
        .by(&owner)
        .get(&format!("/api/products/{id}"))
        .await
        .assert(200);
    assert_eq!(unchanged["image"], Value::Null);
}
