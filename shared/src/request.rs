//! The request being handled, as code far from the handler needs it: its id (error bodies,
//! audit rows) and its client IP (audit rows). Set by the HTTP layer for the request's whole
//! task; absent outside a request (a scheduled job).

use std::future::Future;
use std::sync::{Arc, Mutex};

use std::pin::Pin;

/// One piece of work deferred until the response has left ([`crate::after_response`]).
pub type Job = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

struct Current {
    id: Arc<str>,
    ip: String,
    /// Work to run once the response has left ([`crate::after_response`]).
    after_response: Mutex<Vec<Job>>,
    /// Work that becomes after-response work if the request's transaction commits.
    after_commit: Mutex<Vec<Job>>,
}

tokio::task_local! {
    static CURRENT: Arc<Current>;
}

/// Runs `work` as the request `id` from client `ip`; returns its output and the work it
/// deferred, for the caller to hand to whoever runs it ([`crate::after_response`]). Call it
/// around the whole answer, outside the request's transaction.
pub async fn scope<F: Future>(id: Arc<str>, ip: String, work: F) -> (F::Output, Vec<Job>) {
    let current = Arc::new(Current {
        id,
        ip,
        after_response: Mutex::new(Vec::new()),
        after_commit: Mutex::new(Vec::new()),
    });
    let output = CURRENT.scope(current.clone(), work).await;
    let jobs = std::mem::take(
        &mut *current
            .after_response
            .lock()
            .unwrap_or_else(|e| e.into_inner()),
    );
    (output, jobs)
}

/// Keeps `job` for after the response of the request being handled; gives it back outside a
/// request.
pub(crate) fn keep_for_after_response(job: Job) -> Option<Job> {
    let mut job = Some(job);
    let kept = CURRENT.try_with(|current| {
        if let Some(job) = job.take() {
            current
                .after_response
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(job);
        }
    });
    match kept {
        Ok(()) => None,
        Err(_) => job,
    }
}

/// Keeps `job` to run after the response, if the request's transaction commits (the
/// transaction layer of [`crate::http::layers`] decides); dropped outside a request.
pub(crate) fn after_commit(job: Job) {
    let _ = CURRENT.try_with(|current| {
        current
            .after_commit
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(job);
    });
}

/// The work kept for a commit of the request being handled, taken.
pub(crate) fn take_after_commit() -> Vec<Job> {
    CURRENT
        .try_with(|current| {
            std::mem::take(
                &mut *current
                    .after_commit
                    .lock()
                    .unwrap_or_else(|e| e.into_inner()),
            )
        })
        .unwrap_or_default()
}

/// The id of the request being handled.
pub fn current_request_id() -> Option<String> {
    CURRENT.try_with(|current| current.id.to_string()).ok()
}

/// The client IP of the request being handled (see [`crate::auth::ClientIp`]).
pub fn current_client_ip() -> Option<String> {
    CURRENT.try_with(|current| current.ip.clone()).ok()
}
