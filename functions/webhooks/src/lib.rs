//! The `webhooks` function: `POST /webhooks/wise`, where Wise reports transfer state changes
//! that move the payment status of purchase orders.
//!
//! No user signs these requests in: Wise signs each delivery, and only a delivery whose
//! `X-Signature-SHA256` verifies against Wise's public key (`WISE_WEBHOOK_PUBLIC_KEY`) is read.

mod wise;

use axum::Router;
use axum::extract::FromRef;
use axum::routing::post;
use shared::AppState;
use shared::wise::SignatureVerifier;

/// The router's state: the shared state and Wise's public key, read once per cold start
/// (`None` when it is missing or unreadable: deliveries then get a 503 naming the setting).
#[derive(Clone, Debug)]
struct WebhookState {
    app: AppState,
    verifier: Option<SignatureVerifier>,
}

impl FromRef<WebhookState> for AppState {
    fn from_ref(state: &WebhookState) -> Self {
        state.app.clone()
    }
}

pub fn app(state: AppState) -> Router {
    let http = state.settings.http.clone();
    let verifier = match state.settings.wise.webhook_public_key.as_deref() {
        None => {
            tracing::warn!(
                "WISE_WEBHOOK_PUBLIC_KEY is not set: Wise webhook deliveries are refused"
            );
            None
        }
        Some(pem) => SignatureVerifier::from_pem(pem)
            .inspect_err(|error| tracing::error!(%error, "Wise webhook deliveries are refused"))
            .ok(),
    };
    let router = Router::new()
        .route("/webhooks/wise", post(wise::receive))
        .with_state(WebhookState {
            app: state,
            verifier,
        });
    shared::http::layers(router, &http, openapi)
}

/// This function's operations, for the whole API's document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    #[derive(utoipa::OpenApi)]
    #[openapi(paths(wise::receive))]
    struct Doc;
    shared::http::openapi::function(<Doc as utoipa::OpenApi>::openapi(), "webhooks")
}
