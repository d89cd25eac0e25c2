//! Every HTTP function's router behind one plain HTTP listener, dispatched by path as
//! `cargo lambda watch`'s router (and API Gateway) does. For tests that drive the API hard
//! rather than test the Lambda event path: the fuzz test (the watch emulator answers a request
//! body that is not UTF-8 with its own 500 before any function sees it, where API Gateway would
//! pass it on base64-encoded) and the demo data script (a hundred quick requests).

use axum::Router;
use axum::extract::Request;
use tower::ServiceExt;

/// The function that serves `path` (the table in the workspace Cargo.toml).
pub fn function_for(path: &str) -> &'static str {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match segments.as_slice() {
        ["api", "auth", ..] => "auth",
        [
            "api",
            "users" | "api-keys" | "audit-log" | "organization",
            ..,
        ] => "users",
        ["api", "products", ..] => "products",
        ["api", "suppliers", ..] => "suppliers",
        ["api", "inventory" | "purchase-orders" | "payments", ..] => "inventory",
        ["api", "tasks", ..] | ["api", _, "tasks", ..] => "tasks",
        ["api", "dashboard", ..] => "dashboard",
        ["webhooks", ..] => "webhooks",
        _ => "health",
    }
}

/// One router in front of all the functions' own (`app(state)` each, as their binaries run).
pub fn router(state: shared::AppState) -> Router {
    let functions: Vec<(&'static str, Router)> = vec![
        ("auth", auth::app(state.clone())),
        ("users", users::app(state.clone())),
        ("products", products::app(state.clone())),
        ("suppliers", suppliers::app(state.clone())),
        ("inventory", inventory::app(state.clone())),
        ("tasks", tasks::app(state.clone())),
        ("dashboard", dashboard::app(state.clone())),
        ("webhooks", webhooks::app(state.clone())),
        ("health", health::app(state)),
    ];
    Router::new().fallback(move |request: Request| {
        let name = function_for(request.uri().path());
        let router = functions
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, r)| r.clone())
            .expect("every name in function_for has a router");
        async move { router.oneshot(request).await }
    })
}

/// Serves [`router`] on a free local port for the rest of the test; returns its base URL.
pub async fn serve(state: shared::AppState) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a free local port");
    let base = format!("http://{}", listener.local_addr().expect("a bound address"));
    tokio::spawn(axum::serve(listener, router(state)).into_future());
    base
}
