#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let state = shared::AppState::init_as(shared::db::Login::Tenant).await?;
    shared::http::run(storage::app(state)).await
}
