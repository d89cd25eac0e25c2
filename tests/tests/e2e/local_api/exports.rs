//! `GET /api/dashboard/export/{file}`: a large export goes to S3 behind a short-lived link.

use super::*;

/// Rows of the first sheet of an XLSX file (header included), read by Python's zipfile.
fn xlsx_rows(bytes: &[u8]) -> usize {
    let path = std::env::temp_dir().join(format!("export-{}.xlsx", uuid::Uuid::new_v4()));
    std::fs::write(&path, bytes).unwrap();
    let output = std::process::Command::new("python3")
        .args([
            "-c",
            "import sys, zipfile; print(zipfile.ZipFile(sys.argv[1]).read('xl/worksheets/sheet1.xml').count(b'<row '))",
        ])
        .arg(&path)
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&path);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// An organization with 100,000 products exports every kind through the real binary: what is
/// larger than one Lambda response (which Lambda would refuse with a 502, and which left the
/// local function hanging) goes to S3 (moto) and answers 303 with a pre-signed link; what fits
/// is the response. Every file has all its rows, and the function answers afterwards.
#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn large_exports_go_to_s3_behind_a_short_lived_link(pool: PgPool) {
    let moto = shared::testing::Moto::start();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let bucket = client
        .put(format!("{}/stockroom-exports", moto.endpoint))
        .send()
        .await
        .unwrap();
    assert!(bucket.status().is_success(), "{}", bucket.status());
    let api = start_with(
        &pool,
        &[
            ("EXPORT_BUCKET", "stockroom-exports"),
            ("EXPORT_URL_TTL_SECONDS", "120"),
            ("AWS_ENDPOINT_URL_S3", &moto.endpoint),
            ("AWS_REGION", "eu-west-1"),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
        ],
    )
    .await;
    let session = sign_up(&client, &api).await;
    let token = session["access_token"].as_str().unwrap();
    let org: uuid::Uuid = session["organization"]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    const N: i64 = 100_000;
    sqlx::query(
        "INSERT INTO products (org_id, sku, name, price, currency, cost, barcode, reorder_point)
         SELECT $1, 'SKU-' || lpad(n::text, 6, '0'), 'Product number ' || n, 9.99, 'EUR', 4.5,
                '400' || lpad(n::text, 10, '0'), 5
         FROM generate_series(1, $2) n",
    )
    .bind(org)
    .bind(N)
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO stock_levels (org_id, product_id, location_id, on_hand)
         SELECT p.org_id, p.id, l.id, 12 FROM products p JOIN locations l ON l.org_id = p.org_id
         WHERE p.org_id = $1",
    )
    .bind(org)
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO stock_movements (org_id, product_id, location_id, kind, quantity, reason)
         SELECT org_id, product_id, location_id, 'receive', 12, 'opening stock'
         FROM stock_levels WHERE org_id = $1",
    )
    .bind(org)
    .execute(&pool)
    .await
    .unwrap();

    let mut linked = 0;
    for kind in ["products", "stock", "movements"] {
        for format in ["csv", "xlsx"] {
            let response = client
                .get(format!("{}/api/dashboard/export/{kind}.{format}", api.base))
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            let status = response.status();
            let bytes = if status == 303 {
                linked += 1;
                let location = response.headers()["location"].to_str().unwrap().to_owned();
                let link: Value = response.json().await.unwrap();
                assert_eq!(link["url"], location.as_str());
                assert!(
                    link["file_name"].as_str().unwrap().starts_with(kind),
                    "{link}"
                );
                assert!(
                    location.contains("X-Amz-Signature=") && location.contains("X-Amz-Expires=120"),
                    "{location}"
                );
                let size = link["size_bytes"].as_u64().unwrap();
                assert!(size > 4_000_000, "{link}");
                // The link needs no credentials.
                let download = reqwest::get(&location).await.unwrap();
                assert_eq!(download.status(), 200, "{location}");
                let bytes = download.bytes().await.unwrap();
                assert_eq!(bytes.len() as u64, size);
                bytes
            } else {
                assert_eq!(status, 200, "{kind}.{format}");
                let bytes = response.bytes().await.unwrap();
                assert!(
                    bytes.len() <= 4_000_000,
                    "{kind}.{format}: {} bytes inline",
                    bytes.len()
                );
                bytes
            };
            let rows = match format {
                "csv" => bytes.iter().filter(|b| **b == b'\n').count(),
                _ => xlsx_rows(&bytes),
            };
            assert_eq!(rows as i64, N + 1, "{kind}.{format}: header and every row");
        }
    }
    assert!(
        linked >= 3,
        "every CSV of 100,000 rows is over the inline limit"
    );
    // The function answers on after the large exports.
    let summary = client
        .get(format!("{}/api/dashboard/summary", api.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(summary.status(), 200);
}
