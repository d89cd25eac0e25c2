//! Warm throughput and latency: each function's router in its own `bench serve` process (see
//! [`crate::serve`]) against the real Postgres, loaded over HTTP/1.1 on loopback by `clients`
//! keep-alive connections from this process, each sending its next request as soon as the last
//! one is answered. Requests answered during the warm-up are not counted; requests/s and the
//! latency percentiles cover those answered during the measured window. Each figure also says
//! where the CPU went (see [`crate::cpu`]).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};

use crate::cpu::{Snapshot, Usage};
use crate::fixture::{self, Fixture};
use crate::report::{Row, Target};
use crate::serve::{SOURCE_IP_HEADER, Server};
use crate::stats::{megabytes, millis, peak_rss, percentile};

const PART: &str = "warm load";

#[derive(Clone, Copy, Debug)]
pub struct LoadSettings {
    pub clients: usize,
    pub warmup: Duration,
    pub duration: Duration,
    /// `DB_MAX_CONNECTIONS` of each `bench serve` process.
    pub pool: u32,
}

/// The pool a Lambda environment uses (`shared::db`, `DB_MAX_CONNECTIONS` default).
const LAMBDA_POOL: u32 = 1;
/// Logins each client makes: bcrypt-bound requests are counted whole, not in a time window
/// (32 logins at once finish together, so a window would catch one round or two).
const LOGINS_PER_CLIENT: usize = 2;

type MakeRequest = Box<dyn Fn(u64) -> anyhow::Result<Request<Full<Bytes>>> + Send + Sync>;

/// What the clients send, over and over: the `n`th request of the run is `make(n)`.
struct Scenario {
    route: &'static str,
    make: MakeRequest,
    expect: StatusCode,
}

/// How long the clients keep sending.
#[derive(Clone, Copy)]
enum Plan {
    /// Until warm-up plus duration; counts what is answered after the warm-up.
    Window {
        warmup: Duration,
        duration: Duration,
    },
    /// This many requests per client; counts them all.
    Rounds(usize),
}

struct Figures {
    requests: usize,
    rps: f64,
    p50: Duration,
    p99: Duration,
    cpu: Usage,
}

impl Figures {
    fn value(&self) -> String {
        format!(
            "{:.0} req/s, p50 {:.2} ms, p99 {:.2} ms ({} requests); {}",
            self.rps,
            millis(self.p50),
            millis(self.p99),
            self.requests,
            self.cpu.summary()
        )
    }

    fn data(&self, route: &str, pool: u32) -> Value {
        json!({
            "route": route,
            "pool": pool,
            "requests": self.requests,
            "req_per_s": self.rps,
            "p50_ms": millis(self.p50),
            "p99_ms": millis(self.p99),
            "cpu": self.cpu,
        })
    }
}

/// A request with the bench owner's token (when given) and a JSON body (when given).
pub fn request(
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> anyhow::Result<Request<Full<Bytes>>> {
    let mut builder = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "127.0.0.1")
        .header("accept", "application/json");
    if let Some(token) = token {
        builder = builder.header("authorization", format!("Bearer {token}"));
    }
    let body = match body {
        Some(body) => {
            builder = builder.header("content-type", "application/json");
            Bytes::from(serde_json::to_vec(body)?)
        }
        None => Bytes::new(),
    };
    Ok(builder.body(Full::new(body))?)
}

/// One keep-alive HTTP/1.1 connection.
pub struct Connection {
    sender: SendRequest<Full<Bytes>>,
}

impl Connection {
    pub async fn open(addr: SocketAddr) -> anyhow::Result<Self> {
        let stream = tokio::net::TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                eprintln!("connection to {addr} failed: {error}");
            }
        });
        Ok(Self { sender })
    }

    /// Sends one request and reads the whole answer.
    pub async fn send(
        &mut self,
        request: Request<Full<Bytes>>,
    ) -> anyhow::Result<(StatusCode, Bytes)> {
        self.sender.ready().await?;
        let response = self.sender.send_request(request).await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        Ok((status, body))
    }
}

/// Loads one `bench serve` process.
struct Loader<'a> {
    server: &'a Server,
    fixture: &'a Fixture,
    clients: usize,
}

