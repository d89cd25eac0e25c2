use lambda_runtime::service_fn;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::telemetry::init();
    let state = shared::AppState::init_as(shared::db::Login::Worker)
        .await?
        .answering_through_pool();
    let client = shared::events::outbound::client(&state.settings.webhooks);
    lambda_runtime::run(service_fn(|event| {
        dispatcher::handle(&state, &client, event)
    }))
    .await
}
