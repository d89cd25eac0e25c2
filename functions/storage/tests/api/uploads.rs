//! `/api/uploads` against moto's S3: the form, the completion's checks, the quota, tenancy.
//!
//! Routes: `POST /api/uploads`, `GET /api/uploads/{id}`, `POST /api/uploads/{id}/complete`,
//!  `DELETE /api/uploads/{id}`

use base64::Engine;
use serde_json::{Value, json};
use shared::testing::assert_problem;
use sqlx::PgPool;

use crate::support::{BUCKET, png, png_bomb, send, storage};

#[sqlx::test(migrations = "../../migrations")]
async fn a_png_sent_with_the_form_is_completed_kept_and_counted(pool: PgPool) {
    let s = storage(pool, &[]).await;
    let owner = s.app.register("owner@example.com").await;
    let bytes = png(40, 30);
    let size = bytes.len() as i64;
    let asked = s
        .ask(
            &owner,
            json!({"purpose": "product_image", "filename": "Shelf photo.png",
                   "content_type": "image/png", "size": size}),
        )
        .await
        .assert(201);
    let upload = &asked["upload"];
    assert_eq!(upload["status"], "pending");
    assert_eq!(upload["filename"], "Shelf photo.png");
    let id = upload["id"].as_str().unwrap();
    // Pending uploads hold their room.
    assert_eq!(s.rows_and_usage(&owner.org_id).await, (1, size));
    let key = asked["form"]["fields"]["key"].as_str().unwrap();
    assert_eq!(key, format!("org/{}/{id}/original", owner.org_id));
    assert_eq!(send(&asked["form"], bytes).await, 204);

    let done = s
        .app
        .by(&owner)
        .post(&format!("/api/uploads/{id}/complete"), json!({}))
        .await
        .assert(200);
    assert_eq!(done["status"], "complete");
    assert_eq!(
        (done["width"].as_i64(), done["height"].as_i64()),
        (Some(40), Some(30))
    );
    assert!(done["completed_at"].is_string());
    // Kept: the pending tag the lifecycle rule expires by is gone.
    let tags = s
        .bucket
        .s3
        .get_object_tagging()
        .bucket(BUCKET)
        .key(key)
        .send()
        .await
        .unwrap();
    assert!(tags.tag_set().is_empty(), "{:?}", tags.tag_set());
    // Completing again answers the same.
    let again = s
        .app
        .by(&owner)
        .post(&format!("/api/uploads/{id}/complete"), json!({}))
        .await
        .assert(200);
    assert_eq!(again, done);
    assert_eq!(
        s.app
            .by(&owner)
            .get(&format!("/api/uploads/{id}"))
            .await
            .assert(200),
        done
    );
    assert_eq!(s.rows_and_usage(&owner.org_id).await, (1, size));
}

