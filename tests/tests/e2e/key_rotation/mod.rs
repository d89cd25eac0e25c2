//! Rotating the keys over live data, with the keys secret in a real Secrets Manager API (moto)
//! and Secrets Manager's four rotation steps run by the migrate function's handler.
//!
//! Each test points the process's AWS SDK at its own moto through the environment. nextest
//! (`make test`) runs each test in a process of its own; under `cargo test` the binary's tests
//! share one, so these hold [`ENVIRONMENT`] while they run (the other modules' tests do not use
//! the process's AWS SDK, and the function binaries they start get only the variables given).

use std::collections::HashMap;

use http::StatusCode;
use serde_json::{Value, json};
use shared::crypto::Keys;
use shared::db::Login;
use shared::testing::{Moto, TestApp, totp_code};
use sqlx::PgPool;
use uuid::Uuid;

mod database_password;
mod keys;

const SECRET: &str = "stockroom/test/keys";

/// The process environment the AWS SDK reads, one test at a time.
static ENVIRONMENT: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const FIRST_KEY: &str = "first-secret-key-of-an-earlier-deployment-0123456789";

/// One step of a rotation of the keys secret, as Secrets Manager invokes the migrate function.
async fn step(
    client: &aws_sdk_secretsmanager::Client,
    pool: &PgPool,
    step: &str,
    token: &str,
) -> anyhow::Result<Value> {
    let mut owner = pool.acquire().await.unwrap();
    let request = migrate::keys::RotationRequest {
        step: step.into(),
        secret_id: SECRET.into(),
        client_request_token: token.into(),
    };
    migrate::keys::rotate(client, &request, &mut owner).await
}

/// A whole rotation: the four steps in order.
async fn rotate(client: &aws_sdk_secretsmanager::Client, pool: &PgPool, token: &str) -> Vec<Value> {
    let mut outcomes = Vec::new();
    for name in ["createSecret", "setSecret", "testSecret", "finishSecret"] {
        let outcome = step(client, pool, name, token).await;
        outcomes.push(outcome.unwrap_or_else(|e| panic!("{name}: {e:#}")));
    }
    outcomes
}
