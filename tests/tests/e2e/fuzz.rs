//! Schemathesis fuzzes every operation of the OpenAPI document against the functions' own
//! routers, signed in as a real user: no 5xx, every response matches the document, every request
//! the document allows is accepted and every request it forbids is refused.

use sqlx::PgPool;

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn schemathesis_finds_the_api_and_its_document_in_agreement(pool: PgPool) {
    // Wise configured (an address where nothing listens, and a fresh public key), so the
    // payment and webhook operations answer as in production instead of "not configured".
    let public_key = wise_public_key();
    // A files bucket on moto's S3, so uploads answer with their forms.
    let moto = shared::testing::Moto::start();
    moto.use_from_this_process();
    let created = reqwest::Client::new()
        .put(format!("{}/stockroom-files", moto.endpoint))
        .send()
        .await
        .unwrap();
    assert!(created.status().is_success(), "{}", created.status());
    let state = shared::testing::state_with(
        pool.clone(),
        &[
            ("WISE_API_URL", "http://127.0.0.1:9"),
            ("WISE_WEBHOOK_PUBLIC_KEY", &public_key),
            ("FILES_BUCKET", "stockroom-files"),
        ],
    );
    let base = e2e::local_router::serve(state).await;

    let keys = shared::testing::settings(&[]).keys.snapshot();
    let session = e2e::sign_up(&reqwest::Client::new(), &base, &pool, &keys).await;
    let token = session["access_token"].as_str().expect("signed up");

    let schema =
        std::env::temp_dir().join(format!("stockroom-openapi-{}.json", std::process::id()));
    std::fs::write(&schema, api::openapi::document_json()).unwrap();
    let seed = std::env::var("FUZZ_SEED").unwrap_or_else(|_| "20261123".to_owned());
    let examples = std::env::var("FUZZ_EXAMPLES").unwrap_or_else(|_| "10".to_owned());
    let hooks = concat!(env!("CARGO_MANIFEST_DIR"), "/schemathesis_hooks.py");
    let output = tokio::process::Command::new("schemathesis")
        // Its caches go to the temporary directory, not into the source tree.
        .current_dir(std::env::temp_dir())
        // How to make values of the document's own formats (IBANs with valid check digits).
        .env("SCHEMATHESIS_HOOKS", hooks)
        .arg("run")
        .arg(&schema)
        .args(["--url", &base])
        .args(["--header", &format!("Authorization: Bearer {token}")])
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,positive_data_acceptance,negative_data_rejection",
        ])
        .args(["--phases", "examples,coverage,fuzzing"])
        // A fixed seed keeps CI repeatable; FUZZ_SEED=<n> and FUZZ_EXAMPLES=<n> explore more.
        .args(["--max-examples", &examples, "--seed", &seed, "--workers", "2"])
        .args(["--no-color", "--output-truncate", "false"])
        // Only the signed-in user's token: a generated X-API-Key would just be refused.
        .args(["--generation-with-security-parameters", "false"])
        // No example database left behind: each run stands on the seed alone.
        .args(["--generation-database", "none"])
        .output()
        .await
        .expect("schemathesis runs (make test installs it from requirements-dev.txt)");
    std::fs::remove_file(&schema).ok();
    let report = String::from_utf8_lossy(&output.stdout);
    // The figure for the record: how many cases ran.
    for line in report
        .lines()
        .filter(|l| l.contains(" generated") || l.contains("⚠️"))
    {
        println!("schemathesis: {}", line.trim());
    }
    assert!(
        output.status.success(),
        "{report}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The public half of a throwaway RSA key pair, as PEM.
fn wise_public_key() -> String {
    use rsa::pkcs8::{EncodePublicKey, LineEnding};
    rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048)
        .expect("an RSA key")
        .to_public_key()
        .to_public_key_pem(LineEnding::LF)
        .expect("PEM")
}
