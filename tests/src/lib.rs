//! Runs the API the way `make dev` does: `cargo lambda watch` (its Lambda runtime API and its
//! path router from Cargo.toml) with the real function binaries attached, so tests call one
//! base URL with the production paths.
//!
//! The binaries must be built first (`make test` builds them).

pub mod local_router;

pub use api::routes;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct LocalApi {
    pub base: String,
    /// The database of [`LocalApi::on_database`].
    database_url: Option<String>,
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
            database_url: None,
            children: vec![watch],
        };
        wait_for_port(port, "cargo lambda watch");

        for function in functions {
            let runtime_api = format!("http://127.0.0.1:{port}/.rt/{function}");
            api.children
                .push(spawn_function(function, &runtime_api, env));
        }
        api
    }
}

/// Starts the function binary `function` against the Runtime API at `runtime_api` with only
/// what Lambda would give it, plus `env`; outside the workspace, so a developer's .env does not
/// leak in.
fn spawn_function(function: &str, runtime_api: &str, env: &[(&str, &str)]) -> Child {
    let binary = bin_dir().join(function);
    assert!(
        binary.exists(),
        "{} is missing: run `make test`, which builds the function binaries first",
        binary.display()
    );
    Command::new(&binary)
        .env_clear()
        .current_dir(std::env::temp_dir())
        .env("AWS_LAMBDA_RUNTIME_API", runtime_api)
        .env("AWS_LAMBDA_FUNCTION_NAME", function)
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("RUST_LOG", "warn")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("start {}: {e}", binary.display()))
}

/// The `SECRET_KEY` the end-to-end tests give the functions.
pub const SECRET_KEY: &str = "e2e-secret-key-0123456789abcdef0123456789";

impl LocalApi {
    /// Every HTTP function, on the database at `database_url` (a test's own), with `env` added.
    pub fn on_database(database_url: &str, env: &[(&str, &str)]) -> Self {
        let mut vars = vec![("DATABASE_URL", database_url), ("SECRET_KEY", SECRET_KEY)];
        vars.extend_from_slice(env);
        let mut api = Self::start(&routes::functions(), &vars);
        api.database_url = Some(database_url.to_owned());
        api
    }

    /// The token of the last link to `path` mailed to `email` (read from the outbox).
    pub async fn mailed_token(&self, email: &str, path: &str) -> String {
        let url = self.database_url.as_deref().expect("started on a database");
        let pool = sqlx::PgPool::connect(url)
            .await
            .expect("the database answers");
        let token = shared::testing::mailed_token_with(&pool, email, path, &keys()).await;
        pool.close().await;
        token
    }

    /// [`sign_up`] against this API.
    pub async fn sign_up(&self, client: &reqwest::Client) -> serde_json::Value {
        self.sign_up_as(client, "ann@example.com", "Acme").await
    }

    /// [`sign_up_as`] against this API.
    pub async fn sign_up_as(
        &self,
        client: &reqwest::Client,
        email: &str,
        organization: &str,
    ) -> serde_json::Value {
        let url = self.database_url.as_deref().expect("started on a database");
        let pool = sqlx::PgPool::connect(url)
            .await
            .expect("the database answers");
        let session = sign_up_as(client, &self.base, &pool, &keys(), email, organization).await;
        pool.close().await;
        session
    }
}

/// The keys the functions of [`LocalApi::on_database`] seal with (from [`SECRET_KEY`]).
pub fn keys() -> std::sync::Arc<shared::crypto::Keys> {
    shared::testing::settings(&[("SECRET_KEY", SECRET_KEY)])
        .keys
        .snapshot()
}

/// Registers Ann's organization (Acme) at `base` and confirms it with the link mailed (read from
/// the outbox of `pool`, opened with `keys`: [`keys`] for the real binaries, the test keys for
/// the in-process routers); returns the session (tokens, user, org).
pub async fn sign_up(
    client: &reqwest::Client,
    base: &str,
    pool: &sqlx::PgPool,
    keys: &shared::crypto::Keys,
) -> serde_json::Value {
    sign_up_as(client, base, pool, keys, "ann@example.com", "Acme").await
}

