//! Schemathesis fuzzes every operation of the OpenAPI document against the functions' own
//! routers, signed in as a real user: no 5xx, every response matches the document, every request
//! the document allows is accepted and every request it forbids is refused.

use std::collections::{BTreeMap, BTreeSet};

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
    // Where the hooks write down the members of every answer.
    let answers =
        std::env::temp_dir().join(format!("stockroom-answers-{}.jsonl", std::process::id()));
    std::fs::remove_file(&answers).ok();
    let output = tokio::process::Command::new("schemathesis")
        // Its caches go to the temporary directory, not into the source tree.
        .current_dir(std::env::temp_dir())
        // How to make values of the document's own formats (IBANs with valid check digits).
        .env("SCHEMATHESIS_HOOKS", hooks)
        .env("STOCKROOM_RESPONSE_LOG", &answers)
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
        // One worker: hypothesis parses lambdas' source with `ast.parse`, which CPython before
        // 3.11.8 cannot run in two threads at once ("AST constructor recursion depth mismatch").
        .args(["--max-examples", &examples, "--seed", &seed, "--workers", "1"])
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
    let log = std::fs::read_to_string(&answers).expect("the hooks wrote the answers down");
    std::fs::remove_file(&answers).ok();
    every_member_always_sent_is_required(&log);
}

/// What every answer of an operation (by status) carried, and what the items of its lists
/// carried: each such member must be `required` in the answer's schema, so a typed client
/// never reads an always-present member as maybe `undefined`.
fn every_member_always_sent_is_required(log: &str) {
    let doc: serde_json::Value =
        serde_json::from_str(&api::openapi::document_json()).expect("the document is JSON");
    type Seen = (Option<BTreeSet<String>>, Option<BTreeSet<String>>);
    let mut always: BTreeMap<(String, String, String), Seen> = BTreeMap::new();
    for line in log.lines() {
        let answer: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
        let key = (
            answer["method"].as_str().unwrap_or_default().to_owned(),
            answer["path"].as_str().unwrap_or_default().to_owned(),
            answer["status"].to_string(),
        );
        let names = |v: &serde_json::Value| -> Option<BTreeSet<String>> {
            v.as_array().map(|a| {
                a.iter()
                    .filter_map(|k| k.as_str().map(str::to_owned))
                    .collect()
            })
        };
        let entry = always.entry(key).or_default();
        for (seen, now) in [
            (&mut entry.0, names(&answer["keys"])),
            (&mut entry.1, names(&answer["item_keys"])),
        ] {
            if let Some(now) = now {
                *seen = Some(match seen.take() {
                    Some(before) => before.intersection(&now).cloned().collect(),
                    None => now,
                });
            }
        }
    }
    let mut missing = Vec::new();
    let mut checked = 0;
    // Answers, and the 422s (which always name the fields); the other errors' members depend on
    // their code.
    let checked_status = |status: &str| status.starts_with('2') || status == "422";
    for ((method, path, status), (keys, item_keys)) in always
        .iter()
        .filter(|((_, _, status), _)| checked_status(status))
    {
        let response = &doc["paths"][path][method]["responses"];
        let response = if response[status].is_object() {
            &response[status]
        } else {
            &response["default"]
        };
        let Some(schema) = response["content"]
            .as_object()
            .and_then(|c| c.values().next())
            .map(|c| &c["schema"])
        else {
            continue;
        };
        let items = &crate::openapi::resolve(&doc, schema)["properties"]["items"]["items"];
        for (schema, names, prefix) in [(schema, keys, ""), (items, item_keys, "items[].")] {
            // A union's variants require different members: not checked.
            let Some((required, declared)) = members(&doc, schema) else {
                continue;
            };
            for name in names.iter().flatten().filter(|n| declared.contains(*n)) {
                checked += 1;
                if !required.contains(name) {
                    missing.push(format!("{method} {path} {status}: {prefix}{name}"));
                }
            }
        }
    }
    assert!(checked > 100, "only {checked} members checked");
    assert!(
        missing.is_empty(),
        "always sent, yet not required in the document:\n{}",
        missing.join("\n")
    );
}

/// The members `schema` requires and those it declares (through `$ref` and `allOf`); `None`
/// for a union (`oneOf`), whose variants require different members.
type Members = (BTreeSet<String>, BTreeSet<String>);

fn members(doc: &serde_json::Value, schema: &serde_json::Value) -> Option<Members> {
    let schema = crate::openapi::resolve(doc, schema);
    if schema.get("oneOf").is_some() || schema.get("anyOf").is_some() {
        return None;
    }
    let names = |v: &serde_json::Value| -> BTreeSet<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|n| n.as_str().map(str::to_owned))
            .collect()
    };
    let mut required = names(&schema["required"]);
    let mut declared: BTreeSet<String> = schema["properties"]
        .as_object()
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default();
    for part in schema["allOf"].as_array().into_iter().flatten() {
        let (r, d) = members(doc, part)?;
        required.extend(r);
        declared.extend(d);
    }
    Some((required, declared))
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
