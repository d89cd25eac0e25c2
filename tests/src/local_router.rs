//! Every HTTP function's router behind one plain HTTP listener, dispatched by path as
//! `cargo lambda watch`'s router (and API Gateway) does. For tests that drive the API hard
//! rather than test the Lambda event path: the fuzz test (the watch emulator answers a request
//! body that is not UTF-8 with its own 500 before any function sees it, where API Gateway would
//! pass it on base64-encoded) and the demo data script (a hundred quick requests).

use axum::Router;
use axum::extract::Request;
use tower::ServiceExt;

use crate::routes;

/// One router in front of all the functions' own (`app(state)` each, as their binaries run),
/// dispatching by the route table of the workspace Cargo.toml ([`crate::routes`]).
pub fn router(state: shared::AppState) -> Router {
    let functions: Vec<(&'static str, Router)> = routes::functions()
        .into_iter()
        .map(|name| {
            let function = api::function(name)
                .unwrap_or_else(|| panic!("the route table names {name}, which api does not know"));
            (name, (function.app)(state.clone()))
        })
        .collect();
    Router::new().fallback(move |request: Request| {
        let name = routes::function_for(request.uri().path()).unwrap_or("health");
        let router = functions
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, r)| r.clone())
            .expect("every function of the route table has a router");
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
