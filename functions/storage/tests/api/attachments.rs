//! Attachments on every kind of thing, through the functions that own them: attached, listed,
//! read through a link that downloads the file under its name, removed with the file; the
//! permissions of what they are on; another organization's ids.
//!
//! Routes: `GET /api/products/{id}/attachments`, `POST /api/products/{id}/attachments`,
//!  `GET /api/products/{id}/attachments/{attachment_id}`,
//!  `DELETE /api/products/{id}/attachments/{attachment_id}`,
//!  `GET /api/suppliers/{id}/attachments`, `POST /api/suppliers/{id}/attachments`,
//!  `GET /api/suppliers/{id}/attachments/{attachment_id}`,
//!  `DELETE /api/suppliers/{id}/attachments/{attachment_id}`,
//!  `GET /api/purchase-orders/{id}/attachments`, `POST /api/purchase-orders/{id}/attachments`,
//!  `GET /api/purchase-orders/{id}/attachments/{attachment_id}`,
//!  `DELETE /api/purchase-orders/{id}/attachments/{attachment_id}`,
//!  `GET /api/purchase-orders/{id}/receipts`,
//!  `GET /api/purchase-orders/{id}/receipts/{receipt_id}/attachments`,
//!  `POST /api/purchase-orders/{id}/receipts/{receipt_id}/attachments`,
//!  `GET /api/purchase-orders/{id}/receipts/{receipt_id}/attachments/{attachment_id}`,
//!  `DELETE /api/purchase-orders/{id}/receipts/{receipt_id}/attachments/{attachment_id}`,
//!  `GET /api/tasks/{id}/attachments`, `POST /api/tasks/{id}/attachments`,
//!  `GET /api/tasks/{id}/attachments/{attachment_id}`,
//!  `DELETE /api/tasks/{id}/attachments/{attachment_id}`,
//!  `GET /api/{user_id}/tasks/{id}/attachments`, `POST /api/{user_id}/tasks/{id}/attachments`,
//!  `GET /api/{user_id}/tasks/{id}/attachments/{attachment_id}`,
//!  `DELETE /api/{user_id}/tasks/{id}/attachments/{attachment_id}`

use serde_json::{Value, json};
use shared::testing::{Registered, TestApp, assert_problem};
use sqlx::PgPool;

use crate::support::{BUCKET, Storage, png, send, storage};

const PDF: &[u8] =
    b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n";

struct Shop {
    s: Storage,
    products: TestApp,
    suppliers: TestApp,
    inventory: TestApp,
    tasks: TestApp,
}

async fn shop(pool: PgPool) -> Shop {
    let s = storage(pool.clone(), &[]).await;
    let state = shared::testing::state_as(
        pool.clone(),
        shared::db::Login::Tenant,
        &[("FILES_BUCKET", BUCKET)],
    );
    Shop {
        products: TestApp::new(products::app(state.clone()), pool.clone()),
        suppliers: TestApp::new(suppliers::app(state.clone()), pool.clone()),
        inventory: TestApp::new(inventory::app(state.clone()), pool.clone()),
        tasks: TestApp::new(tasks::app(state), pool),
        s,
    }
}

impl Shop {
    /// A completed upload of `bytes` named `name` for `purpose`: its id.
    async fn upload(
        &self,
        who: &Registered,
        purpose: &str,
        name: &str,
        content_type: &str,
        bytes: &[u8],
    ) -> String {
        let asked = self
            .s
            .ask(
                who,
                json!({"purpose": purpose, "filename": name, "content_type": content_type,
                       "size": bytes.len()}),
            )
            .await
            .assert(201);
        assert_eq!(send(&asked["form"], bytes.to_vec()).await, 204);
        let id = asked["upload"]["id"].as_str().unwrap().to_owned();
        self.s
            .app
            .by(who)
            .post(&format!("/api/uploads/{id}/complete"), json!({}))
            .await
            .assert(200);
        id
    }

