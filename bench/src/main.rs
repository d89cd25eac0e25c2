//! `make bench`: figures measured on this machine, printed as a table and written as JSON
//! (`target/bench/results.json`).
//!
//! Parts, in the order they run:
//! - `size`: the stripped release binaries;
//! - `coldstart`: each function's binary spawned against the bench's Lambda Runtime API
//!   ([`shared::runtime_api`]): spawn → ready for its first event, spawn → first answer;
//! - `memory`: each function's binary under a stream of events, its peak RSS;
//! - `load`: warm throughput and latency at 32 clients over HTTP, each router in a `bench serve`
//!   process, against the real Postgres;
//! - `watch`: a few sequential requests through `cargo lambda watch`, the real event path;
//! - `scaling`: product list and by id at 1,000 and 100,000 products, statements per request;
//! - `connections`: 200 environments with a pool of one each against `max_connections = 50`,
//!   directly and through a transaction pooler: answers, 503s and p99;
//! - `enumeration`: registration, password reset, sign-in and invitations about addresses with
//!   an account and without: the same answers, and median times within 10 %;
//! - `webhooks`: what events cost a write, commit to delivery, 1,000 events to 3 endpoints
//!   with one receiver down for a while;
//! - `storage`: asking for an upload and completing it (moto's S3), thumbnails of a
//!   12-megapixel photo (time and peak memory, `bench thumbnail <file>` in a child process);
//! - `stocktakes`: a stocktake of 10,000 products started, counted in batches and applied;
//! - `lots`: the statements and time of a sale of a lot-tracked product (first expiry first)
//!   against an untracked one's;
//! - `stock_value`: what 100,000 products' stock is worth, now and at a past date.
//!
//! `bench serve <function>` is the server the load part starts (see [`serve`]).

mod coldstart;
mod connections;
mod cpu;
mod enumeration;
mod events;
mod fixture;
mod functions;
mod load;
mod lots;
mod report;
mod rss;
mod scaling;
mod serve;
mod stats;
mod stock_value;
mod stocktakes;
mod storage;
mod watch;
mod webhooks;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::functions::Workspace;
use crate::load::LoadSettings;
use crate::report::Report;

const PARTS: &[&str] = &[
    "size",
    "coldstart",
    "memory",
    "load",
    "watch",
    "scaling",
    "connections",
    "enumeration",
    "webhooks",
    "storage",
    "stocktakes",
    "lots",
    "stock_value",
];

const USAGE: &str = "usage: bench [--quick] [--only PART,...] [--skip PART,...] [--clients N] [--pool N] [--duration SECS] [--out FILE]
       bench serve <function>
       bench thumbnail <file>
parts: size, coldstart, memory, load, watch, scaling, connections, enumeration, webhooks, storage, stocktakes, lots, stock_value";

struct Options {
    parts: Vec<&'static str>,
    spawns: usize,
    memory_events: usize,
    watch_samples: usize,
    load: LoadSettings,
    out: Option<PathBuf>,
}

impl Options {
    fn parse(args: &[String]) -> anyhow::Result<Self> {
        let mut options = Self {
            parts: PARTS.to_vec(),
            spawns: 20,
            memory_events: 300,
            watch_samples: 20,
            load: LoadSettings {
                clients: 32,
                warmup: Duration::from_secs(1),
                duration: Duration::from_secs(5),
                // Two per core: 16 measured slower here (more backends contending for 2 cores).
                pool: 4,
            },
            out: None,
        };
        let mut args = args.iter();
        let parts = |list: &str| -> anyhow::Result<Vec<&'static str>> {
            list.split(',')
                .map(|p| {
                    PARTS
                        .iter()
                        .copied()
                        .find(|known| *known == p.trim())
                        .ok_or_else(|| anyhow::anyhow!("unknown part {p}\n{USAGE}"))
                })
                .collect()
        };
        while let Some(arg) = args.next() {
            let mut value = || {
                args.next()
                    .map(String::as_str)
                    .ok_or_else(|| anyhow::anyhow!("{arg} needs a value\n{USAGE}"))
            };
            match arg.as_str() {
                "--quick" => {
                    options.spawns = 5;
                    options.memory_events = 50;
                    options.watch_samples = 5;
                    options.load.warmup = Duration::from_millis(300);
                    options.load.duration = Duration::from_secs(1);
                }
                "--only" => options.parts = parts(value()?)?,
                "--skip" => {
                    let skipped = parts(value()?)?;
                    options.parts.retain(|p| !skipped.contains(p));
                }
                "--clients" => options.load.clients = value()?.parse()?,
                "--pool" => options.load.pool = value()?.parse()?,
                "--duration" => options.load.duration = Duration::from_secs_f64(value()?.parse()?),
                "--out" => options.out = Some(value()?.into()),
                "-h" | "--help" => {
                    println!("{USAGE}");
                    std::process::exit(0);
                }
                other => anyhow::bail!("unknown argument {other}\n{USAGE}"),
            }
        }
        Ok(options)
    }
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("serve") {
        return serve::main(&args[1..]);
    }
    if args.first().map(String::as_str) == Some("thumbnail") {
        return storage::thumbnail(&args[1..]);
    }
    let options = Options::parse(&args)?;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run(options))
}

