//! Schemathesis fuzzes every operation of the OpenAPI document against the functions' own
//! routers, signed in as a real user: no 5xx, and every response matches the document.

use sqlx::PgPool;

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn schemathesis_finds_no_server_error_and_no_response_off_the_document(pool: PgPool) {
    let state = shared::testing::state(pool);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(axum::serve(listener, e2e::local_router::router(state)).into_future());

    let session: serde_json::Value = reqwest::Client::new()
        .post(format!("{base}/api/auth/register"))
        .json(
            &serde_json::json!({"organization_name": "Fuzz", "name": "Ann",
            "email": "ann@example.com", "password": "Corr3ct-horse"}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = session["access_token"].as_str().expect("signed up");

    let schema =
        std::env::temp_dir().join(format!("stockroom-openapi-{}.json", std::process::id()));
    std::fs::write(&schema, e2e::openapi::document_json()).unwrap();
    let output = tokio::process::Command::new("schemathesis")
        .arg("run")
        .arg(&schema)
        .args(["--url", &base])
        .args(["--header", &format!("Authorization: Bearer {token}")])
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
        ])
        .args(["--phases", "examples,coverage,fuzzing"])
        .args(["--max-examples", "10", "--seed", "20261123", "--workers", "2"])
        .args(["--no-color", "--output-truncate", "false"])
        .output()
        .await
        .expect("schemathesis runs (make test installs it from requirements-dev.txt)");
    std::fs::remove_file(&schema).ok();
    let report = String::from_utf8_lossy(&output.stdout);
    // The figure for the record: how many cases ran.
    if let Some(line) = report.lines().rev().find(|l| l.contains(" generated")) {
        println!("schemathesis: {}", line.trim());
    }
    assert!(
        output.status.success(),
        "{report}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
