//! The `migrate` function: applies the embedded `migrations/`.
//!
//! In Lambda it is invoked by CloudFormation as a custom resource on every deploy that changes
//! its code (the template ties the resource to the function's published version, and the
//! migrations are compiled into the binary), and answers CloudFormation's pre-signed URL. It can
//! also be invoked by hand with any other event. Locally, `cargo run -p migrate` applies the
//! migrations once. Functions never migrate at cold start.
//!
//! It is also the keys secret's rotation function (Secrets Manager invokes it with a `Step`,
//! see [`keys`]), and `{"reseal": true}` (locally `cargo run -p migrate -- reseal`) re-seals
//! sealed data with the newest data key.

use std::collections::HashSet;
use std::time::Duration;

use lambda_runtime::LambdaEvent;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use shared::db::Login;
use sqlx::migrate::Migrate;
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, Executor, PgConnection};

pub mod keys;

/// A migration this run applied.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Applied {
    pub version: i64,
    pub description: String,
}

/// The database to migrate, the limits of the migrating session, and the functions' limit per
/// statement to leave on it.
#[derive(Clone, Debug)]
pub struct Database {
    pub options: PgConnectOptions,
    /// `DB_STATEMENT_TIMEOUT_MS`: left as the login roles' default.
    pub statement_timeout: Duration,
    /// `MIGRATE_LOCK_TIMEOUT_MS`.
    pub lock_timeout: Duration,
    /// `MIGRATE_STATEMENT_TIMEOUT_MS`.
    pub migration_statement_timeout: Duration,
    /// The login roles' passwords from their database secrets: each role is given its own
    /// (and LOGIN), so the generated secrets RDS Proxy authenticates with are the roles'.
    pub login_passwords: Vec<(String, SecretString)>,
}

/// The database has migrations this code does not know: it was migrated by newer code, and
/// this is older code (a rollback). Nothing is applied; migrations are forward-only and
/// expand/contract, so older code runs on the newer schema.
#[derive(Debug)]
pub struct NewerDatabase {
    pub unknown_versions: Vec<i64>,
}

impl std::fmt::Display for NewerDatabase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the database has migrations this code does not know ({:?}): it is newer than this \
             code, so nothing was applied",
            self.unknown_versions
        )
    }
}

impl std::error::Error for NewerDatabase {}

impl Database {
    /// A session as the owner, waiting at most `lock_timeout` for a lock and
    /// `migration_statement_timeout` for a statement.
    pub async fn connect(&self) -> anyhow::Result<PgConnection> {
        let mut conn = PgConnection::connect_with(&self.options).await?;
        conn.execute(
            format!(
                "SET lock_timeout = {}; SET statement_timeout = {}",
                self.lock_timeout.as_millis(),
                self.migration_statement_timeout.as_millis()
            )
            .as_str(),
        )
        .await?;
        Ok(conn)
    }

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
            lock_timeout: settings.db.migrate_lock_timeout,
            migration_statement_timeout: settings.db.migrate_statement_timeout,
            login_passwords: settings.login_passwords.clone(),
        })
    }
}

