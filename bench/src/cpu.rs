//! Where a load's CPU goes: the CPU time of the load client (this process), the server process
//! and its Postgres backends, read from `/proc` before and after, per request; and how busy the
//! whole machine was (other processes included). On a machine where all of them share the same
//! cores, the sum per request bounds the throughput.

use std::collections::HashMap;

use serde::Serialize;

/// `USER_HZ`: the unit of the CPU times in `/proc/<pid>/stat` and `/proc/stat` (100 on Linux).
const TICKS_PER_SECOND: f64 = 100.0;

/// CPU time (user + system) a process has used, or `None` once it has gone.
fn process_cpu(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start at the state, field 3;
    // utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / TICKS_PER_SECOND)
}

/// (busy, total) CPU seconds of the whole machine since boot, all cores.
fn machine_cpu() -> anyhow::Result<(f64, f64)> {
    let stat = std::fs::read_to_string("/proc/stat")?;
    let line = stat
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("cpu "))
        .ok_or_else(|| anyhow::anyhow!("unexpected /proc/stat"))?;
    let ticks: Vec<f64> = line
        .split_whitespace()
        .filter_map(|t| t.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    let total: f64 = ticks.iter().take(8).sum();
    let idle = ticks.get(3).copied().unwrap_or(0.0) + ticks.get(4).copied().unwrap_or(0.0);
    Ok(((total - idle) / TICKS_PER_SECOND, total / TICKS_PER_SECOND))
}

/// CPU times at one moment.
pub struct Snapshot {
    client: f64,
    server: f64,
    backends: HashMap<u32, f64>,
    machine_busy: f64,
    machine_total: f64,
}

/// The Postgres backends serving `application_name` (each function's pool names itself
/// `stockroom-<function>`).
async fn backends(pool: &sqlx::PgPool, application_name: &str) -> anyhow::Result<Vec<u32>> {
    let pids: Vec<i32> =
        sqlx::query_scalar("SELECT pid FROM pg_stat_activity WHERE application_name = $1")
            .bind(application_name)
            .fetch_all(pool)
            .await?;
    Ok(pids
        .into_iter()
        .filter_map(|p| u32::try_from(p).ok())
        .collect())
}

impl Snapshot {
    pub async fn take(
        server_pid: u32,
        pool: &sqlx::PgPool,
        application_name: &str,
    ) -> anyhow::Result<Self> {
        let backends = backends(pool, application_name)
            .await?
            .into_iter()
            .filter_map(|pid| Some((pid, process_cpu(pid)?)))
            .collect();
        let (machine_busy, machine_total) = machine_cpu()?;
        Ok(Self {
            client: process_cpu(std::process::id()).unwrap_or(0.0),
            server: process_cpu(server_pid).unwrap_or(0.0),
            backends,
            machine_busy,
            machine_total,
        })
    }
}

/// CPU per request between two snapshots, in microseconds.
#[derive(Clone, Debug, Serialize)]
pub struct Usage {
    pub server_us: f64,
    pub postgres_us: f64,
    pub client_us: f64,
    /// Everything else that ran on the machine meanwhile (other users' work included).
    pub others_us: f64,
    /// How busy all cores were, 0..1.
    pub machine_busy: f64,
    /// Requests per second the server and Postgres could reach with every core to themselves.
    pub ceiling_req_per_s: f64,
}

impl Usage {
    pub fn between(before: &Snapshot, after: &Snapshot, requests: usize, cores: usize) -> Self {
        let per_request = |seconds: f64| seconds.max(0.0) * 1e6 / requests.max(1) as f64;
        // A backend that started during the load started from zero.
        let postgres: f64 = after
            .backends
            .iter()
            .map(|(pid, cpu)| cpu - before.backends.get(pid).copied().unwrap_or(0.0))
            .sum();
        let server = after.server - before.server;
        let client = after.client - before.client;
        let busy = after.machine_busy - before.machine_busy;
        let total = after.machine_total - before.machine_total;
        let server_us = per_request(server);
        let postgres_us = per_request(postgres);
        Self {
            server_us,
            postgres_us,
            client_us: per_request(client),
            others_us: per_request(busy - server - postgres - client),
            machine_busy: if total > 0.0 { busy / total } else { 0.0 },
            ceiling_req_per_s: cores as f64 * 1e6 / (server_us + postgres_us).max(1.0),
        }
    }

    pub fn summary(&self) -> String {
        format!(
            "CPU per request: server {:.0} µs + Postgres {:.0} µs + client {:.0} µs + other processes {:.0} µs, cores {:.0}% busy",
            self.server_us,
            self.postgres_us,
            self.client_us,
            self.others_us,
            self.machine_busy * 100.0
        )
    }
}
