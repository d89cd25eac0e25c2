//! Cold start: each function's release binary, spawned fresh against the bench's Runtime API
//! with its first event already queued (as when Lambda starts an environment for a request).
//! Two times from `spawn`: until the function asks for its first event (ready: process start,
//! settings, pool, runtime client), and until its answer is delivered (ready plus the first
//! request, which opens the first database connection).

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::events;
use crate::fixture::Fixture;
use crate::functions::Function;
use crate::report::{Row, Target};
use crate::stats::{millis, percentile};
use shared::runtime_api::{Outcome, RuntimeApi};

/// Every function should be ready for its first event this soon after spawn.
const READY_TARGET_MS: f64 = 15.0;
const INVOCATION_TIMEOUT: Duration = Duration::from_secs(15);

pub async fn run(
    functions: &[Function],
    fixture: &Fixture,
    spawns: usize,
    logs: &Path,
) -> anyhow::Result<Vec<Row>> {
    let mut rows = Vec::new();
    for function in functions {
        let mut ready = Vec::with_capacity(spawns);
        let mut answered = Vec::with_capacity(spawns);
        let mut label = String::new();
        for _ in 0..spawns {
            let (r, a, l) = spawn_once(function, fixture, logs).await?;
            ready.push(r);
            answered.push(a);
            label = l;
        }
        let ready_p50 = millis(percentile(&mut ready, 0.5));
        let answered_p50 = millis(percentile(&mut answered, 0.5));
        let ready_max = millis(ready.last().copied().unwrap_or_default());
        rows.push(
            Row::new(
                "cold start",
                format!("{}: spawn → first /next, spawn → answer to {label}", function.name),
                format!(
                    "{ready_p50:.1} ms, {answered_p50:.1} ms (median of {spawns}; slowest ready {ready_max:.1} ms)"
                ),
            )
            .target(Target::below(
                ready_p50,
                READY_TARGET_MS,
                format!("ready < {READY_TARGET_MS} ms"),
            ))
            .data(json!({
                "function": function.name,
                "event": label,
                "spawns": spawns,
                "ready_ms_p50": ready_p50,
                "ready_ms_max": ready_max,
                "first_answer_ms_p50": answered_p50,
            })),
        );
    }
    Ok(rows)
}

/// One spawn: (spawn → first `/next`, spawn → answer delivered, what the event was).
async fn spawn_once(
    function: &Function,
    fixture: &Fixture,
    logs: &Path,
) -> anyhow::Result<(Duration, Duration, String)> {
    let api = RuntimeApi::start(&function.name).await?;
    let sample = events::sample(function, fixture, &api);
    let outcome = api.invoke(&sample.event)?;
    let mut command = function.lambda_command(
        &api.endpoint(),
        fixture,
        &logs.join(format!("{}.log", function.name)),
    )?;
    let spawned = Instant::now();
    let mut child = command.spawn()?;
    let outcome = tokio::select! {
        outcome = outcome => outcome?,
        status = child.wait() => anyhow::bail!(
            "{} exited ({}) before answering; init error: {:?}",
            function.name, status?, api.init_error()
        ),
        () = tokio::time::sleep(INVOCATION_TIMEOUT) => anyhow::bail!(
            "{} did not answer within {INVOCATION_TIMEOUT:?}", function.name
        ),
    };
    child.kill().await?;
    sample.check(&outcome, &api)?;
    let ready = api
        .first_next()
        .ok_or_else(|| anyhow::anyhow!("{} answered without asking for an event", function.name))?;
    let Outcome::Response { at, .. } = outcome else {
        anyhow::bail!("{} reported an error", function.name);
    };
    Ok((ready - spawned, at - spawned, sample.label))
}
