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

/// CPU seconds of the whole machine since boot, all cores.
#[derive(Clone, Copy, Default)]
struct Machine {
    /// Not idle (interrupts included, steal excluded).
    busy: f64,
    total: f64,
}

fn machine_cpu() -> anyhow::Result<Machine> {
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
    let field = |i: usize| ticks.get(i).copied().unwrap_or(0.0) / TICKS_PER_SECOND;
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    let total: f64 = (0..8).map(field).sum();
    Ok(Machine {
        busy: total - field(3) - field(4) - field(7),
        total,
    })
}

/// CPU times at one moment.
pub struct Snapshot {
    client: f64,
    server: f64,
    backends: HashMap<u32, f64>,
    machine: Machine,
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
        Ok(Self {
            client: process_cpu(std::process::id()).unwrap_or(0.0),
            server: process_cpu(server_pid).unwrap_or(0.0),
            backends,
            machine: machine_cpu()?,
        })
    }
}

/// CPU per request between two snapshots, in microseconds.
#[derive(Clone, Debug, Serialize)]
pub struct Usage {
    pub server_us: f64,
    pub postgres_us: f64,
    pub client_us: f64,
    /// Everything else the cores did meanwhile: other processes (other users' builds included)
    /// and interrupts that came while none of the three ran. (Interrupts that come while one
    /// of them runs are charged to it: the kernel accounts CPU time by tick.)
    pub others_us: f64,
    /// How busy all cores were, 0..1.
    pub machine_busy: f64,
    /// Requests per second if the cores did nothing but this load (the client included): the
    /// CPU bound.
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
        let busy = after.machine.busy - before.machine.busy;
        let total = after.machine.total - before.machine.total;
        let server_us = per_request(server);
        let postgres_us = per_request(postgres);
        let client_us = per_request(client);
        let own_us = server_us + postgres_us + client_us;
        Self {
            server_us,
            postgres_us,
            client_us,
            others_us: per_request(busy - server - postgres - client),
            machine_busy: if total > 0.0 { busy / total } else { 0.0 },
            ceiling_req_per_s: cores as f64 * 1e6 / own_us.max(1.0),
        }
    }

    pub fn summary(&self) -> String {
        format!(
            "CPU µs/request: server {:.0}, Postgres {:.0}, client {:.0}, rest of the machine {:.0} (cores {:.0}% busy) → CPU bound ≈ {:.0} req/s",
            self.server_us,
            self.postgres_us,
            self.client_us,
            self.others_us,
            self.machine_busy * 100.0,
            self.ceiling_req_per_s
        )
    }
}