    /// The base path of each kind of thing (`.../{id}`) and the function serving it: a
    /// product, a supplier, a purchase order, its receipt, a task.
    async fn things(&self, owner: &Registered) -> Vec<(String, &TestApp)> {
        let product = self
            .products
            .by(owner)
            .post(
                "/api/products",
                json!({"sku": "MUG", "name": "Mug", "price": "3.00"}),
            )
            .await
            .assert(201)["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let supplier = self
            .suppliers
            .by(owner)
            .post("/api/suppliers", json!({"name": "Potter & Sons"}))
            .await
            .assert(201)["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let order = self
            .inventory
            .by(owner)
            .post(
                "/api/purchase-orders",
                json!({"supplier_id": supplier, "lines": [
                    {"product_id": product, "quantity": 10, "unit_cost": "1.20"}]}),
            )
            .await
            .assert(201);
        let order_id = order["id"].as_str().unwrap().to_owned();
        let line = order["lines"][0]["id"].as_str().unwrap().to_owned();
        self.inventory
            .by(owner)
            .post(
                &format!("/api/purchase-orders/{order_id}/submit"),
                json!({}),
            )
            .await
            .assert(200);
        self.inventory
            .by(owner)
            .post(
                &format!("/api/purchase-orders/{order_id}/receive"),
                json!({"lines": [{"line_id": line, "quantity": 4}]}),
            )
            .await
            .assert(200);
        let receipts = self
            .inventory
            .by(owner)
            .get(&format!("/api/purchase-orders/{order_id}/receipts"))
            .await
            .assert(200);
        assert_eq!(receipts["items"].as_array().unwrap().len(), 1);
        assert_eq!(receipts["items"][0]["lines"][0]["quantity"], 4);
        let receipt = receipts["items"][0]["id"].as_str().unwrap().to_owned();
        let task = self
            .tasks
            .by(owner)
            .post("/api/tasks", json!({"title": "Check the delivery"}))
            .await
            .assert(201)["id"]
            .as_str()
            .unwrap()
            .to_owned();
        vec![
            (format!("/api/products/{product}"), &self.products),
            (format!("/api/suppliers/{supplier}"), &self.suppliers),
            (format!("/api/purchase-orders/{order_id}"), &self.inventory),
            (
                format!("/api/purchase-orders/{order_id}/receipts/{receipt}"),
                &self.inventory,
            ),
            (format!("/api/tasks/{task}"), &self.tasks),
            (format!("/api/{}/tasks/{task}", owner.user_id), &self.tasks),
        ]
    }
}

#[sqlx::test(migrations = "../../migrations")]
async fn a_file_on_each_kind_of_thing_is_listed_downloaded_under_its_name_and_removed(
    pool: PgPool,
) {
    let shop = shop(pool.clone()).await;
    let owner = shop.s.app.register("owner@example.com").await;
    let name = "Rechnung März \"final\".pdf".replace('"', "");
    for (base, app) in shop.things(&owner).await {
        let upload = shop
            .upload(&owner, "attachment", &name, "application/pdf", PDF)
            .await;
        let attached = app
            .by(&owner)
            .post(&format!("{base}/attachments"), json!({"upload_id": upload}))
            .await
            .assert(201);
        assert_eq!(attached["filename"], name.as_str(), "{base}");
        assert_eq!(attached["content_type"], "application/pdf");
        assert_eq!(attached["size"], PDF.len());
        assert_eq!(attached["created_by_user_id"], owner.user_id.as_str());
        let id = attached["id"].as_str().unwrap().to_owned();
        let listed = app
            .by(&owner)
            .get(&format!("{base}/attachments"))
            .await
            .assert(200);
        assert_eq!(listed["items"], json!([attached]), "{base}");

        let read = app
            .by(&owner)
            .get(&format!("{base}/attachments/{id}"))
            .await
            .assert(200);
        assert_eq!(read["filename"], name.as_str());
        let url = read["url"].as_str().unwrap();
        // The link has S3 answer the file under its name (a signed `response-content-disposition`,
        // which S3 honours; moto ignores it, so it is read from the link here).
        let disposition = reqwest::Url::parse(url)
            .unwrap()
            .query_pairs()
            .find(|(k, _)| k == "response-content-disposition")
            .map(|(_, v)| v.into_owned());
        assert_eq!(
            disposition.as_deref(),
            Some(shared::storage::filename::content_disposition(&name).as_str())
        );
        let downloaded = reqwest::get(url).await.unwrap();
        assert_eq!(downloaded.status(), 200, "{url}");
        assert_eq!(downloaded.bytes().await.unwrap().as_ref(), PDF);

        app.by(&owner)
            .delete(&format!("{base}/attachments/{id}"))
            .await
            .assert(204);
        let listed = app
            .by(&owner)
            .get(&format!("{base}/attachments"))
            .await
            .assert(200);
        assert_eq!(listed["items"], json!([]));
        app.by(&owner)
            .get(&format!("{base}/attachments/{id}"))
            .await
            .assert(404);
        assert!(
            shop.s.keys().await.is_empty(),
            "{base}: {:?}",
            shop.s.keys().await
        );
        assert_eq!(shop.s.rows_and_usage(&owner.org_id).await, (0, 0), "{base}");
    }
    // Each attach and remove is in the audit log.
    let audited: Vec<(String, i64)> = sqlx::query_as(
        "SELECT action, count(*) FROM audit_log WHERE entity = 'attachment' GROUP BY action ORDER BY action",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        audited,
        [
            ("attachment_added".to_owned(), 6),
            ("attachment_removed".to_owned(), 6)
        ]
    );
}

#[sqlx::test(migrations = "../../migrations")]
async fn attachments_follow_what_they_are_on_and_take_only_a_free_completed_file(pool: PgPool) {
    let shop = shop(pool).await;
    let owner = shop.s.app.register("owner@example.com").await;
    let things = shop.things(&owner).await;
    let (product, products) = &things[0];
    let (supplier, suppliers) = &things[1];
    let file = shop
        .upload(&owner, "attachment", "a.pdf", "application/pdf", PDF)
        .await;
    let attached = products
        .by(&owner)
        .post(
            &format!("{product}/attachments"),
            json!({"upload_id": file}),
        )
        .await
        .assert(201);
    let attachment = attached["id"].as_str().unwrap();

    // The module's permissions: a reader lists and reads, does not attach or remove.
    let reader = shop
        .s
        .app
        .member(
            &owner.org_id,
            "reader@example.com",
            json!({"products": "read"}),
        )
        .await;
    products
        .by(&reader)
        .get(&format!("{product}/attachments"))
        .await
        .assert(200);
    products
        .by(&reader)
        .get(&format!("{product}/attachments/{attachment}"))
        .await
        .assert(200);
    let own = shop
        .upload(&reader, "attachment", "b.pdf", "application/pdf", PDF)
        .await;
    let refused = products
        .by(&reader)
        .post(&format!("{product}/attachments"), json!({"upload_id": own}))
        .await;
    assert_problem(&refused, http::StatusCode::FORBIDDEN, "missing_permission");
    let refused = products
        .by(&reader)
        .delete(&format!("{product}/attachments/{attachment}"))
        .await;
    assert_problem(&refused, http::StatusCode::FORBIDDEN, "missing_permission");
    assert_problem(
        &suppliers
            .by(&reader)
            .get(&format!("{supplier}/attachments"))
            .await,
        http::StatusCode::FORBIDDEN,
        "missing_permission",
    );

    // Only a completed, free attachment upload of the organization.
    let attach = |upload: String| {
        let path = format!("{product}/attachments");
        let owner = &owner;
        async move {
            products
                .by(owner)
                .post(&path, json!({"upload_id": upload}))
                .await
        }
    };
    assert_problem(
        &attach(file.clone()).await,
        http::StatusCode::CONFLICT,
        "upload_in_use",
    );
    let image = shop
        .upload(&owner, "product_image", "p.png", "image/png", &png(2, 2))
        .await;
    assert_problem(
        &attach(image).await,
        http::StatusCode::CONFLICT,
        "not_an_attachment",
    );
    let asked = shop
        .s
        .ask(
            &owner,
            json!({"purpose": "attachment", "filename": "c.pdf",
                            "content_type": "application/pdf", "size": PDF.len()}),
        )
        .await
        .assert(201);
    let pending = asked["upload"]["id"].as_str().unwrap().to_owned();
    assert_problem(
        &attach(pending).await,
        http::StatusCode::CONFLICT,
        "upload_not_completed",
    );

    // Another organization sees none of it.
    let intruder = shop.s.app.register("intruder@example.com").await;
    let theirs = shop
        .upload(&intruder, "attachment", "x.pdf", "application/pdf", PDF)
        .await;
    assert_problem(
        &attach(theirs.clone()).await,
        http::StatusCode::NOT_FOUND,
        "unknown_upload",
    );
    for path in [
        format!("{product}/attachments"),
        format!("{product}/attachments/{attachment}"),
    ] {
        assert_problem(
            &products.by(&intruder).get(&path).await,
            http::StatusCode::NOT_FOUND,
            "not_found",
        );
    }
    assert_problem(
        &products
            .by(&intruder)
            .delete(&format!("{product}/attachments/{attachment}"))
            .await,
        http::StatusCode::NOT_FOUND,
        "not_found",
    );
    let listed: Value = products
        .by(&owner)
        .get(&format!("{product}/attachments"))
        .await
        .assert(200);
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
}
