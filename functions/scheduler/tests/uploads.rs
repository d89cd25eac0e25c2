//! The `purge_uploads` job against moto's S3: removed and abandoned uploads go, files first;
//! what is in use stays.

use shared::testing::TestBucket;
use sqlx::PgPool;
use uuid::Uuid;

const BUCKET: &str = "stockroom-files";

/// An upload row of `org` (as the storage function writes it) and its file in the bucket.
async fn upload(pool: &PgPool, bucket: &TestBucket, org: Uuid, state: &str) -> Uuid {
    let id = Uuid::new_v4();
    let (completed, created, deleted) = match state {
        "pending" => ("NULL", "now()", "NULL"),
        "pending_long" => ("NULL", "now() - interval '2 hours'", "NULL"),
        "complete" => ("now()", "now()", "NULL"),
        "complete_long" => (
            "now() - interval '2 days'",
            "now() - interval '2 days'",
            "NULL",
        ),
        "removed" => ("now()", "now()", "now()"),
        _ => unreachable!(),
    };
    sqlx::query(&format!(
        "INSERT INTO uploads (id, org_id, purpose, filename, content_type, size, created_at,
                              completed_at, deleted_at, thumbnail_format)
         VALUES ($1, $2, 'product_image', 'a.png', 'image/png', 10, {created}, {completed},
                 {deleted}, 'jpeg')"
    ))
    .bind(id)
    .bind(org)
    .execute(pool)
    .await
    .unwrap();
    for key in shared::storage::upload_keys(org, id, Some("jpeg")) {
        bucket
            .s3
            .put_object()
            .bucket(BUCKET)
            .key(key)
            .body(b"0123456789".to_vec().into())
            .send()
            .await
            .unwrap();
    }
    id
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn removed_and_abandoned_uploads_go_with_their_files_and_used_ones_stay(pool: PgPool) {
    let bucket = TestBucket::start(BUCKET).await;
    let org: Uuid =
        sqlx::query_scalar("INSERT INTO organizations (name) VALUES ('Acme') RETURNING id")
            .fetch_one(&pool)
            .await
            .unwrap();
    let fresh = upload(&pool, &bucket, org, "pending").await;
    let abandoned = upload(&pool, &bucket, org, "pending_long").await;
    let waiting = upload(&pool, &bucket, org, "complete").await;
    let orphan = upload(&pool, &bucket, org, "complete_long").await;
    let removed = upload(&pool, &bucket, org, "removed").await;
    let image = upload(&pool, &bucket, org, "complete_long").await;
    sqlx::query(
        "INSERT INTO products (org_id, sku, name, price, currency, image_upload_id)
         VALUES ($1, 'MUG', 'Mug', 1, 'EUR', $2)",
    )
    .bind(org)
    .bind(image)
    .execute(&pool)
    .await
    .unwrap();
    let usage = || async {
        sqlx::query_scalar::<_, i64>("SELECT bytes FROM storage_usage WHERE org_id = $1")
            .bind(org)
            .fetch_one(&pool)
            .await
            .unwrap()
    };
    // Every live upload counts, the removed one does not.
    assert_eq!(usage().await, 50);

    let state = shared::testing::state_as(
        pool.clone(),
        shared::db::Login::Worker,
        &[("FILES_BUCKET", BUCKET)],
    );
    assert_eq!(scheduler::purge_uploads(&state).await.unwrap(), 3);
    let left: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM uploads ORDER BY created_at, id")
        .fetch_all(&pool)
        .await
        .unwrap();
    let mut kept = vec![fresh, waiting, image];
    kept.sort();
    let mut left_sorted = left.clone();
    left_sorted.sort();
    assert_eq!(left_sorted, kept);
    let mut keys: Vec<String> = kept
        .iter()
        .flat_map(|id| shared::storage::upload_keys(org, *id, Some("jpeg")))
        .collect();
    keys.sort();
    assert_eq!(bucket.keys().await, keys);
    for gone in [abandoned, orphan, removed] {
        assert!(
            !bucket
                .keys()
                .await
                .iter()
                .any(|k| k.contains(&gone.to_string()))
        );
    }
    assert_eq!(usage().await, 30);
    // Nothing more to do: a second run purges nothing.
    assert_eq!(scheduler::purge_uploads(&state).await.unwrap(), 0);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn without_a_files_bucket_there_is_nothing_to_purge(pool: PgPool) {
    let state = shared::testing::state_as(pool, shared::db::Login::Worker, &[]);
    assert_eq!(scheduler::purge_uploads(&state).await.unwrap(), 0);
}
