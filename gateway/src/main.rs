//! `gateway [--listen 127.0.0.1:9000] --invoke URL [--upstream URL]`: the WebSocket API's
//! stand-in for `make dev` (see the library). `--invoke` is the realtime function's Lambda
//! invoke URL, `--upstream` the functions' HTTP server every other request goes to.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let mut listen = "127.0.0.1:9000".to_owned();
    let mut invoke = None;
    let mut upstream = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next();
        match (arg.as_str(), value) {
            ("--listen", Some(v)) => listen = v,
            ("--invoke", Some(v)) => invoke = Some(v),
            ("--upstream", Some(v)) => upstream = Some(v),
            _ => anyhow::bail!("usage: gateway [--listen ADDR] --invoke URL [--upstream URL]"),
        }
    }
    let invoke = invoke.ok_or_else(|| anyhow::anyhow!("--invoke URL is required"))?;
    let gateway = gateway::Gateway::new(gateway::invoke_url(invoke), upstream);
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    tracing::info!(%listen, "the WebSocket API's stand-in is serving /realtime");
    gateway::serve(listener, gateway).await?;
    Ok(())
}
