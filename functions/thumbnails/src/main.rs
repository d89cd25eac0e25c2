use lambda_runtime::service_fn;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::telemetry::init();
    let state = shared::AppState::init_as(shared::db::Login::Worker)
        .await?
        .answering_through_pool();
    lambda_runtime::run(service_fn(|event| thumbnails::handle(&state, event))).await
}