impl Loader<'_> {
    /// Runs `scenario` from every client following `plan`.
    async fn drive(&self, scenario: Scenario, plan: Plan) -> anyhow::Result<Figures> {
        let scenario = Arc::new(scenario);
        let counter = Arc::new(AtomicU64::new(0));
        let application_name = format!("stockroom-{}", self.server.function);
        let pid = self.server.pid()?;
        let before = Snapshot::take(pid, &self.fixture.pool, &application_name).await?;
        let started = Instant::now();
        let (measured_from, end, rounds) = match plan {
            Plan::Window { warmup, duration } => {
                (started + warmup, started + warmup + duration, usize::MAX)
            }
            Plan::Rounds(rounds) => (started, started + Duration::from_secs(3600), rounds),
        };
        let mut clients = Vec::with_capacity(self.clients);
        for _ in 0..self.clients {
            let scenario = scenario.clone();
            let counter = counter.clone();
            let mut connection = Connection::open(self.server.addr).await?;
            clients.push(tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut sent_count = 0;
                while sent_count < rounds && Instant::now() < end {
                    let request = (scenario.make)(counter.fetch_add(1, Ordering::Relaxed))?;
                    sent_count += 1;
                    let sent = Instant::now();
                    let (status, body) = connection.send(request).await?;
                    let answered = Instant::now();
                    anyhow::ensure!(
                        status == scenario.expect,
                        "{} answered {status}: {}",
                        scenario.route,
                        String::from_utf8_lossy(&body)
                    );
                    if answered >= measured_from && answered < end {
                        latencies.push(answered - sent);
                    }
                }
                Ok::<_, anyhow::Error>(latencies)
            }));
        }
        let mut latencies = Vec::new();
        for client in clients {
            latencies.extend(client.await??);
        }
        let elapsed = match plan {
            Plan::Window { duration, .. } => duration,
            Plan::Rounds(_) => started.elapsed(),
        };
        let after = Snapshot::take(pid, &self.fixture.pool, &application_name).await?;
        let answered = counter.load(Ordering::Relaxed) as usize;
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Ok(Figures {
            requests: latencies.len(),
            rps: latencies.len() as f64 / elapsed.as_secs_f64(),
            p50: percentile(&mut latencies, 0.5),
            p99: percentile(&mut latencies, 0.99),
            cpu: Usage::between(&before, &after, answered, cores),
        })
    }
}

/// At least `rps`, with p99 under 20 ms.
fn throughput_target(figures: &Figures, rps: f64) -> Target {
    Target::at_least(figures.rps, rps, format!("≥ {rps:.0} req/s")).and(Target::below(
        millis(figures.p99),
        20.0,
        "p99 < 20 ms",
    ))
}

fn get(route: &'static str, path: &'static str, token: &Arc<String>) -> Scenario {
    let token = token.clone();
    Scenario {
        route,
        make: Box::new(move |_| request(Method::GET, path, Some(&token), None)),
        expect: StatusCode::OK,
    }
}

fn product_by_id(token: &Arc<String>, ids: &Arc<Vec<uuid::Uuid>>) -> Scenario {
    let token = token.clone();
    let ids = ids.clone();
    Scenario {
        route: "GET /api/products/{id}",
        make: Box::new(move |n| {
            let id = ids[n as usize % ids.len().max(1)];
            request(
                Method::GET,
                &format!("/api/products/{id}"),
                Some(&token),
                None,
            )
        }),
        expect: StatusCode::OK,
    }
}

fn create_product(token: &Arc<String>) -> Scenario {
    let token = token.clone();
    let run = uuid::Uuid::new_v4().simple().to_string();
    Scenario {
        route: "POST /api/products",
        make: Box::new(move |n| {
            let body = json!({
                "sku": format!("LOAD-{}-{n}", &run[..8]),
                "name": format!("Load product {n}"),
                "price": "9.99",
                "currency": "EUR",
            });
            request(Method::POST, "/api/products", Some(&token), Some(&body))
        }),
        expect: StatusCode::CREATED,
    }
}

/// Each login with its own account and address: the rate limits allow 5 a minute per each.
fn login() -> Scenario {
    Scenario {
        route: "POST /api/auth/login",
        make: Box::new(|n| {
            let body = json!({ "email": fixture::login_email(n), "password": fixture::PASSWORD });
            let mut request = request(Method::POST, "/api/auth/login", None, Some(&body))?;
            let ip = format!("10.{}.{}.{}", (n >> 16) & 255, (n >> 8) & 255, n & 255);
            request.headers_mut().insert(SOURCE_IP_HEADER, ip.parse()?);
            Ok(request)
        }),
        expect: StatusCode::OK,
    }
}

