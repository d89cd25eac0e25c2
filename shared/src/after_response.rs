//! Work that runs once the response has left: sending mail, so that no answer waits on a mail
//! server, and none tells by its time what a request found (whether an address has an account).
//!
//! A handler calls [`defer`]; the work runs after the request's transaction ended and its answer
//! was sent. In Lambda the function's runtime runs it after posting the response and before it
//! asks for the next event, so it runs while the execution environment is still awake (work
//! spawned and left to run would be frozen with the environment, perhaps for good). Elsewhere
//! (in-process tests) it is spawned as the response leaves. Whatever it does must be safe to
//! lose: mail is queued in the database first, and the scheduler sends what was missed.

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

pub use crate::request::Job;

/// Whether the Lambda runtime runs deferred work (set by [`RunAfterResponse`]).
static RUNTIME_RUNS_IT: AtomicBool = AtomicBool::new(false);
/// Work of answered requests, waiting for the runtime to post their responses.
static WAITING: Mutex<Vec<Job>> = Mutex::new(Vec::new());

/// Runs `work` after the response of the request being handled (at once, spawned, outside a
/// request).
pub fn defer(work: impl Future<Output = ()> + Send + 'static) {
    let job: Job = Box::pin(work);
    if let Some(job) = crate::request::keep_for_after_response(job) {
        release(vec![job]);
    }
}

/// Hands the deferred work of a request that has been answered to whoever runs it.
pub fn release(jobs: Vec<Job>) {
    if jobs.is_empty() {
        return;
    }
    if RUNTIME_RUNS_IT.load(Ordering::Acquire) {
        WAITING
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(jobs);
    } else {
        for job in jobs {
            tokio::spawn(job);
        }
    }
}

/// Runs the work waiting, one after the other, until none is left.
async fn drain() {
    loop {
        let jobs = std::mem::take(&mut *WAITING.lock().unwrap_or_else(|e| e.into_inner()));
        if jobs.is_empty() {
            return;
        }
        for job in jobs {
            job.await;
        }
    }
}

/// The outermost layer of a function's Lambda runtime: after an invocation's response was
/// posted to the Runtime API, it runs the deferred work before the runtime asks for the next
/// event.
#[derive(Clone, Copy, Debug, Default)]
pub struct RunAfterResponse;

impl<S> tower::Layer<S> for RunAfterResponse {
    type Service = AfterResponse<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RUNTIME_RUNS_IT.store(true, Ordering::Release);
        AfterResponse { inner }
    }
}

#[derive(Clone, Debug)]
pub struct AfterResponse<S> {
    inner: S,
}

impl<S, R> tower::Service<R> for AfterResponse<S>
where
    S: tower::Service<R>,
    S::Future: 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    // Not Send: the runtime awaits each invocation in place.
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: R) -> Self::Future {
        let answered = self.inner.call(request);
        Box::pin(async move {
            let outcome = answered.await;
            drain().await;
            outcome
        })
    }
}
