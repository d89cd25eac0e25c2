//! Warm throughput and latency: each function's router in its own `bench serve` process (see
//! [`crate::serve`]) against the real Postgres, loaded over HTTP/1.1 on loopback by `clients`
//! keep-alive connections from this process, each sending its next request as soon as the last
//! one is answered. Requests answered during the warm-up are not counted; requests/s and the
//! latency percentiles cover those answered during the measured window.

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

use crate::fixture::{self, Fixture};
use crate::report::{Row, Target};
use crate::serve::{SOURCE_IP_HEADER, Server};
use crate::stats::{megabytes, millis, peak_rss, percentile};

#[derive(Clone, Copy, Debug)]
pub struct LoadSettings {
    pub clients: usize,
    pub warmup: Duration,
    pub duration: Duration,
    /// `DB_MAX_CONNECTIONS` of each `bench serve` process.
    pub pool: u32,
}

/// The pool a Lambda environment uses (`shared::db`, `DB_MAX_CONNECTIONS` default).
const LAMBDA_POOL: u32 = 2;

type MakeRequest = Box<dyn Fn(u64) -> anyhow::Result<Request<Full<Bytes>>> + Send + Sync>;

/// What one client sends, over and over: the `n`th request of the run is `make(n)`.
struct Scenario {
    make: MakeRequest,
    expect: StatusCode,
}

struct Figures {
    requests: usize,
    rps: f64,
    p50: Duration,
    p99: Duration,
}

impl Figures {
    fn value(&self) -> String {
        format!(
            "{:.0} req/s, p50 {:.2} ms, p99 {:.2} ms ({} requests)",
            self.rps,
            millis(self.p50),
            millis(self.p99),
            self.requests
        )
    }

