//! `bench serve <function>`: one function's router (the same `app(state)` its Lambda binary
//! runs, with state built by the same `AppState::init`) behind a plain HTTP listener on
//! 127.0.0.1, in a process of its own so its memory can be read. The bench starts it with
//! [`Server::start`] and loads it over HTTP.
//!
//! API Gateway puts the caller's address in the request context, where the shared layers read
//! it (`shared::auth::ClientIp`, used by the login rate limits and the audit log); a plain
//! listener has no such context, so every caller would be `unknown` and share one rate-limit
//! bucket. This server adds the context as API Gateway does, taking the address from the
//! `x-bench-source-ip` header (the load gives each login its own address and account).

use std::path::Path;
use std::process::Stdio;

use axum::Router;
use axum::extract::Request;
use axum::middleware::{Next, from_fn};
use axum::response::Response;
use lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequestContext;
use lambda_http::request::RequestContext;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::fixture::Fixture;

/// The functions `bench serve` can run.
pub const FUNCTIONS: &[&str] = &["auth", "products", "tasks"];
pub const SOURCE_IP_HEADER: &str = "x-bench-source-ip";

fn app(function: &str, state: shared::AppState) -> anyhow::Result<Router> {
    Ok(match function {
        "auth" => auth::app(state),
        "products" => products::app(state),
        "tasks" => tasks::app(state),
        other => anyhow::bail!("bench serve knows {FUNCTIONS:?}, not {other}"),
    })
}

/// The child process: serves `function` until killed; writes its address on stderr.
pub fn main(args: &[String]) -> anyhow::Result<()> {
    let [function] = args else {
        anyhow::bail!("usage: bench serve <{}>", FUNCTIONS.join("|"));
    };
    // The same runtime a Lambda binary's `#[tokio::main]` builds.
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(async {
            shared::telemetry::init();
            let state = shared::AppState::init().await?;
            let router = app(function, state)?.layer(from_fn(api_gateway_context));
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            eprintln!("{}", listener.local_addr()?);
            axum::serve(listener, router).await?;
            Ok(())
        })
}

async fn api_gateway_context(mut request: Request, next: Next) -> Response {
    let ip = request
        .headers()
        .get(SOURCE_IP_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("127.0.0.1")
        .to_owned();
    let mut context = ApiGatewayV2httpRequestContext::default();
    context.http.source_ip = Some(ip);
    request
        .extensions_mut()
        .insert(RequestContext::ApiGatewayV2(context));
    next.run(request).await
}

/// A running `bench serve` process.
pub struct Server {
    pub function: String,
    pub addr: std::net::SocketAddr,
    child: Child,
}

impl Server {
    /// Starts `bench serve function` with a pool of `pool_size` connections; its JSON logs go
    /// to `logs/serve-<function>.log`.
    pub async fn start(
        function: &str,
        fixture: &Fixture,
        pool_size: u32,
        logs: &Path,
    ) -> anyhow::Result<Self> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(logs.join(format!("serve-{function}.log")))?;
        let mut child = Command::new(std::env::current_exe()?)
            .args(["serve", function])
            .env_clear()
            .current_dir(std::env::temp_dir())
            .envs(fixture.function_env())
            .env("DB_MAX_CONNECTIONS", pool_size.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", function)
            .stdout(log)
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()?;
        let stderr = child
            .stderr
            .take()
            .ok_or_else(|| anyhow::anyhow!("no stderr"))?;
        let mut lines = BufReader::new(stderr).lines();
        let first = tokio::time::timeout(std::time::Duration::from_secs(10), lines.next_line())
            .await
            .map_err(|_| anyhow::anyhow!("bench serve {function} did not start"))??;
        let addr = first
            .as_deref()
            .and_then(|l| l.parse().ok())
            .ok_or_else(|| anyhow::anyhow!("bench serve {function} failed: {first:?}"))?;
        // Keep draining stderr (a panic message, say) so the child never blocks on it.
        let name = function.to_owned();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                eprintln!("bench serve {name}: {line}");
            }
        });
        Ok(Self {
            function: function.to_owned(),
            addr,
            child,
        })
    }

    pub fn pid(&self) -> anyhow::Result<u32> {
        self.child
            .id()
            .ok_or_else(|| anyhow::anyhow!("bench serve has exited"))
    }

    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.child.kill().await?;
        Ok(())
    }
}
