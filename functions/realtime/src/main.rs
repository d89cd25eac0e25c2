use lambda_runtime::service_fn;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::telemetry::init();
    let realtime = realtime::Realtime::start().await?;
    lambda_runtime::run(service_fn(|event| realtime.handle(event))).await
}
