#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let state = shared::AppState::init_as(shared::db::Login::Worker).await?;
    lambda_http::run(webhooks::app(state)).await
}
