//! The real event path as a check: `cargo lambda watch --only-lambda-apis` (its HTTP front,
//! path router from `Cargo.toml` and Runtime API) with the release binaries attached, as the
//! e2e harness (`tests/src/lib.rs`) does, and a few sequential requests through it.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use http::{Method, StatusCode};
use serde_json::json;
use tokio::process::{Child, Command};

use crate::fixture::Fixture;
use crate::functions::Workspace;
use crate::load::{Connection, request};
use crate::report::Row;
use crate::stats::{millis, percentile};

const WARMUP: usize = 3;

/// `cargo lambda watch` in a process group of its own: `cargo` starts `cargo-lambda` as a
/// child, so stopping it means stopping the group.
struct Watch {
    child: Child,
}

impl Drop for Watch {
    fn drop(&mut self) {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", "--", &format!("-{pid}")])
                .status();
        }
    }
}

pub async fn run(
    workspace: &Workspace,
    fixture: &Fixture,
    samples: usize,
    logs: &Path,
) -> anyhow::Result<Vec<Row>> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let log = std::fs::File::create(logs.join("cargo-lambda-watch.log"))?;
    let _watch = Watch {
        child: Command::new(cargo)
            .args(["lambda", "watch", "--only-lambda-apis", "--disable-cors"])
            .args([
                "--invoke-address",
                "127.0.0.1",
                "--invoke-port",
                &port.to_string(),
            ])
            .current_dir(&workspace.root)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .process_group(0)
            .spawn()
            .map_err(|e| anyhow::anyhow!("cargo lambda watch: {e} (pip install cargo-lambda)"))?,
    };
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
    let deadline = Instant::now() + Duration::from_secs(60);
    while tokio::net::TcpStream::connect(addr).await.is_err() {
        anyhow::ensure!(
            Instant::now() < deadline,
            "cargo lambda watch did not listen on {port}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let product = fixture.product_ids.first().copied().unwrap_or_default();
    let checks = [
        ("health", "/health".to_owned(), None),
        (
            "products",
            format!("/api/products/{product}"),
            Some(fixture.token.as_str()),
        ),
        (
            "auth",
            "/api/auth/me".to_owned(),
            Some(fixture.token.as_str()),
        ),
    ];
    let mut functions: Vec<Child> = Vec::new();
    for (name, _, _) in &checks {
        let runtime_api = format!("http://127.0.0.1:{port}/.rt/{name}");
        let log = logs.join(format!("watch-{name}.log"));
        functions.push(
            workspace
                .function(name)?
                .lambda_command(&runtime_api, fixture, &log)?
                .spawn()?,
        );
    }

    let mut connection = Connection::open(addr).await?;
    let mut rows = Vec::new();
    for (name, path, token) in &checks {
        let mut times = Vec::with_capacity(samples);
        for n in 0..WARMUP + samples {
            let started = Instant::now();
            let (status, body) = connection
                .send(request(Method::GET, path, *token, None)?)
                .await?;
            let elapsed = started.elapsed();
            anyhow::ensure!(
                status == StatusCode::OK,
                "GET {path} through cargo lambda watch answered {status}: {}",
                String::from_utf8_lossy(&body)
            );
            if n >= WARMUP {
                times.push(elapsed);
            }
        }
        let p50 = millis(percentile(&mut times, 0.5));
        let route = if *name == "products" {
            "/api/products/{id}"
        } else {
            path.as_str()
        };
        rows.push(
            Row::new(
                "cargo lambda watch",
                format!("GET {route} ({name}), sequential"),
                format!("p50 {p50:.2} ms ({samples} requests after {WARMUP} warm-up)"),
            )
            .data(json!({ "function": name, "route": format!("GET {route}"), "p50_ms": p50, "samples": samples })),
        );
    }
    for mut function in functions {
        function.kill().await?;
    }
    Ok(rows)
}
