use lambda_runtime::service_fn;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::telemetry::init();

    if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_none() {
        // Run locally as a command: create the database if needed, apply once, say what changed
        // (or, with `reseal`, re-seal sealed data with the newest data key).
        let settings = shared::config::settings().await?;
        let database = migrate::Database::from_settings(settings)?;
        if std::env::args().nth(1).as_deref() == Some("reseal") {
            // Moves sealed data to the newest data key of the configured DATA_KEYS.
            let mut owner = database.connect().await?;
            let resealed = migrate::keys::reseal(&mut owner, &settings.keys.snapshot()).await?;
            println!("{}", serde_json::to_string(&resealed)?);
            return Ok(());
        }
        migrate::create_database_if_missing(&settings.database_url).await?;
        match migrate::apply(&database).await {
            Ok(applied) => {
                for migration in &applied {
                    println!("applied {} {}", migration.version, migration.description);
                }
                println!(
                    "database is up to date ({} migration(s) applied)",
                    applied.len()
                );
            }
            Err(error) if error.downcast_ref::<migrate::NewerDatabase>().is_some() => {
                println!("{error}");
            }
            Err(error) => return Err(error.into()),
        }
        return Ok(());
    }

    // In Lambda the settings are read inside the invocation, so a secret that cannot be read
    // is answered to CloudFormation as FAILED with the reason instead of failing the cold
    // start (which CloudFormation would only see as a timeout).
    let http = reqwest::Client::new();
    lambda_runtime::run(service_fn(|event| {
        migrate::handle(event, database(), &http)
    }))
    .await
}

/// The database to migrate, from settings read anew for each invocation: migrate runs seldom,
/// and the master password RDS rotates may have changed since the last one.
async fn database() -> Result<migrate::Database, String> {
    let settings = shared::Settings::load(std::env::vars().collect())
        .await
        .map_err(|e| e.to_string())?;
    migrate::Database::from_settings(&settings).map_err(|e| e.to_string())
}
