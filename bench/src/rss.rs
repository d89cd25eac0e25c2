//! Memory and size of each function as Lambda runs it: the release binary, fed its sample event
//! over and over by the bench's Runtime API (one at a time, as a Lambda environment serves
//! them), then its peak resident set (`VmHWM`); and the size of the stripped binary.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::events;
use crate::fixture::Fixture;
use crate::functions::{Function, binary_size};
use crate::report::{Row, Target};
use crate::stats::{megabytes, peak_rss};
use shared::runtime_api::RuntimeApi;

const RSS_TARGET_MB: f64 = 30.0;
const SIZE_TARGET_MB: f64 = 8.0;

/// Peak RSS of each function after `events` invocations (or `max_time`, whichever comes first).
pub async fn run(
    functions: &[Function],
    fixture: &Fixture,
    events: usize,
    max_time: Duration,
    logs: &Path,
) -> anyhow::Result<Vec<Row>> {
    let mut rows = Vec::new();
    for function in functions {
        let api = RuntimeApi::start(&function.name).await?;
        let sample = events::sample(function, fixture, &api);
        let mut child = function
            .lambda_command(
                &api.endpoint(),
                fixture,
                &logs.join(format!("{}.log", function.name)),
            )?
            .spawn()?;
        let pid = child
            .id()
            .ok_or_else(|| anyhow::anyhow!("{} exited at once", function.name))?;
        let started = Instant::now();
        let mut served = 0;
        while served < events && started.elapsed() < max_time {
            let outcome = tokio::time::timeout(Duration::from_secs(15), api.invoke(&sample.event)?)
                .await
                .map_err(|_| anyhow::anyhow!("{} did not answer", function.name))??;
            sample.check(&outcome, &api)?;
            served += 1;
        }
        let peak = megabytes(peak_rss(pid)?);
        child.kill().await?;
        rows.push(
            Row::new(
                "memory",
                format!(
                    "{}: peak RSS after {served} × {}",
                    function.name, sample.label
                ),
                format!("{peak:.1} MB"),
            )
            .target(Target::below(
                peak,
                RSS_TARGET_MB,
                format!("< {RSS_TARGET_MB} MB"),
            ))
            .data(json!({ "function": function.name, "events": served, "peak_rss_mb": peak })),
        );
    }
    Ok(rows)
}

/// The size of each stripped release binary.
pub fn sizes(functions: &[Function]) -> anyhow::Result<Vec<Row>> {
    functions
        .iter()
        .map(|function| {
            let bytes = binary_size(&function.binary)?;
            let size = megabytes(bytes);
            Ok(Row::new(
                "size",
                format!("{}: release binary (stripped, x86_64)", function.name),
                format!("{size:.2} MB"),
            )
            .target(Target::below(
                size,
                SIZE_TARGET_MB,
                format!("< {SIZE_TARGET_MB} MB"),
            ))
            .data(json!({ "function": function.name, "bytes": bytes })))
        })
        .collect()
}
