//! Every HTTP function's router behind one plain HTTP listener, dispatched by path as
//! `cargo lambda watch`'s router (and API Gateway) does. For the fuzz test: the watch emulator
//! answers a request body that is not UTF-8 with its own 500 before any function sees it
//! (API Gateway would pass it on base64-encoded), so fuzzing through it would report the
//! emulator, not the API.

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
        ["api", "inventory" | "purchase-orders", ..] => "inventory",
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
