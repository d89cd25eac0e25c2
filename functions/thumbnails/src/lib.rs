//! The `thumbnails` function: the files bucket invokes it for every new upload
//! (`org/<org>/<upload>/original`, S3's `ObjectCreated` event), and for a product image it
//! writes a 256 and a 1024 pixel thumbnail beside the file and records them; products show them
//! from then on.
//!
//! S3 invokes it asynchronously, before or after the upload is completed. What cannot get
//! thumbnails (an attachment, a PDF, a removed upload, a file that is not the image it claims
//! to be: its completion refuses and deletes it) is skipped; a failure to reach S3 or the
//! database fails the invocation, and Lambda tries again (twice, then the dead-letter queue).
//! Writing the same thumbnails twice is harmless.
//!
//! It logs in as `stockroom_worker` and reaches uploads only through two functions of the
//! migration: what an upload is, and that its thumbnails were written.

pub mod render;

use lambda_runtime::LambdaEvent;
use serde::Deserialize;
use serde_json::{Value, json};
use shared::AppState;
use shared::storage::{FileType, THUMBNAIL_SIZES, parse_original_key, thumbnail_key, upload_keys};
use uuid::Uuid;

#[derive(Debug, Deserialize)]
struct S3Event {
    #[serde(rename = "Records", default)]
    records: Vec<Record>,
}

#[derive(Debug, Deserialize)]
struct Record {
    s3: Entity,
}

#[derive(Debug, Deserialize)]
struct Entity {
    object: Object,
}

#[derive(Debug, Deserialize)]
struct Object {
    /// URL-encoded, as S3 sends it (the keys made here need no encoding).
    key: String,
}

/// An event's key as stored: S3 sends it form-encoded (`+` a space, `%2F` a slash).
fn decode_key(key: &str) -> String {
    form_urlencoded::parse(format!("k={key}").as_bytes())
        .next()
        .map(|(_, key)| key.into_owned())
        .unwrap_or_default()
}

/// One invocation: every record of the event; what each did.
pub async fn handle(
    state: &AppState,
    event: LambdaEvent<Value>,
) -> Result<Value, lambda_runtime::Error> {
    // S3's test event (sent when the notification is configured) has no records.
    let event: S3Event = serde_json::from_value(event.payload).unwrap_or(S3Event {
        records: Vec::new(),
    });
    let mut done = Vec::new();
    for record in event.records {
        let key = decode_key(&record.s3.object.key);
        let Some((org, upload)) = parse_original_key(&key) else {
            tracing::info!(key = %record.s3.object.key, "not an upload's file");
            continue;
        };
        let outcome = thumbnails_of(state, org, upload).await.map_err(|error| {
            tracing::error!(error = format!("{error:#}"), %upload, "thumbnails failed");
            if let Some(error) = error.downcast_ref::<sqlx::Error>() {
                shared::db::after_refused_login(error);
            }
            error
        })?;
        tracing::info!(%upload, outcome, "upload handled");
        done.push(json!({"upload_id": upload, "outcome": outcome}));
    }
    Ok(json!({ "uploads": done }))
}

/// Makes and records the thumbnails of the upload `upload` of `org`; what happened.
pub async fn thumbnails_of(
    state: &AppState,
    org: Uuid,
    upload: Uuid,
) -> anyhow::Result<&'static str> {
    let Some(files) = &state.files else {
        anyhow::bail!("FILES_BUCKET is not set");
    };
    let found = sqlx::query!(
        r#"SELECT purpose AS "purpose!", content_type AS "content_type!", size AS "size!",
                  thumbnail_format
           FROM stockroom_upload_for_thumbnails($1, $2)"#,
        org,
        upload
    )
    .fetch_optional(&state.pool)
    .await?;
    let Some(found) = found else {
        return Ok("unknown_or_removed");
    };
    if found.thumbnail_format.is_some() {
        return Ok("already_made");
    }
    let file_type = match FileType::parse(&found.content_type) {
        Some(t) if t.is_image() && found.purpose == "product_image" => t,
        _ => return Ok("not_a_product_image"),
    };
    if found.size > state.settings.storage.max_file_bytes {
        return Ok("too_large");
    }
    let bucket = files.bucket().await;
    let Some(bytes) = bucket
        .get_if_there(&shared::storage::original_key(org, upload))
        .await?
    else {
        // Refused at completion (or removed) meanwhile.
        return Ok("file_gone");
    };
    let max_pixels = state.settings.storage.max_image_pixels;
    let rendered = tokio::task::spawn_blocking(move || {
        render::render(&bytes, file_type, &THUMBNAIL_SIZES, max_pixels)
    })
    .await?;
    let thumbs = match rendered {
        Ok(thumbs) => thumbs,
        Err(refused) => {
            tracing::warn!(%upload, reason = %refused, "no thumbnails");
            return Ok("not_renderable");
        }
    };
    for (px, image) in THUMBNAIL_SIZES.iter().zip(thumbs.images) {
        bucket
            .put(
                &thumbnail_key(org, upload, *px, thumbs.format),
                image,
                thumbs.content_type,
                None,
            )
            .await?;
    }
    let recorded = sqlx::query_scalar!(
        r#"SELECT stockroom_thumbnails_written($1, $2, $3, $4, $5) AS "recorded!""#,
        org,
        upload,
        thumbs.format,
        i32::try_from(thumbs.width).ok(),
        i32::try_from(thumbs.height).ok()
    )
    .fetch_one(&state.pool)
    .await?;
    if !recorded {
        // Removed while the thumbnails were made: they go too.
        bucket
            .delete(&upload_keys(org, upload, Some(thumbs.format)))
            .await?;
        return Ok("removed_meanwhile");
    }
    Ok("made")
}
