//! Runs the API the way `make dev` does: `cargo lambda watch` (its Lambda runtime API and its
//! path router from Cargo.toml) with the real function binaries attached, so tests call one
//! base URL with the production paths.
//!
//! The binaries must be built first (`cargo build --workspace --bins`; `make test` does it).

pub mod local_router;
pub mod openapi;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Every HTTP function, by binary name.
pub const HTTP_FUNCTIONS: &[&str] = &[
    "auth",
    "dashboard",
    "health",
    "inventory",
    "products",
    "suppliers",
    "tasks",
    "users",
    "webhooks",
];

pub struct LocalApi {
    pub base: String,
    children: Vec<Child>,
}

impl Drop for LocalApi {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is in the workspace")
        .to_owned()
}

/// `target/debug` (or whichever profile built this test), where the function binaries are.
fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    exe.parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps/<test>")
        .to_owned()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn wait_for_port(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "{what} did not start listening on {port}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

impl LocalApi {
    /// Starts `cargo lambda watch` and attaches `functions`, each with `env` (DATABASE_URL...).
    pub fn start(functions: &[&str], env: &[(&str, &str)]) -> Self {
        let port = free_port();
        let watch = Command::new("cargo")
            .args(["lambda", "watch", "--only-lambda-apis", "--disable-cors"])
            .args([
                "--invoke-address",
                "127.0.0.1",
                "--invoke-port",
                &port.to_string(),
            ])
            .current_dir(workspace_root())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("cargo lambda not found: `pip install cargo-lambda` (make test does it)");
        let mut api = Self {
            base: format!("http://127.0.0.1:{port}"),
            children: vec![watch],
        };
        wait_for_port(port, "cargo lambda watch");

        for function in functions {
            let binary = bin_dir().join(function);
            assert!(
                binary.exists(),
                "{} is missing: run `cargo build --workspace --bins` first",
                binary.display()
            );
            let child = Command::new(&binary)
                // Only what Lambda would give the function, plus the test's settings; run
                // outside the workspace so a developer's .env does not leak in.
                .env_clear()
                .current_dir(std::env::temp_dir())
                .env(
                    "AWS_LAMBDA_RUNTIME_API",
                    format!("http://127.0.0.1:{port}/.rt/{function}"),
                )
                .env("AWS_LAMBDA_FUNCTION_NAME", function)
                .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
                .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
                .env("RUST_LOG", "warn")
                .envs(env.iter().copied())
                .stdout(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("start {}: {e}", binary.display()));
            api.children.push(child);
        }
        api
    }
}

/// The `SECRET_KEY` the end-to-end tests give the functions.
pub const SECRET_KEY: &str = "e2e-secret-key-0123456789abcdef0123456789";

impl LocalApi {
    /// Every HTTP function, on the database at `database_url` (a test's own), with `env` added.
    pub fn on_database(database_url: &str, env: &[(&str, &str)]) -> Self {
        let mut vars = vec![("DATABASE_URL", database_url), ("SECRET_KEY", SECRET_KEY)];
        vars.extend_from_slice(env);
        Self::start(HTTP_FUNCTIONS, &vars)
    }
}

/// Registers Ann's organization (Acme) at `base`; returns the session (tokens, user, org).
pub async fn sign_up(client: &reqwest::Client, base: &str) -> serde_json::Value {
    let response = client
        .post(format!("{base}/api/auth/register"))
        .json(
            &serde_json::json!({"organization_name": "Acme", "name": "Ann",
            "email": "ann@example.com", "password": "Corr3ct-horse"}),
        )
        .send()
        .await
        .expect("the API answers");
    assert_eq!(response.status(), 201, "sign-up");
    response.json().await.expect("a JSON session")
}