pub async fn run(
    fixture: &Fixture,
    settings: &LoadSettings,
    logs: &Path,
) -> anyhow::Result<Vec<Row>> {
    let LoadSettings {
        clients,
        warmup,
        duration,
        pool,
    } = *settings;
    let window = Plan::Window { warmup, duration };
    let mut rows = vec![Row::new(
        PART,
        "set-up",
        format!(
            "{clients} keep-alive clients over loopback HTTP, {:.1} s measured after {:.1} s warm-up (login: {LOGINS_PER_CLIENT} per client, all counted); each function's router in its own `bench serve` process with a pool of {pool} connections (a Lambda environment's pool: {LAMBDA_POOL}, one request at a time); database connections {}",
            duration.as_secs_f64(),
            warmup.as_secs_f64(),
            if fixture.tls { "over TLS" } else { "without TLS" }
        ),
    )
    .data(json!({ "clients": clients, "pool": pool, "lambda_pool": LAMBDA_POOL, "database_tls": fixture.tls,
                  "warmup_s": warmup.as_secs_f64(), "duration_s": duration.as_secs_f64() }))];
    let token = Arc::new(fixture.token.clone());
    let ids = Arc::new(fixture.product_ids.clone());
    let row = |figure: String, figures: &Figures, route: &str, pool: u32| {
        Row::new(PART, figure, figures.value()).data(figures.data(route, pool))
    };

    let server = Server::start("products", fixture, pool, logs).await?;
    let products = Loader {
        server: &server,
        fixture,
        clients,
    };
    let list = products
        .drive(
            get(
                "GET /api/products?limit=50",
                "/api/products?limit=50",
                &token,
            ),
            window,
        )
        .await?;
    rows.push(
        row(
            "product list, 50 items (GET /api/products?limit=50)".into(),
            &list,
            "GET /api/products?limit=50",
            pool,
        )
        .target(throughput_target(&list, 4_000.0)),
    );
    let by_id = products.drive(product_by_id(&token, &ids), window).await?;
    rows.push(
        row(
            "product by id (GET /api/products/{id})".into(),
            &by_id,
            "GET /api/products/{id}",
            pool,
        )
        .target(throughput_target(&by_id, 8_000.0)),
    );
    // Last: it grows the catalogue the other two read.
    let create = products.drive(create_product(&token), window).await?;
    rows.push(row(
        "create product (POST /api/products)".into(),
        &create,
        "POST /api/products",
        pool,
    ));
    rows.push(serve_rss_row(&server)?);
    server.stop().await?;

    let server = Server::start("products", fixture, LAMBDA_POOL, logs).await?;
    let small_pool = Loader {
        server: &server,
        fixture,
        clients,
    }
    .drive(product_by_id(&token, &ids), window)
    .await?;
    server.stop().await?;
    rows.push(row(
        format!("product by id, pool of {LAMBDA_POOL} connections (as in Lambda)"),
        &small_pool,
        "GET /api/products/{id}",
        LAMBDA_POOL,
    ));

    let server = Server::start("tasks", fixture, pool, logs).await?;
    let tasks = Loader {
        server: &server,
        fixture,
        clients,
    }
    .drive(
        get("GET /api/tasks?limit=50", "/api/tasks?limit=50", &token),
        window,
    )
    .await?;
    rows.push(row(
        "task list, 50 items (GET /api/tasks?limit=50)".into(),
        &tasks,
        "GET /api/tasks?limit=50",
        pool,
    ));
    rows.push(serve_rss_row(&server)?);
    server.stop().await?;

    let server = Server::start("auth", fixture, pool, logs).await?;
    let auth = Loader {
        server: &server,
        fixture,
        clients,
    };
    let me = auth
        .drive(get("GET /api/auth/me", "/api/auth/me", &token), window)
        .await?;
    rows.push(row(
        "GET /api/auth/me".into(),
        &me,
        "GET /api/auth/me",
        pool,
    ));
    let logins = auth.drive(login(), Plan::Rounds(LOGINS_PER_CLIENT)).await?;
    rows.push(row(
        "login (POST /api/auth/login, bcrypt-12 bound)".into(),
        &logins,
        "POST /api/auth/login",
        pool,
    ));
    rows.push(serve_rss_row(&server)?);
    server.stop().await?;

    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (bcrypt_rate, bcrypt_p50) = bcrypt_alone(&fixture.password_hash, threads, duration).await?;
    rows.push(
        Row::new(
            PART,
            format!("bcrypt-12 verification alone, {threads} threads"),
            format!(
                "{bcrypt_rate:.1} verifications/s, p50 {:.0} ms each; login reaches {:.0}% of it",
                millis(bcrypt_p50),
                logins.rps / bcrypt_rate * 100.0
            ),
        )
        .data(
            json!({ "threads": threads, "per_s": bcrypt_rate, "p50_ms": millis(bcrypt_p50),
                      "login_share": logins.rps / bcrypt_rate }),
        ),
    );
    Ok(rows)
}

fn serve_rss_row(server: &Server) -> anyhow::Result<Row> {
    let peak = megabytes(peak_rss(server.pid()?)?);
    let function = &server.function;
    Ok(Row::new(
        PART,
        format!("{function}: peak RSS of `bench serve {function}` after its loads"),
        format!("{peak:.1} MB"),
    )
    .data(json!({ "function": function, "peak_rss_mb": peak })))
}

/// bcrypt-12 verifications of the password against its hash on `threads` blocking threads for
/// `duration`: (verifications per second, median time of one).
async fn bcrypt_alone(
    hash: &str,
    threads: usize,
    duration: Duration,
) -> anyhow::Result<(f64, Duration)> {
    let started = Instant::now();
    let end = started + duration;
    let mut workers = Vec::new();
    for _ in 0..threads {
        let hash = hash.to_owned();
        workers.push(tokio::spawn(async move {
            let mut times = Vec::new();
            while Instant::now() < end {
                let started = Instant::now();
                let ok = shared::auth::password::verify(fixture::PASSWORD, Some(&hash))
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                anyhow::ensure!(ok, "the bench password does not match its hash");
                times.push(started.elapsed());
            }
            Ok::<_, anyhow::Error>(times)
        }));
    }
    let mut times = Vec::new();
    for worker in workers {
        times.extend(worker.await??);
    }
    let rate = times.len() as f64 / started.elapsed().as_secs_f64();
    Ok((rate, percentile(&mut times, 0.5)))
}
