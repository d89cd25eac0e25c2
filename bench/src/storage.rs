//! Storage (issue 30's numbers), through the storage router in this process, against the real
//! Postgres and moto's S3 (a process of its own, as in the tests and make dev):
//! - asking for an upload and completing it: no file passes through the function, so both
//!   answer in a few milliseconds (the completion's S3 calls are moto's: a HEAD, a ranged GET
//!   of 64 KB and a tagging call);
//! - thumbnails of a 12-megapixel JPEG, in a child process (`bench thumbnail <file>`): the time
//!   to decode, scale and encode both sizes, and the process's peak memory, from which the
//!   thumbnail function's Lambda memory setting follows.

use std::time::{Duration, Instant};

use http::Method;
use serde_json::{Value, json};

use crate::fixture::{Fixture, call, organization, owner_token};
use crate::report::{Row, Target};
use crate::stats::{millis, percentile};

const UPLOADS: usize = 200;
const BUCKET: &str = "stockroom-bench-files";

pub async fn run(
    fixture: &Fixture,
    workspace: &crate::functions::Workspace,
) -> anyhow::Result<Vec<Row>> {
    let bucket = shared::testing::TestBucket::start(BUCKET).await;
    let mut settings = fixture.settings(2)?;
    settings.storage.bucket = Some(BUCKET.to_owned());
    let pool = shared::db::pool(&settings)?;
    let state = shared::AppState::new(settings, pool)?;
    let router = storage::app(state.clone());
    let mut admin = sqlx::Connection::connect(&fixture.database_url).await?;
    let (org, owner) = organization(&mut admin, "Storage").await?;
    let token = owner_token(&fixture.pool, &state.settings.keys.snapshot(), owner, org).await?;
    let file = shared::testing::files::jpeg(800, 600);

    let mut asks = Vec::with_capacity(UPLOADS);
    let mut completions = Vec::with_capacity(UPLOADS);
    for i in 0..UPLOADS {
        let body = json!({"purpose": "product_image", "filename": format!("photo-{i}.jpg"),
                          "content_type": "image/jpeg", "size": file.len()});
        let started = Instant::now();
        let asked = call(&router, &token, Method::POST, "/api/uploads", body).await?;
        asks.push(started.elapsed());
        let sent = shared::testing::send_form(&asked["form"], file.clone()).await;
        anyhow::ensure!(sent == 204, "the bucket answered {sent}");
        let id = asked["upload"]["id"].as_str().unwrap_or_default();
        let started = Instant::now();
        call(
            &router,
            &token,
            Method::POST,
            &format!("/api/uploads/{id}/complete"),
            json!({}),
        )
        .await?;
        completions.push(started.elapsed());
    }
    drop(bucket);
    let mut rows = Vec::new();
    for (figure, samples) in [
        (
            "POST /api/uploads (a pre-signed form): p50 / p99",
            &mut asks,
        ),
        (
            "POST /api/uploads/{id}/complete (3 calls to moto's S3): p50 / p99",
            &mut completions,
        ),
    ] {
        let (p50, p99) = (
            millis(percentile(samples, 0.5)),
            millis(percentile(samples, 0.99)),
        );
        rows.push(
            Row::new("storage", figure, format!("{p50:.1} / {p99:.1} ms"))
                .target(Target::below(p50, 20.0, "p50 < 20 ms"))
                .data(json!({"samples": UPLOADS, "p50_ms": p50, "p99_ms": p99})),
        );
    }

    // Thumbnails of a 12-megapixel photo, each run in a fresh process for its peak memory.
    let photo = workspace.out_dir.join("photo-12mp.jpg");
    std::fs::write(&photo, photo_12mp())?;
    let bench = std::env::current_exe()?;
    let mut times = Vec::new();
    let mut peaks = Vec::new();
    for _ in 0..5 {
        let output = tokio::process::Command::new(&bench)
            .arg("thumbnail")
            .arg(&photo)
            .output()
            .await?;
        anyhow::ensure!(
            output.status.success(),
            "bench thumbnail failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let answer: Value = serde_json::from_slice(&output.stdout)?;
        times.push(Duration::from_secs_f64(
            answer["seconds"].as_f64().unwrap_or_default(),
        ));
        peaks.push(answer["peak_mb"].as_f64().unwrap_or_default());
    }
    let (p50, slowest) = (
        percentile(&mut times.clone(), 0.5).as_secs_f64(),
        times
            .iter()
            .max()
            .copied()
            .unwrap_or_default()
            .as_secs_f64(),
    );
    let peak = peaks.iter().copied().fold(0.0, f64::max);
    rows.push(
        Row::new(
            "storage",
            "thumbnails (256 + 1024 px) of a 12-megapixel JPEG, one core: median / slowest",
            format!("{p50:.2} / {slowest:.2} s"),
        )
        .target(Target::below(slowest, 1.5, "< 1.5 s"))
        .data(json!({"runs": times.len(), "median_s": p50, "slowest_s": slowest})),
    );
    rows.push(
        Row::new(
            "storage",
            "thumbnails of a 12-megapixel JPEG: peak memory of the process",
            format!("{peak:.0} MB"),
        )
        .target(Target::below(peak, 200.0, "< 200 MB"))
        .data(json!({"peak_mb": peak})),
    );
    Ok(rows)
}

/// A 4000 x 3000 photo-like JPEG: smooth gradients with fine noise (what a camera gives, and
/// what decoders and encoders find as hard).
fn photo_12mp() -> Vec<u8> {
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    let image = image::RgbImage::from_fn(4000, 3000, |x, y| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let noise = (seed % 24) as u32;
        image::Rgb([
            ((x * 255 / 4000 + noise) % 256) as u8,
            ((y * 255 / 3000 + noise) % 256) as u8,
            (((x + y) * 255 / 7000 + noise) % 256) as u8,
        ])
    });
    let mut bytes = std::io::Cursor::new(Vec::new());
    image
        .write_with_encoder(image::codecs::jpeg::JpegEncoder::new_with_quality(
            &mut bytes, 90,
        ))
        .map(|()| bytes.into_inner())
        .unwrap_or_default()
}

/// `bench thumbnail <file>`: renders the thumbnails of a JPEG as the thumbnail function does,
/// and prints the time it took and the process's peak resident memory (VmHWM), as JSON.
pub fn thumbnail(args: &[String]) -> anyhow::Result<()> {
    let path = args
        .first()
        .ok_or_else(|| anyhow::anyhow!("usage: bench thumbnail <file>"))?;
    let bytes = std::fs::read(path)?;
    let started = Instant::now();
    let thumbs = thumbnails::render::render(
        &bytes,
        shared::storage::FileType::Jpeg,
        &shared::storage::THUMBNAIL_SIZES,
        100_000_000,
    )
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let seconds = started.elapsed().as_secs_f64();
    let status = std::fs::read_to_string("/proc/self/status")?;
    let peak_kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_default();
    println!(
        "{}",
        json!({"seconds": seconds, "peak_mb": peak_kb / 1024.0,
               "sizes": thumbs.images.iter().map(Vec::len).collect::<Vec<_>>()})
    );
    Ok(())
}
