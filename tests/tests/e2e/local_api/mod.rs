//! The real binaries through `cargo lambda watch`: one base URL, production paths, the shared
//! layers on every answer.

use e2e::LocalApi;
use serde_json::Value;
use shared::db::Login;
use sqlx::{Connection, PgPool};

mod base_url;
mod database;
mod exports;
mod journeys;
mod rest_events;

/// Every function on the test's database, each logged in as deployed: the tenant functions as
/// `stockroom_api`, auth as `stockroom_auth`, the scheduler and webhooks as `stockroom_worker`.
async fn start(pool: &PgPool) -> LocalApi {
    start_with(pool, &[]).await
}

/// [`start`] with settings of the test's own added.
async fn start_with(pool: &PgPool, env: &[(&str, &str)]) -> LocalApi {
    let tenant = shared::testing::login_url(pool, Login::Tenant).await;
    let auth = shared::testing::login_url(pool, Login::Auth).await;
    let worker = shared::testing::login_url(pool, Login::Worker).await;
    LocalApi::on_database(
        shared::testing::database_url(pool).as_str(),
        &[
            &[
                ("TENANT_DATABASE_URL", tenant.as_str()),
                ("AUTH_DATABASE_URL", auth.as_str()),
                ("WORKER_DATABASE_URL", worker.as_str()),
            ],
            env,
        ]
        .concat(),
    )
}

/// Registers Ann's organization through the API; returns the session (tokens, user, org).
async fn sign_up(client: &reqwest::Client, api: &LocalApi) -> Value {
    api.sign_up(client).await
}

/// `GET url` with a bearer token; the body as JSON.
async fn get_json(client: &reqwest::Client, url: String, token: &str) -> Value {
    client
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}