#[sqlx::test(migrations = "../../migrations")]
async fn the_forms_policy_fixes_key_type_and_exact_size_and_is_signed_for_s3(pool: PgPool) {
    let s = storage(pool, &[]).await;
    let owner = s.app.register("owner@example.com").await;
    let form = s
        .form_for(&owner, "invoice.pdf", "application/pdf", b"%PDF-1.7 ...")
        .await["form"]
        .clone();
    let fields = form["fields"].as_object().unwrap();
    let policy: Value = serde_json::from_slice(
        &base64::engine::general_purpose::STANDARD
            .decode(fields["policy"].as_str().unwrap())
            .unwrap(),
    )
    .unwrap();
    let conditions = policy["conditions"].as_array().unwrap();
    for wanted in [
        json!({"bucket": BUCKET}),
        json!(["content-length-range", 12, 12]),
        json!({"key": fields["key"]}),
        json!({"Content-Type": "application/pdf"}),
        json!({"x-amz-credential": fields["x-amz-credential"]}),
        json!({"x-amz-date": fields["x-amz-date"]}),
        json!({"tagging": fields["tagging"]}),
    ] {
        assert!(
            conditions.contains(&wanted),
            "{wanted} not in {conditions:?}"
        );
    }
    // Every field sent is one the policy names (S3 refuses a form with any other).
    for name in fields
        .keys()
        .filter(|n| !["policy", "x-amz-signature"].contains(&n.as_str()))
    {
        assert!(
            conditions.iter().any(|c| c.get(name).is_some()),
            "{name} is not in the policy"
        );
    }
    let expires: chrono::DateTime<chrono::Utc> =
        policy["expiration"].as_str().unwrap().parse().unwrap();
    let left = expires - chrono::Utc::now();
    assert!(left > chrono::Duration::seconds(280) && left <= chrono::Duration::seconds(300));
    // The signature, computed again by an independent SigV4 implementation (Python's hmac) from
    // the test credentials' secret ("test").
    let check = std::process::Command::new("python3")
        .arg("-c")
        .arg(
            r#"
import hashlib, hmac, sys
policy, credential, signature = sys.argv[1:4]
_, day, region, service, _ = credential.split("/")
key = ("AWS4" + "test").encode()
for part in (day, region, service, "aws4_request"):
    key = hmac.new(key, part.encode(), hashlib.sha256).digest()
expected = hmac.new(key, policy.encode(), hashlib.sha256).hexdigest()
sys.exit(0 if hmac.compare_digest(expected, signature) else 1)
"#,
        )
        .args([
            fields["policy"].as_str().unwrap(),
            fields["x-amz-credential"].as_str().unwrap(),
            fields["x-amz-signature"].as_str().unwrap(),
        ])
        .status()
        .unwrap();
    assert!(check.success(), "the policy's signature does not verify");
    assert!(
        fields["x-amz-credential"]
            .as_str()
            .unwrap()
            .ends_with("/eu-west-1/s3/aws4_request")
    );
}

#[sqlx::test(migrations = "../../migrations")]
async fn files_that_are_not_what_they_claim_are_refused_and_nothing_stays(pool: PgPool) {
    let s = storage(pool, &[]).await;
    let owner = s.app.register("owner@example.com").await;
    let exe = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff".repeat(10);
    let svg = br#"<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>"#;
    let html = b"<!DOCTYPE html><html><body>hello</body></html>";
    let cases: [(&str, Vec<u8>, &str); 5] = [
        ("image/jpeg", exe, "content_mismatch"),
        ("image/png", svg.to_vec(), "content_mismatch"),
        ("image/webp", html.to_vec(), "content_mismatch"),
        ("application/pdf", png(4, 4), "content_mismatch"),
        ("image/png", png_bomb(50_000, 50_000), "image_too_large"),
    ];
    for (content_type, bytes, code) in cases {
        let asked = s.form_for(&owner, "x", content_type, &bytes).await;
        assert_eq!(send(&asked["form"], bytes).await, 204);
        let id = asked["upload"]["id"].as_str().unwrap();
        let refused = s
            .app
            .by(&owner)
            .post(&format!("/api/uploads/{id}/complete"), json!({}))
            .await;
        assert_problem(
            &refused,
            http::StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        );
        assert_eq!(
            refused.body["errors"][0]["code"], code,
            "{content_type}: {}",
            refused.body
        );
        assert_eq!(refused.body["errors"][0]["field"], "file");
        // Gone: the object, the row, and its room.
        assert!(
            s.keys().await.is_empty(),
            "{content_type}: {:?}",
            s.keys().await
        );
        assert_eq!(
            s.rows_and_usage(&owner.org_id).await,
            (0, 0),
            "{content_type}"
        );
        s.app
            .by(&owner)
            .get(&format!("/api/uploads/{id}"))
            .await
            .assert(404);
    }
}

#[sqlx::test(migrations = "../../migrations")]
async fn a_file_larger_than_declared_is_refused_and_deleted(pool: PgPool) {
    // S3 refuses it by the policy's content-length-range; moto does not enforce policies, so
    // the completion's own check is what stops it here.
    let s = storage(pool, &[]).await;
    let owner = s.app.register("owner@example.com").await;
    let bytes = png(8, 8);
    let asked = s
        .form_for(&owner, "a.png", "image/png", &bytes[..bytes.len() - 10])
        .await;
    assert_eq!(send(&asked["form"], bytes).await, 204);
    let id = asked["upload"]["id"].as_str().unwrap();
    let refused = s
        .app
        .by(&owner)
        .post(&format!("/api/uploads/{id}/complete"), json!({}))
        .await;
    assert_eq!(refused.status.as_u16(), 422);
    assert_eq!(refused.body["errors"][0]["code"], "size_mismatch");
    assert!(s.keys().await.is_empty());
    assert_eq!(s.rows_and_usage(&owner.org_id).await, (0, 0));
}

