#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let state = shared::AppState::init_as(shared::db::Login::Auth).await?;
    shared::http::run(auth::app(state)).await
}