async fn run(options: Options) -> anyhow::Result<()> {
    let started = Instant::now();
    let workspace = Workspace::discover()?;
    // Only these parts run the functions' binaries; the others run routers in this process.
    if options
        .parts
        .iter()
        .any(|p| ["size", "coldstart", "memory", "load", "watch"].contains(p))
    {
        workspace.check_binaries()?;
    }
    let logs = workspace.out_dir.join("logs");
    std::fs::create_dir_all(&logs)?;
    let out = options
        .out
        .clone()
        .unwrap_or_else(|| workspace.out_dir.join("results.json"));
    let base_url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());

    let mut report = Report::default();
    let mut timings = serde_json::Map::new();
    let functions = &workspace.functions;
    eprintln!(
        "bench: {} functions ({}); parts: {}",
        functions.len(),
        functions
            .iter()
            .map(|f| f.name.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        options.parts.join(", ")
    );
    let fixture = fixture::Fixture::create(&base_url).await?;
    timings.insert("setup_s".into(), started.elapsed().as_secs_f64().into());

    let outcome = async {
        for part in &options.parts {
            let part_started = Instant::now();
            eprintln!("bench: {part}...");
            let rows = match *part {
                "size" => rss::sizes(functions)?,
                "coldstart" => coldstart::run(functions, &fixture, options.spawns, &logs).await?,
                "memory" => {
                    rss::run(
                        functions,
                        &fixture,
                        options.memory_events,
                        Duration::from_secs(5),
                        &logs,
                    )
                    .await?
                }
                "load" => load::run(&fixture, &options.load, &logs).await?,
                "watch" => watch::run(&workspace, &fixture, options.watch_samples, &logs).await?,
                "scaling" => scaling::run(&fixture).await?,
                "connections" => connections::run().await?,
                "enumeration" => enumeration::run(&fixture).await?,
                "webhooks" => webhooks::run(&fixture).await?,
                "storage" => storage::run(&fixture, &workspace).await?,
                "stocktakes" => stocktakes::run(&fixture).await?,
                "lots" => lots::run(&fixture).await?,
                "stock_value" => stock_value::run(&fixture).await?,
                other => anyhow::bail!("unknown part {other}"),
            };
            report.extend(rows);
            timings.insert(
                format!("{part}_s"),
                part_started.elapsed().as_secs_f64().into(),
            );
        }
        Ok::<_, anyhow::Error>(())
    }
    .await;
    fixture.drop_database().await?;
    outcome?;

    let elapsed = started.elapsed();
    timings.insert("total_s".into(), elapsed.as_secs_f64().into());
    report.run.insert("machine".into(), machine());
    report.run.insert("parts".into(), json!(options.parts));
    report.run.insert("timings".into(), timings.into());
    report
        .run
        .insert("finished_at".into(), chrono::Utc::now().to_rfc3339().into());
    report.print();
    report.write_json(&out)?;
    println!(
        "\nRun took {:.0} s. JSON: {}; function logs: {}",
        elapsed.as_secs_f64(),
        out.display(),
        logs.display()
    );
    Ok(())
}

/// The machine the figures come from.
fn machine() -> serde_json::Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|l| l.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_default();
    let commit = std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    json!({
        "cpus": std::thread::available_parallelism().map_or(1, |n| n.get()),
        "cpu": cpu,
        "arch": std::env::consts::ARCH,
        "git_commit": commit,
    })
}