#[sqlx::test(migrations = "../../migrations")]
async fn completing_before_the_file_arrives_is_409_and_the_upload_waits(pool: PgPool) {
    let s = storage(pool, &[]).await;
    let owner = s.app.register("owner@example.com").await;
    let bytes = png(2, 2);
    let asked = s.form_for(&owner, "a.png", "image/png", &bytes).await;
    let id = asked["upload"]["id"].as_str().unwrap();
    let early = s
        .app
        .by(&owner)
        .post(&format!("/api/uploads/{id}/complete"), json!({}))
        .await;
    assert_problem(&early, http::StatusCode::CONFLICT, "upload_not_received");
    assert_eq!(send(&asked["form"], bytes).await, 204);
    s.app
        .by(&owner)
        .post(&format!("/api/uploads/{id}/complete"), json!({}))
        .await
        .assert(200);
}

#[sqlx::test(migrations = "../../migrations")]
async fn bad_requests_are_422_naming_each_field_and_record_nothing(pool: PgPool) {
    let s = storage(pool, &[("UPLOAD_MAX_BYTES", "1000")]).await;
    let owner = s.app.register("owner@example.com").await;
    let long = format!("{}.pdf", "a".repeat(300));
    let cases = [
        (
            json!({"filename": "../../etc/passwd"}),
            "filename",
            "invalid_filename",
        ),
        (
            json!({"filename": "in\"voice.pdf"}),
            "filename",
            "invalid_filename",
        ),
        (
            json!({"filename": "two\nlines.pdf"}),
            "filename",
            "invalid_filename",
        ),
        (json!({"filename": long}), "filename", "too_long"),
        (
            json!({"content_type": "text/html"}),
            "content_type",
            "not_allowed",
        ),
        (
            json!({"content_type": "image/svg+xml"}),
            "content_type",
            "not_allowed",
        ),
        (
            json!({"purpose": "product_image"}),
            "content_type",
            "not_an_image",
        ),
        (json!({"purpose": "avatar"}), "purpose", "invalid"),
        (json!({"size": 0}), "size", "invalid"),
        (json!({"size": 1001}), "size", "too_large"),
    ];
    for (change, field, code) in cases {
        let mut body = json!({"purpose": "attachment", "filename": "a.pdf",
                              "content_type": "application/pdf", "size": 100});
        for (k, v) in change.as_object().unwrap() {
            body[k] = v.clone();
        }
        let refused = s.ask(&owner, body).await;
        assert_eq!(refused.status.as_u16(), 422, "{change}: {}", refused.body);
        let errors = refused.body["errors"].as_array().unwrap();
        assert!(
            errors
                .iter()
                .any(|e| e["field"] == field && e["code"] == code),
            "{change}: {errors:?}"
        );
        if field == "content_type" && code == "not_allowed" {
            assert!(
                errors[0]["message"]
                    .as_str()
                    .unwrap()
                    .contains(change["content_type"].as_str().unwrap())
            );
        }
    }
    assert_eq!(s.rows_and_usage(&owner.org_id).await, (0, 0));
    assert!(s.keys().await.is_empty());
}

