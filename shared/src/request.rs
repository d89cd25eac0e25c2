//! The request being handled, as code far from the handler needs it: its id (error bodies,
//! audit rows) and its client IP (audit rows). Set by the HTTP layer for the request's whole
//! task; absent outside a request (a scheduled job).

use std::future::Future;
use std::sync::Arc;

#[derive(Debug)]
struct Current {
    id: Arc<str>,
    ip: String,
}

tokio::task_local! {
    static CURRENT: Arc<Current>;
}

/// Runs `work` as the request `id` from client `ip`.
pub async fn scope<F: Future>(id: Arc<str>, ip: String, work: F) -> F::Output {
    CURRENT.scope(Arc::new(Current { id, ip }), work).await
}

/// The id of the request being handled.
pub fn current_request_id() -> Option<String> {
    CURRENT.try_with(|current| current.id.to_string()).ok()
}

/// The client IP of the request being handled (see [`crate::auth::ClientIp`]).
pub fn current_client_ip() -> Option<String> {
    CURRENT.try_with(|current| current.ip.clone()).ok()
}
