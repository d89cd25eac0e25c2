//! The storage function over a test database and a bucket on moto's S3.

use serde_json::{Value, json};
use shared::testing::{Registered, TestApp, TestBucket, TestResponse};
use sqlx::PgPool;

pub use shared::testing::files::{png, png_bomb};
pub use shared::testing::send_form as send;

pub const BUCKET: &str = "stockroom-files";

pub struct Storage {
    pub app: TestApp,
    pub bucket: TestBucket,
    pub pool: PgPool,
}

/// The storage function with `settings` (the bucket's added), and its bucket on a new moto.
pub async fn storage(pool: PgPool, settings: &[(&str, &str)]) -> Storage {
    let bucket = TestBucket::start(BUCKET).await;
    let mut all = vec![("FILES_BUCKET", BUCKET)];
    all.extend_from_slice(settings);
    let state = shared::testing::state_with(pool.clone(), &all);
    Storage {
        app: TestApp::new(storage::app(state), pool.clone()),
        bucket,
        pool,
    }
}

impl Storage {
    /// `POST /api/uploads` by `who`; the answer.
    pub async fn ask(&self, who: &Registered, body: Value) -> TestResponse {
        self.app.by(who).post("/api/uploads", body).await
    }

    /// An attachment upload of `bytes` as `content_type` asked for by `who`: the answer (201).
    pub async fn form_for(
        &self,
        who: &Registered,
        name: &str,
        content_type: &str,
        bytes: &[u8],
    ) -> Value {
        self.ask(
            who,
            json!({"purpose": "attachment", "filename": name, "content_type": content_type,
                   "size": bytes.len()}),
        )
        .await
        .assert(201)
    }

    /// The keys in the bucket.
    pub async fn keys(&self) -> Vec<String> {
        self.bucket.keys().await
    }

    /// Uploads rows (removed ones too) and the organization's usage.
    pub async fn rows_and_usage(&self, org: &str) -> (i64, i64) {
        let org: uuid::Uuid = org.parse().expect("an org id");
        let rows = sqlx::query_scalar!(
            r#"SELECT count(*) AS "n!" FROM uploads WHERE org_id = $1"#,
            org
        )
        .fetch_one(&self.pool)
        .await
        .expect("rows");
        let usage = sqlx::query_scalar!("SELECT bytes FROM storage_usage WHERE org_id = $1", org)
            .fetch_optional(&self.pool)
            .await
            .expect("usage")
            .unwrap_or(0);
        (rows, usage)
    }
}