#[sqlx::test(migrations = "../../migrations")]
async fn an_upload_past_the_quota_is_413_and_removing_one_frees_its_room(pool: PgPool) {
    let s = storage(pool, &[("STORAGE_QUOTA_BYTES", "1000")]).await;
    let owner = s.app.register("owner@example.com").await;
    let body = |size: i64| {
        json!({"purpose": "attachment", "filename": "a.pdf", "content_type": "application/pdf",
               "size": size})
    };
    let first = s.ask(&owner, body(600)).await.assert(201);
    let refused = s.ask(&owner, body(600)).await;
    assert_problem(
        &refused,
        http::StatusCode::PAYLOAD_TOO_LARGE,
        "quota_exceeded",
    );
    assert_eq!(refused.body["used_bytes"], 600);
    assert_eq!(refused.body["quota_bytes"], 1000);
    assert_eq!(s.rows_and_usage(&owner.org_id).await, (1, 600));
    // The organization shows what it uses and may use.
    let state = shared::testing::state_with(s.pool.clone(), &[("STORAGE_QUOTA_BYTES", "1000")]);
    let users = shared::testing::TestApp::new(users::app(state), s.pool.clone());
    let organization = users.by(&owner).get("/api/organization").await.assert(200);
    assert_eq!(
        organization["storage"],
        json!({"used_bytes": 600, "quota_bytes": 1000})
    );
    // Another organization has its own quota.
    let other = s.app.register("other@example.com").await;
    s.ask(&other, body(600)).await.assert(201);
    // A pending upload removed frees its room.
    let id = first["upload"]["id"].as_str().unwrap();
    s.app
        .by(&owner)
        .delete(&format!("/api/uploads/{id}"))
        .await
        .assert(204);
    assert_eq!(s.rows_and_usage(&owner.org_id).await, (0, 0));
    s.ask(&owner, body(600)).await.assert(201);
}

#[sqlx::test(migrations = "../../migrations")]
async fn another_organizations_upload_is_404_and_untouched(pool: PgPool) {
    let s = storage(pool, &[]).await;
    let owner = s.app.register("owner@example.com").await;
    let intruder = s.app.register("intruder@example.com").await;
    let bytes = png(2, 2);
    let asked = s.form_for(&owner, "a.png", "image/png", &bytes).await;
    assert_eq!(send(&asked["form"], bytes).await, 204);
    let id = asked["upload"]["id"].as_str().unwrap();
    for response in [
        s.app.by(&intruder).get(&format!("/api/uploads/{id}")).await,
        s.app
            .by(&intruder)
            .post(&format!("/api/uploads/{id}/complete"), json!({}))
            .await,
        s.app
            .by(&intruder)
            .delete(&format!("/api/uploads/{id}"))
            .await,
    ] {
        assert_problem(&response, http::StatusCode::NOT_FOUND, "not_found");
    }
    assert_eq!(s.keys().await.len(), 1);
    let still = s
        .app
        .by(&owner)
        .get(&format!("/api/uploads/{id}"))
        .await
        .assert(200);
    assert_eq!(still["status"], "pending");
}

#[sqlx::test(migrations = "../../migrations")]
async fn uploading_needs_write_access_the_purpose_needs(pool: PgPool) {
    let s = storage(pool, &[]).await;
    let owner = s.app.register("owner@example.com").await;
    let reader = s
        .app
        .member(
            &owner.org_id,
            "reader@example.com",
            json!({"products": "read", "tasks": "read"}),
        )
        .await;
    let image = json!({"purpose": "product_image", "filename": "a.png",
                       "content_type": "image/png", "size": 10});
    let refused = s.ask(&reader, image.clone()).await;
    assert_problem(&refused, http::StatusCode::FORBIDDEN, "missing_permission");
    let clerk = s
        .app
        .member(
            &owner.org_id,
            "clerk@example.com",
            json!({"suppliers": "write"}),
        )
        .await;
    assert_problem(
        &s.ask(&clerk, image).await,
        http::StatusCode::FORBIDDEN,
        "missing_permission",
    );
    s.ask(
        &clerk,
        json!({"purpose": "attachment", "filename": "a.pdf", "content_type": "application/pdf",
               "size": 10}),
    )
    .await
    .assert(201);
}

#[sqlx::test(migrations = "../../migrations")]
async fn without_a_files_bucket_uploads_are_503(pool: PgPool) {
    let state = shared::testing::state(pool.clone());
    let app = shared::testing::TestApp::new(storage::app(state), pool);
    let owner = app.register("owner@example.com").await;
    let refused = app
        .by(&owner)
        .post(
            "/api/uploads",
            json!({"purpose": "attachment", "filename": "a.pdf",
                   "content_type": "application/pdf", "size": 10}),
        )
        .await;
    assert_problem(
        &refused,
        http::StatusCode::SERVICE_UNAVAILABLE,
        "storage_unavailable",
    );
}