/// Applies pending migrations over one connection and returns those it applied (none when
/// the database is current). Concurrent runs are serialised by sqlx's advisory lock. The
/// session waits at most `lock_timeout` for any lock and `migration_statement_timeout` for any
/// statement, so a migration stuck behind a busy table fails with the reason instead of
/// queueing every request behind its lock. A database migrated by newer code is left alone
/// ([`NewerDatabase`]).
///
/// Then leaves the functions' `statement_timeout` as the login role's default in this database:
/// PostgreSQL applies it when a connection logs in, so the functions send no startup options
/// (RDS Proxy refuses connections that carry them) and no session `SET` (which would pin a
/// proxied connection) for it.
pub async fn apply(database: &Database) -> anyhow::Result<Vec<Applied>> {
    let mut conn = database.connect().await?;
    conn.ensure_migrations_table().await?;
    let before: HashSet<i64> = conn
        .list_applied_migrations()
        .await?
        .into_iter()
        .map(|m| m.version)
        .collect();
    let known: HashSet<i64> = shared::MIGRATOR.iter().map(|m| m.version).collect();
    let mut unknown_versions: Vec<i64> = before.difference(&known).copied().collect();
    if !unknown_versions.is_empty() {
        unknown_versions.sort_unstable();
        conn.close().await?;
        return Err(NewerDatabase { unknown_versions }.into());
    }
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
    for (role, password) in &database.login_passwords {
        let allowed = [Login::Tenant, Login::Auth, Login::Worker].map(Login::role);
        if !allowed.contains(&role.as_str()) {
            anyhow::bail!(
                "a database secret names {role:?}, not one of the login roles {allowed:?}"
            );
        }
        // ALTER ROLE takes no parameters, so the password goes as a literal: its SCRAM-SHA-256
        // verifier (salted, 4096 iterations), never the password itself, which a failed
        // statement or `log_statement` would write to the server's log. The server recognises
        // the verifier and stores it as given.
        let verifier =
            postgres_protocol::password::scram_sha_256(password.expose_secret().as_bytes());
        conn.execute(format!("ALTER ROLE {role} LOGIN PASSWORD '{verifier}'").as_str())
            .await?;
    }
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

/// Time kept back from the function's deadline to answer CloudFormation.
pub const ANSWER_MARGIN: Duration = Duration::from_secs(5);

/// Handles one invocation: a CloudFormation custom resource request (answered on its
/// `ResponseURL`, SUCCESS or FAILED, always) or any other event (returns the applied
/// migrations).
///
/// `database` is how the database is found (the settings, read on first use): a Delete never
/// waits for it, and whatever fails before or while migrating (unreadable settings, no route to
/// the database, a lock that does not come, the function's time running out) is answered
/// FAILED with the reason rather than left for CloudFormation to wait out. Work still running
/// [`ANSWER_MARGIN`] before the function's deadline is abandoned (its transaction rolls back
/// with its connection) and answered FAILED.
pub async fn handle(
    event: LambdaEvent<Value>,
    database: impl Future<Output = Result<Database, String>>,
    http: &reqwest::Client,
) -> Result<Value, lambda_runtime::Error> {
    let deadline = event.context.deadline;
    if let Ok(rotation) = serde_json::from_value::<keys::RotationRequest>(event.payload.clone()) {
        // Secrets Manager retries a failed step, and starts the rotation again later.
        let mut owner = database.await?.connect().await?;
        let client = shared::config::secrets::client().await;
        let outcome = keys::rotate(&client, &rotation, &mut owner).await;
        if let Err(error) = &outcome {
            tracing::error!(
                step = rotation.step,
                error = format!("{error:#}"),
                "key rotation step failed"
            );
        }
        return Ok(outcome?);
    }
    if event.payload.get("reseal").and_then(Value::as_bool) == Some(true) {
        let settings = shared::config::settings().await?;
        let mut owner = database.await?.connect().await?;
        let resealed = keys::reseal(&mut owner, &*settings.keys.current().await).await?;
        return Ok(json!({ "resealed": resealed }));
    }
    let Ok(request) = serde_json::from_value::<CustomResourceRequest>(event.payload) else {
        let database = database.await?;
        let applied = apply(&database).await?;
        tracing::info!(count = applied.len(), "migrations applied");
        return Ok(json!({ "applied": applied }));
    };

    let (status, reason, applied) = if request.request_type == "Delete" {
        // Deleting the stack (or replacing the resource) must not touch the data.
        ("SUCCESS", "nothing to do on delete".to_owned(), 0)
    } else {
        let work = async {
            let database = database
                .await
                .map_err(|reason| anyhow::anyhow!("settings: {reason}"))?;
            apply(&database).await
        };
        let outcome = match time_left(deadline) {
            Some(left) => tokio::time::timeout(left, work).await.unwrap_or_else(|_| {
                Err(anyhow::anyhow!(
                    "the migrations did not finish within the function's time ({} s kept to \
                     answer); nothing of the unfinished one was kept",
                    ANSWER_MARGIN.as_secs()
                ))
            }),
            None => work.await,
        };
        match outcome {
            Ok(applied) => (
                "SUCCESS",
                format!("{} migration(s) applied", applied.len()),
                applied.len(),
            ),
            Err(error) if error.downcast_ref::<NewerDatabase>().is_some() => {
                tracing::warn!(error = %error, "older code than the database: nothing applied");
                ("SUCCESS", error.to_string(), 0)
            }
            Err(error) => {
                tracing::error!(error = format!("{error:#}"), "migrations failed");
                ("FAILED", format!("migrations failed: {error:#}"), 0)
            }
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

/// The time left before `deadline` (Lambda's, in ms since the epoch; 0 when unknown) less
/// [`ANSWER_MARGIN`]; `None` without a deadline.
fn time_left(deadline: u64) -> Option<Duration> {
    if deadline == 0 {
        return None;
    }
    let deadline = std::time::UNIX_EPOCH + Duration::from_millis(deadline);
    Some(
        deadline
            .duration_since(std::time::SystemTime::now())
            .unwrap_or_default()
            .saturating_sub(ANSWER_MARGIN),
    )
}
