//! The `migrate` function: applies the embedded `migrations/`.
//!
//! In Lambda it is invoked by CloudFormation as a custom resource on every deploy that changes
//! its code (the template ties the resource to the function's published version, and the
//! migrations are compiled into the binary), and answers CloudFormation's pre-signed URL. It can
//! also be invoked by hand with any other event. Locally, `cargo run -p migrate` applies the
//! migrations once. Functions never migrate at cold start.

use std::collections::HashSet;
use std::time::Duration;

use lambda_runtime::LambdaEvent;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::migrate::Migrate;
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, Executor, PgConnection};

/// A migration this run applied.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Applied {
    pub version: i64,
    pub description: String,
}

/// The database to migrate, and the functions' limit per statement to leave on it.
#[derive(Clone, Debug)]
pub struct Database {
    pub options: PgConnectOptions,
    /// `DB_STATEMENT_TIMEOUT_MS`.
    pub statement_timeout: Duration,
}

impl Database {
    pub fn from_settings(settings: &shared::Settings) -> Result<Self, shared::config::ConfigError> {
        Ok(Self {
            options: shared::db::connect_options(
                settings
                    .migrate_database_url
                    .as_ref()
                    .unwrap_or(&settings.database_url),
                settings.db.ca_pem.as_deref(),
            )?,
            statement_timeout: settings.db.statement_timeout,
        })
    }
}

/// Applies pending migrations over one connection without a statement timeout and returns
/// those it applied (none when the database is current). Concurrent runs are serialised by
/// sqlx's advisory lock.
///
/// Then leaves the functions' `statement_timeout` as the login role's default in this database:
/// PostgreSQL applies it when a connection logs in, so the functions send no startup options
/// (RDS Proxy refuses connections that carry them) and no session `SET` (which would pin a
/// proxied connection) for it.
pub async fn apply(database: &Database) -> anyhow::Result<Vec<Applied>> {
    let mut conn = PgConnection::connect_with(&database.options).await?;
    // Migrations may be slow: no limit for this session, whatever the role's default is.
    conn.execute("SET statement_timeout = 0").await?;
    conn.ensure_migrations_table().await?;
    let before: HashSet<i64> = conn
        .list_applied_migrations()
        .await?
        .into_iter()
        .map(|m| m.version)
        .collect();
    shared::MIGRATOR.run(&mut conn).await?;
    let millis = database.statement_timeout.as_millis();
    // The owner (whoever runs this) and the functions' login roles get the same limit.
    conn.execute(
        format!(
            "DO $$ DECLARE r text; BEGIN \
             FOREACH r IN ARRAY ARRAY[current_user::text, 'stockroom_api', 'stockroom_auth', 'stockroom_worker'] LOOP \
             EXECUTE format('ALTER ROLE %I IN DATABASE %I SET statement_timeout = %s', \
             r, current_database(), {millis}); END LOOP; END $$"
        )
        .as_str(),
    )
    .await?;
    conn.close().await?;
    Ok(shared::MIGRATOR
        .iter()
        .filter(|m| !m.migration_type.is_down_migration() && !before.contains(&m.version))
        .map(|m| Applied {
            version: m.version,
            description: m.description.to_string(),
        })
        .collect())
}

/// Creates the database named in the URL when it does not exist (local runs only; in AWS the
/// database is provisioned with the cluster).
pub async fn create_database_if_missing(database_url: &SecretString) -> anyhow::Result<()> {
    use sqlx::migrate::MigrateDatabase;
    let url = database_url.expose_secret();
    if !sqlx::Postgres::database_exists(url).await? {
        sqlx::Postgres::create_database(url).await?;
        println!("created the database");
    }
    Ok(())
}

/// The fields of a CloudFormation custom resource request this function uses.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CustomResourceRequest {
    request_type: String,
    #[serde(rename = "ResponseURL")]
    response_url: String,
    stack_id: String,
    request_id: String,
    logical_resource_id: String,
    physical_resource_id: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct CustomResourceResponse<'a> {
    status: &'a str,
    reason: String,
    physical_resource_id: &'a str,
    stack_id: &'a str,
    request_id: &'a str,
    logical_resource_id: &'a str,
    data: Value,
}

/// Handles one invocation: a CloudFormation custom resource request (answered on its
/// `ResponseURL`, SUCCESS or FAILED) or any other event (returns the applied migrations).
pub async fn handle(
    event: LambdaEvent<Value>,
    database: &Database,
    http: &reqwest::Client,
) -> Result<Value, lambda_runtime::Error> {
    let Ok(request) = serde_json::from_value::<CustomResourceRequest>(event.payload) else {
        let applied = apply(database).await?;
        tracing::info!(count = applied.len(), "migrations applied");
        return Ok(json!({ "applied": applied }));
    };

    // Deleting the stack must not touch the data.
    let outcome = match request.request_type.as_str() {
        "Delete" => Ok(Vec::new()),
        _ => apply(database).await,
    };
    let (status, reason, applied) = match &outcome {
        Ok(applied) => (
            "SUCCESS",
            format!("{} migration(s) applied", applied.len()),
            applied.len(),
        ),
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "migrations failed");
            ("FAILED", format!("migrations failed: {error}"), 0)
        }
    };
    let response = CustomResourceResponse {
        status,
        reason,
        physical_resource_id: request
            .physical_resource_id
            .as_deref()
            .unwrap_or("stockroom-migrations"),
        stack_id: &request.stack_id,
        request_id: &request.request_id,
        logical_resource_id: &request.logical_resource_id,
        data: json!({ "Applied": applied }),
    };
    // The pre-signed URL is signed without a content type: send the body as plain bytes.
    http.put(&request.response_url)
        .body(serde_json::to_vec(&response)?)
        .send()
        .await?
        .error_for_status()?;
    Ok(json!({ "status": status }))
}