    fn data(&self, extra: Value) -> Value {
        let mut data = json!({
            "requests": self.requests,
            "req_per_s": self.rps,
            "p50_ms": millis(self.p50),
            "p99_ms": millis(self.p99),
        });
        if let (Some(data), Value::Object(extra)) = (data.as_object_mut(), extra) {
            data.extend(extra);
        }
        data
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

/// Runs `scenario` from `clients` connections for warm-up plus duration.
async fn drive(
    addr: SocketAddr,
    scenario: Scenario,
    settings: &LoadSettings,
) -> anyhow::Result<Figures> {
    let scenario = Arc::new(scenario);
    let counter = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let measured_from = started + settings.warmup;
    let end = measured_from + settings.duration;
    let mut clients = Vec::with_capacity(settings.clients);
    for _ in 0..settings.clients {
        let scenario = scenario.clone();
        let counter = counter.clone();
        let mut connection = Connection::open(addr).await?;
        clients.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while Instant::now() < end {
                let request = (scenario.make)(counter.fetch_add(1, Ordering::Relaxed))?;
                let sent = Instant::now();
                let (status, body) = connection.send(request).await?;
                let answered = Instant::now();
                anyhow::ensure!(
                    status == scenario.expect,
                    "answered {status}: {}",
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
    Ok(Figures {
        requests: latencies.len(),
        rps: latencies.len() as f64 / settings.duration.as_secs_f64(),
        p50: percentile(&mut latencies, 0.5),
        p99: percentile(&mut latencies, 0.99),
    })
}

/// The throughput targets: at least `rps`, with p99 under 20 ms.
fn throughput_target(figures: &Figures, rps: f64) -> Target {
    Target::at_least(figures.rps, rps, format!("≥ {rps:.0} req/s")).and(Target::below(
        millis(figures.p99),
        20.0,
        "p99 < 20 ms",
    ))
}

pub async fn run(
    fixture: &Fixture,
    settings: &LoadSettings,
    logs: &Path,
) -> anyhow::Result<Vec<Row>> {
    let part = "warm load";
    let clients = settings.clients;
    let pool = settings.pool;
    let mut rows = vec![Row::new(
        part,
        "set-up",
        format!(
            "{clients} keep-alive clients over loopback HTTP, {:.1} s measured after {:.1} s warm-up (login: twice both); each function's router in its own `bench serve` process with a pool of {pool} connections (a Lambda environment's pool: {LAMBDA_POOL}, one request at a time)",
            settings.duration.as_secs_f64(),
            settings.warmup.as_secs_f64()
        ),
    )
    .data(json!({ "clients": clients, "pool": pool, "lambda_pool": LAMBDA_POOL,
                  "warmup_s": settings.warmup.as_secs_f64(), "duration_s": settings.duration.as_secs_f64() }))];
    let token = Arc::new(fixture.token.clone());
    let ids = Arc::new(fixture.product_ids.clone());

    // products
    let server = Server::start("products", fixture, pool, &logs.join("serve-products.log")).await?;
    let list = {
        let token = token.clone();
        drive(
            server.addr,
            Scenario {
                make: Box::new(move |_| {
                    request(Method::GET, "/api/products?limit=50", Some(&token), None)
                }),
                expect: StatusCode::OK,
            },
            settings,
        )
        .await?
    };
    rows.push(
        Row::new(
            part,
            "product list, 50 items (GET /api/products?limit=50)",
            list.value(),
        )
        .target(throughput_target(&list, 4_000.0))
        .data(list.data(json!({ "route": "GET /api/products?limit=50", "pool": pool }))),
    );
    let by_id = drive(server.addr, by_id_scenario(&token, &ids), settings).await?;
    rows.push(
        Row::new(
            part,
            "product by id (GET /api/products/{id})",
            by_id.value(),
        )
        .target(throughput_target(&by_id, 8_000.0))
        .data(by_id.data(json!({ "route": "GET /api/products/{id}", "pool": pool }))),
    );
    let create = {
        let token = token.clone();
        let run = uuid::Uuid::new_v4().simple().to_string();
        drive(
            server.addr,
            Scenario {
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
            },
            settings,
        )
        .await?
    };
    rows.push(
        Row::new(part, "create product (POST /api/products)", create.value())
            .data(create.data(json!({ "route": "POST /api/products", "pool": pool }))),
    );
    rows.push(serve_rss_row("products", &server)?);
    server.stop().await?;

    // products again, with the pool a Lambda environment has
    let server = Server::start(
        "products",
        fixture,
        LAMBDA_POOL,
        &logs.join("serve-products.log"),
    )
    .await?;
    let by_id_small_pool = drive(server.addr, by_id_scenario(&token, &ids), settings).await?;
    server.stop().await?;
    rows.push(
        Row::new(
            part,
            format!("product by id, pool of {LAMBDA_POOL} (as in Lambda)"),
            by_id_small_pool.value(),
        )
        .data(
            by_id_small_pool
                .data(json!({ "route": "GET /api/products/{id}", "pool": LAMBDA_POOL })),
        ),
    );

    // tasks
    let server = Server::start("tasks", fixture, pool, &logs.join("serve-tasks.log")).await?;
    let tasks = {
        let token = token.clone();
        drive(
            server.addr,
            Scenario {
                make: Box::new(move |_| {
                    request(Method::GET, "/api/tasks?limit=50", Some(&token), None)
                }),
                expect: StatusCode::OK,
            },
            settings,
        )
        .await?
    };
    rows.push(
        Row::new(
            part,
            "task list, 50 items (GET /api/tasks?limit=50)",
            tasks.value(),
        )
        .data(tasks.data(json!({ "route": "GET /api/tasks?limit=50", "pool": pool }))),
    );
    rows.push(serve_rss_row("tasks", &server)?);
    server.stop().await?;

    // auth
    let server = Server::start("auth", fixture, pool, &logs.join("serve-auth.log")).await?;
    let me = {
        let token = token.clone();
        drive(
            server.addr,
            Scenario {
                make: Box::new(move |_| request(Method::GET, "/api/auth/me", Some(&token), None)),
                expect: StatusCode::OK,
            },
            settings,
        )
        .await?
    };
    rows.push(
        Row::new(part, "GET /api/auth/me", me.value())
            .data(me.data(json!({ "route": "GET /api/auth/me", "pool": pool }))),
    );
    // 32 logins at once take 16 bcrypt times each on 2 cores: a longer window, or it sees one round.
    let login_settings = LoadSettings {
        warmup: settings.warmup * 2,
        duration: settings.duration * 2,
        ..*settings
    };
    let login = drive(
        server.addr,
        Scenario {
            make: Box::new(|n| {
                // Each login its own account and address: the rate limits allow 5 a minute each.
                let body =
                    json!({ "email": fixture::login_email(n), "password": fixture::PASSWORD });
                let mut request = request(Method::POST, "/api/auth/login", None, Some(&body))?;
                let ip = format!("10.{}.{}.{}", (n >> 16) & 255, (n >> 8) & 255, n & 255);
                request.headers_mut().insert(SOURCE_IP_HEADER, ip.parse()?);
                Ok(request)
            }),
            expect: StatusCode::OK,
        },
        &login_settings,
    )
    .await?;
    rows.push(serve_rss_row("auth", &server)?);
    server.stop().await?;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (bcrypt_rate, bcrypt_p50) =
        bcrypt_alone(&fixture.password_hash, threads, settings.duration).await?;
    rows.push(
        Row::new(
            part,
            "login (POST /api/auth/login, bcrypt-12 bound)",
            login.value(),
        )
        .data(login.data(json!({ "route": "POST /api/auth/login", "pool": pool }))),
    );
    rows.push(
        Row::new(
            part,
            format!("bcrypt-12 verification alone, {threads} threads"),
            format!(
                "{bcrypt_rate:.1} verifications/s, p50 {:.0} ms each; login reaches {:.0}% of it",
                millis(bcrypt_p50),
                login.rps / bcrypt_rate * 100.0
            ),
        )
        .data(
            json!({ "threads": threads, "per_s": bcrypt_rate, "p50_ms": millis(bcrypt_p50),
                      "login_share": login.rps / bcrypt_rate }),
        ),
    );
    Ok(rows)
}

fn by_id_scenario(token: &Arc<String>, ids: &Arc<Vec<uuid::Uuid>>) -> Scenario {
    let token = token.clone();
    let ids = ids.clone();
    Scenario {
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

fn serve_rss_row(function: &str, server: &Server) -> anyhow::Result<Row> {
    let peak = megabytes(peak_rss(server.pid()?)?);
    Ok(Row::new(
        "warm load",
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