/// [`sign_up`] of `email` (password `Corr3ct-horse`) with its organization `organization`.
pub async fn sign_up_as(
    client: &reqwest::Client,
    base: &str,
    pool: &sqlx::PgPool,
    keys: &shared::crypto::Keys,
    email: &str,
    organization: &str,
) -> serde_json::Value {
    let response = client
        .post(format!("{base}/api/auth/register"))
        .json(&serde_json::json!({"organization_name": organization,
            "email": email, "password": "Corr3ct-horse"}))
        .send()
        .await
        .expect("the API answers");
    assert_eq!(response.status(), 202, "sign-up");
    let token =
        shared::testing::mailed_token_with(pool, email, "/confirm-registration", keys).await;
    let response = client
        .post(format!("{base}/api/auth/register/confirm"))
        .json(&serde_json::json!({ "token": token }))
        .send()
        .await
        .expect("the API answers");
    assert_eq!(response.status(), 200, "confirmation");
    response.json().await.expect("a JSON session")
}

/// A function binary attached to a Runtime API of its own ([`shared::runtime_api`]), as Lambda
/// runs it: events go in as JSON exactly as a trigger (API Gateway's REST API, say) sends them,
/// and what the function answers comes back as JSON.
pub struct Lambda {
    pub api: shared::runtime_api::RuntimeApi,
    child: Child,
}

impl Drop for Lambda {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Lambda {
    /// Starts the binary `function` with only Lambda's variables and `env`.
    pub async fn start(function: &str, env: &[(&str, &str)]) -> Self {
        let api = shared::runtime_api::RuntimeApi::start(function)
            .await
            .expect("a runtime API");
        // As the template sets it for the REST API's stage.
        let env = [&[("AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH", "true")], env].concat();
        let child = spawn_function(function, &api.endpoint(), &env);
        Self { api, child }
    }

    /// Sends `event` and waits for the function's answer (an error report panics).
    pub async fn invoke(&self, event: &serde_json::Value) -> serde_json::Value {
        let outcome = self.api.invoke(event).expect("queued");
        match tokio::time::timeout(Duration::from_secs(60), outcome)
            .await
            .expect("an answer within 60 s")
            .expect("the runtime API kept the invocation")
        {
            shared::runtime_api::Outcome::Response { body, .. } => {
                serde_json::from_slice(&body).expect("a JSON response")
            }
            shared::runtime_api::Outcome::Error { body } => {
                panic!("the function reported an error: {body}")
            }
        }
    }
}

/// An API Gateway REST API (payload 1.0) proxy event for `method path?query` on stage `v1`,
/// from `source_ip`, with every header and query parameter in both the single- and the
/// multi-value maps, and the body base64-encoded when `base64`.
pub fn rest_event(
    method: &str,
    path_and_query: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
    base64: bool,
    source_ip: &str,
) -> serde_json::Value {
    use base64::Engine;
    use serde_json::{Map, Value, json};
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    let (mut single, mut multi) = (Map::new(), Map::new());
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        single.insert(name.into(), json!(value));
        let values = multi.entry(name).or_insert_with(|| json!([]));
        values.as_array_mut().expect("a list").push(json!(value));
    }
    let header_map: Map<String, Value> = headers
        .iter()
        .map(|(name, value)| ((*name).to_owned(), json!(value)))
        .collect();
    let multi_headers: Map<String, Value> = headers
        .iter()
        .map(|(name, value)| ((*name).to_owned(), json!([value])))
        .collect();
    let body = body.map(|bytes| {
        if base64 {
            base64::engine::general_purpose::STANDARD.encode(bytes)
        } else {
            String::from_utf8(bytes.to_vec()).expect("a text body")
        }
    });
    json!({
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": method,
        "headers": header_map,
        "multiValueHeaders": multi_headers,
        "queryStringParameters": if single.is_empty() { Value::Null } else { Value::Object(single) },
        "multiValueQueryStringParameters": if multi.is_empty() { Value::Null } else { Value::Object(multi) },
        "pathParameters": {"proxy": path.trim_start_matches('/')},
        "stageVariables": null,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "resourceId": "r1",
            "resourcePath": "/{proxy+}",
            "httpMethod": method,
            "path": format!("/v1{path}"),
            "stage": "v1",
            "protocol": "HTTP/1.1",
            "requestId": uuid::Uuid::new_v4().to_string(),
            "requestTimeEpoch": 0,
            "domainName": "abc123.execute-api.eu-west-1.amazonaws.com",
            "identity": {"sourceIp": source_ip, "userAgent": "rest-event-test"}
        },
        "body": body,
        "isBase64Encoded": base64
    })
}
