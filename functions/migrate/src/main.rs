use lambda_runtime::service_fn;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::telemetry::init();
    let settings = shared::config::settings().await?;
    let database = migrate::Database::from_settings(settings)?;

    if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_none() {
        // Run locally as a command: create the database if needed, apply once, say what changed.
        migrate::create_database_if_missing(&settings.database_url).await?;
        let applied = migrate::apply(&database).await?;
        for migration in &applied {
            println!("applied {} {}", migration.version, migration.description);
        }
        println!(
            "database is up to date ({} migration(s) applied)",
            applied.len()
        );
        return Ok(());
    }

    let http = reqwest::Client::new();
    let database = &database;
    lambda_runtime::run(service_fn(|event| migrate::handle(event, database, &http))).await
}
