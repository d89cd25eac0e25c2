//! Helpers for the functions' tests (feature `test-util`): settings, state and in-process
//! requests against a function's router.

use std::collections::HashMap;

use axum::Router;
use axum::body::Body;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use sqlx::PgPool;
use tower::ServiceExt;

use crate::config::Settings;
use crate::db::Login;
use crate::state::AppState;

/// Settings with defaults and `overrides`; the database URL is unused (tests hand in a pool).
pub fn settings(overrides: &[(&str, &str)]) -> Settings {
    let mut vars: HashMap<String, String> = HashMap::from([
        (
            "DATABASE_URL".into(),
            "postgres://unused@localhost/unused".into(),
        ),
        (
            "SECRET_KEY".into(),
            "test-secret-key-0123456789abcdef0123456789".into(),
        ),
    ]);
    vars.extend(
        overrides
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string())),
    );
    Settings::from_vars(&vars).expect("test settings are valid")
}

/// State around a test database pool (from `#[sqlx::test]`).
pub fn state(pool: PgPool) -> AppState {
    state_with(pool, &[])
}

/// State around a test database pool with setting overrides (`SMTP_URL`, ...).
///
/// The functions get a pool of their own on the test's database, sized and timed as in
/// production (`DB_MAX_CONNECTIONS`, `DB_ACQUIRE_TIMEOUT_MS`): a handler that needed a second
/// connection while holding one would wait out the acquire timeout and fail its test with 503.
///
/// With `POOLER_TEST_URL` set (the pooler pass of `make test`), those connections go through
/// the transaction pooler it names, as the functions' do behind RDS Proxy.
pub fn state_with(pool: PgPool, overrides: &[(&str, &str)]) -> AppState {
    let settings = settings(overrides);
    let mut options = pool.connect_options().as_ref().clone();
    if let Some((host, port)) = pooler() {
        options = options.host(&host).port(port);
    }
    let own = crate::db::pool_with(options, &settings);
    AppState::new(settings, own).expect("test settings are valid")
}

/// [`state_with`] logged in as `login`'s role, as that function is deployed (its URL setting):
/// a query the role has no grant or policy for fails here as it would in AWS.
pub fn state_as(pool: PgPool, login: Login, overrides: &[(&str, &str)]) -> AppState {
    state_from(pool, login, settings(overrides))
}

/// [`state_as`] with `settings` made by the test (from Secrets Manager, say).
pub fn state_from(pool: PgPool, login: Login, settings: Settings) -> AppState {
    let mut options = pool
        .connect_options()
        .as_ref()
        .clone()
        .username(login.role());
    if let Some((host, port)) = pooler() {
        options = options.host(&host).port(port);
    }
    allow_login(&pool, login);
    let own = crate::db::pool_with(options, &settings);
    AppState::new(settings, own).expect("test settings are valid")
}

/// Lets `login`'s role log in (cluster-wide, once per test process), as an operator does once
/// with a password; the local servers trust it. The roles are made NOLOGIN by the migrations.
///
/// The test is async but this is called from synchronous set-up, so the statement runs on a
/// connection of its own, in a runtime of its own, on a thread of its own.
fn allow_login(pool: &PgPool, login: Login) {
    static DONE: std::sync::Mutex<Vec<Login>> = std::sync::Mutex::new(Vec::new());
    let mut done = DONE.lock().unwrap_or_else(|e| e.into_inner());
    if done.contains(&login) {
        return;
    }
    let options = pool.connect_options().as_ref().clone();
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a runtime");
                runtime.block_on(async {
                    use sqlx::Connection;
                    let mut conn = sqlx::PgConnection::connect_with(&options)
                        .await
                        .expect("the test database answers");
                    // Parallel test processes may race; PostgreSQL refuses two updates of one
                    // role row at once ("tuple concurrently updated"), so retry.
                    for attempt in 0.. {
                        let can: bool = sqlx::query_scalar(
                            "SELECT rolcanlogin FROM pg_roles WHERE rolname = $1",
                        )
                        .bind(login.role())
                        .fetch_one(&mut conn)
                        .await
                        .expect("the migrations made the role");
                        if can {
                            break;
                        }
                        let alter = format!("ALTER ROLE {} LOGIN", login.role());
                        match sqlx::query(&alter).execute(&mut conn).await {
                            Ok(_) => break,
                            Err(error) if attempt < 20 => {
                                tracing::debug!(%error, "retrying {alter}");
                                tokio::time::sleep(std::time::Duration::from_millis(25)).await;
                            }
                            Err(error) => panic!("{alter}: {error}"),
                        }
                    }
                });
            })
            .join()
            .expect("ALTER ROLE ... LOGIN");
    });
    done.push(login);
}

/// The transaction pooler the functions' connections go through in this test run, if any:
/// `POOLER_TEST_URL` (`postgres://user@host:port`), which serves every database of the test
/// server.
pub fn pooler() -> Option<(String, u16)> {
    let url = url::Url::parse(&std::env::var("POOLER_TEST_URL").ok()?).ok()?;
    Some((url.host_str()?.to_owned(), url.port().unwrap_or(5432)))
}

/// A response read whole: status, headers and the body as JSON (`Null` when not JSON).
#[derive(Debug)]
pub struct TestResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: serde_json::Value,
    pub bytes: bytes::Bytes,
}

/// Sends one request through a router in-process.
pub async fn send(router: &Router, request: Request<Body>) -> TestResponse {
    let response = router
        .clone()
        .oneshot(request)
        .await
        .expect("router is infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body reads")
        .to_bytes();
    let body = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
    TestResponse {
        status,
        headers,
        body,
        bytes,
    }
}

/// `GET path`.
pub async fn get(router: &Router, path: &str) -> TestResponse {
    send(
        router,
        Request::get(path)
            .body(Body::empty())
            .expect("valid request"),
    )
    .await
}

/// Asserts an RFC 9457 problem with the given status and code.
pub fn assert_problem(response: &TestResponse, status: StatusCode, code: &str) {
    assert_eq!(response.status, status, "{:?}", response.body);
    assert_eq!(
        response.headers[http::header::CONTENT_TYPE],
        crate::error::PROBLEM_JSON
    );
    assert_eq!(response.body["code"], code, "{}", response.body);
    assert_eq!(response.body["status"], status.as_u16());
    assert!(response.body["request_id"].is_string(), "{}", response.body);
}

/// The URL of the database behind a `#[sqlx::test]` pool: `DATABASE_URL` with the test
/// database's name, for code under test that connects by itself (through the test run's
/// [`pooler`], if any).
pub fn database_url(pool: &PgPool) -> url::Url {
    let mut url = url::Url::parse(&std::env::var("DATABASE_URL").expect("DATABASE_URL is set"))
        .expect("DATABASE_URL is a URL");
    if let Some((host, port)) = pooler() {
        url.set_host(Some(&host)).expect("a host");
        url.set_port(Some(port)).expect("a port");
    }
    url.set_path(
        pool.connect_options()
            .get_database()
            .expect("test database has a name"),
    );
    url
}

/// [`database_url`] logged in as `login`'s role (see [`state_as`]), for code under test that
/// connects by itself.
pub async fn login_url(pool: &PgPool, login: Login) -> url::Url {
    let owner = pool.clone();
    tokio::task::spawn_blocking(move || allow_login(&owner, login))
        .await
        .expect("ALTER ROLE ... LOGIN");
    let mut url = database_url(pool);
    url.set_username(login.role()).expect("a username");
    url.set_password(None).expect("no password");
    url
}

/// Builds requests against a router with JSON bodies and bearer tokens.
#[derive(Clone)]
pub struct TestApp {
    pub router: Router,
    pub pool: PgPool,
}

impl TestApp {
    pub fn new(router: Router, pool: PgPool) -> Self {
        Self { router, pool }
    }

    /// Sends `method path` with an optional JSON body, bearer token and client IP.
    pub async fn request(
        &self,
        method: http::Method,
        path: &str,
        body: Option<serde_json::Value>,
        token: Option<&str>,
    ) -> TestResponse {
        self.request_from(method, path, body, token, None).await
    }

    /// As [`TestApp::request`], as if API Gateway had seen the call come from `ip`.
    pub async fn request_from(
        &self,
        method: http::Method,
        path: &str,
        body: Option<serde_json::Value>,
        token: Option<&str>,
        ip: Option<&str>,
    ) -> TestResponse {
        self.request_with(method, path, body, token, ip, &[]).await
    }

    /// As [`TestApp::request`] with a step-up for the holder of `token` made for this request
    /// (see [`step_up_token`]), for the actions that need one.
    pub async fn stepped_up(
        &self,
        method: http::Method,
        path: &str,
        body: Option<serde_json::Value>,
        token: &str,
    ) -> TestResponse {
        let step_up = step_up_token(token, &action(&method, path));
        let headers = [(crate::auth::step_up::HEADER, step_up.as_str())];
        self.request_with(method, path, body, Some(token), None, &headers)
            .await
    }

    /// The most general request: extra `headers` too.
    pub async fn request_with(
        &self,
        method: http::Method,
        path: &str,
        body: Option<serde_json::Value>,
        token: Option<&str>,
        ip: Option<&str>,
        headers: &[(&str, &str)],
    ) -> TestResponse {
        let mut builder = Request::builder().method(method).uri(path);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        if let Some(token) = token {
            builder = builder.header(http::header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let body = match body {
            Some(json) => {
                builder = builder.header(http::header::CONTENT_TYPE, "application/json");
                Body::from(json.to_string())
            }
            None => Body::empty(),
        };
        let mut request = builder.body(body).expect("valid request");
        if let Some(ip) = ip {
            request.extensions_mut().insert(api_gateway_context(ip));
        }
        send(&self.router, request).await
    }

    pub async fn post(&self, path: &str, body: serde_json::Value) -> TestResponse {
        self.request(http::Method::POST, path, Some(body), None)
            .await
    }

    pub async fn post_with(
        &self,
        path: &str,
        body: serde_json::Value,
        token: &str,
    ) -> TestResponse {
        self.request(http::Method::POST, path, Some(body), Some(token))
            .await
    }

    pub async fn get_with(&self, path: &str, token: &str) -> TestResponse {
        self.request(http::Method::GET, path, None, Some(token))
            .await
    }
}

/// The request context API Gateway (HTTP API) attaches, with the caller's source IP.
pub fn api_gateway_context(ip: &str) -> lambda_http::request::RequestContext {
    let mut context =
        lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequestContext::default();
    context.http.source_ip = Some(ip.to_owned());
    lambda_http::request::RequestContext::ApiGatewayV2(context)
}

/// A real SMTP server process (aiosmtpd) that stores what it receives in a maildir.
pub struct SmtpServer {
    child: std::process::Child,
    dir: std::path::PathBuf,
    pub port: u16,
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A received email: headers and body as text.
#[derive(Debug, Clone)]
pub struct ReceivedEmail {
    pub to: String,
    pub subject: String,
    pub body: String,
}

impl SmtpServer {
    pub fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let dir = std::env::temp_dir().join(format!("stockroom-smtp-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("temp dir for the maildir");
        let child = std::process::Command::new("aiosmtpd")
            .args([
                "-n",
                "-l",
                &format!("127.0.0.1:{port}"),
                "-c",
                "aiosmtpd.handlers.Mailbox",
            ])
            .arg(dir.join("mail"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("aiosmtpd not found: `pip install aiosmtpd` (make test does it)");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "aiosmtpd did not start"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Self { child, dir, port }
    }

    /// `SMTP_URL` for this server.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// The messages received once there are at least `count` (or after 5 s, however many):
    /// mail goes out after the response that queued it.
    pub async fn wait_for(&self, count: usize) -> Vec<ReceivedEmail> {
        for _ in 0..100 {
            let messages = self.messages();
            if messages.len() >= count {
                return messages;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        self.messages()
    }

    /// The messages received after a moment in which more would have arrived: for "nothing
    /// (more) was sent".
    pub async fn settled(&self) -> Vec<ReceivedEmail> {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        self.messages()
    }

    /// Every message received so far.
    pub fn messages(&self) -> Vec<ReceivedEmail> {
        let Ok(entries) = std::fs::read_dir(self.dir.join("mail").join("new")) else {
            return Vec::new();
        };
        entries
            .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
            .map(|raw| {
                let (head, body) = raw.split_once("\n\n").unwrap_or((&raw, ""));
                let header = |name: &str| {
                    head.lines()
                        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
                        .unwrap_or_default()
                        .to_owned()
                };
                let body = if header("Content-Transfer-Encoding")
                    .eq_ignore_ascii_case("quoted-printable")
                {
                    quoted_printable::decode(body.as_bytes(), quoted_printable::ParseMode::Robust)
                        .map(|b| String::from_utf8_lossy(&b).into_owned())
                        .unwrap_or_else(|_| body.to_owned())
                } else {
                    body.to_owned()
                };
                ReceivedEmail {
                    to: header("To"),
                    subject: header("Subject"),
                    body,
                }
            })
            .collect()
    }
}

/// The mail queued for `recipient` so far, oldest first, with the text each would send (the
/// outbox's own choice, by whether the address has an account now), opened with the test keys;
/// a mail with nothing to send to that address is left out. For tests about what a request
/// mails, without a mail server: the sending itself is tested with one.
pub async fn queued_mail(pool: &PgPool, recipient: &str) -> Vec<crate::email::outbox::Text> {
    queued_mail_with(pool, recipient, &settings(&[]).keys.snapshot()).await
}

/// [`queued_mail`] sealed with `keys` (the functions' own, when they are not the test keys).
pub async fn queued_mail_with(
    pool: &PgPool,
    recipient: &str,
    keys: &crate::crypto::Keys,
) -> Vec<crate::email::outbox::Text> {
    let rows: Vec<(uuid::Uuid, Option<Vec<u8>>)> = sqlx::query_as(
        "SELECT o.id, stockroom_mail_message(o) FROM mail_outbox o
         WHERE lower(o.recipient) = lower($1) ORDER BY o.created_at, o.id",
    )
    .bind(recipient)
    .fetch_all(pool)
    .await
    .expect("the outbox reads");
    rows.into_iter()
        .filter_map(|(id, sealed)| {
            let json = keys
                .open(&sealed?, id.as_bytes())
                .expect("sealed with the test keys");
            Some(serde_json::from_slice(&json).expect("a mail's text"))
        })
        .collect()
}

/// The token of the last link to `path` (`/confirm-registration`, ...) in the mail queued for
/// `recipient`.
pub async fn mailed_token(pool: &PgPool, recipient: &str, path: &str) -> String {
    mailed_token_with(pool, recipient, path, &settings(&[]).keys.snapshot()).await
}

/// [`mailed_token`] sealed with `keys`.
pub async fn mailed_token_with(
    pool: &PgPool,
    recipient: &str,
    path: &str,
    keys: &crate::crypto::Keys,
) -> String {
    let needle = format!("{path}?token=");
    queued_mail_with(pool, recipient, keys)
        .await
        .iter()
        .rev()
        .find_map(|text| {
            let (_, after) = text.body.split_once(&needle)?;
            Some(after.split_whitespace().next()?.to_owned())
        })
        .unwrap_or_else(|| panic!("no mail to {recipient} with a link to {path}"))
}

/// The step-up action of the request `method path` (`METHOD /path`, the query left out).
pub fn action(method: &http::Method, path: &str) -> String {
    let path = path.split('?').next().unwrap_or(path);
    crate::auth::step_up::action_of(method, path)
}

/// A step-up token for the holder of access token `token`, for the request `action`
/// (`POST /api/...`, see [`action`]), signed with the test settings' keys (what
/// `POST /api/auth/step-up` returns after the password, without the bcrypt wait): for tests
/// whose subject is the action behind the step-up, not the step-up itself.
pub fn step_up_token(token: &str, action: &str) -> String {
    step_up_token_at(token, action, chrono::Utc::now().timestamp())
}

/// As [`step_up_token`], signed with `keys` (the functions' own, when they are not the test
/// keys).
pub fn step_up_token_with(keys: &crate::crypto::Keys, token: &str, action: &str) -> String {
    step_up_token_signed(keys, token, action, chrono::Utc::now().timestamp())
}

/// As [`step_up_token`], issued at `now` (Unix seconds): ten minutes ago, it has expired.
pub fn step_up_token_at(token: &str, action: &str, now: i64) -> String {
    step_up_token_signed(&settings(&[]).keys.snapshot(), token, action, now)
}

fn step_up_token_signed(keys: &crate::crypto::Keys, token: &str, action: &str, now: i64) -> String {
    let claims = claims_of(token);
    let id = |name: &str| {
        claims[name]
            .as_str()
            .and_then(|v| v.parse::<uuid::Uuid>().ok())
            .expect("a uuid claim")
    };
    let holder = crate::auth::step_up::Holder {
        user: crate::domain::UserId(id("sub")),
        org: crate::domain::OrgId(id("org")),
        sid: crate::domain::SessionId(id("sid")),
    };
    crate::auth::step_up::issue_at(keys, holder, "password", action, now)
        .expect("signed")
        .0
}

/// The claims of a JWT (not verified): to read a token's user, organization and session.
pub fn claims_of(token: &str) -> serde_json::Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .expect("base64url claims"),
    )
    .expect("JSON claims")
}

/// `POST /api/auth/step-up` on `auth` with the test password, for the request `action`; the
/// step-up token.
pub async fn step_up(auth: &TestApp, token: &str, action: &str) -> String {
    let r = auth
        .request_from(
            http::Method::POST,
            "/api/auth/step-up",
            Some(serde_json::json!({"password": PASSWORD, "action": action})),
            Some(token),
            Some(&next_client_ip()),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body["step_up_token"]
        .as_str()
        .expect("step-up token")
        .to_owned()
}

/// The password of everyone [`register`] and [`member`] create.
pub const PASSWORD: &str = "Corr3ct-horse";

/// A fresh client IP for each call, so the per-IP limits on the auth routes never interfere
/// with a test that signs in many times.
pub fn next_client_ip() -> String {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("10.{}.{}.{}", (n >> 16) & 255, (n >> 8) & 255, n & 255)
}

/// An organization and a person in it, as a test seeds them.
#[derive(Debug, Clone)]
pub struct Registered {
    pub org_id: String,
    pub user_id: String,
    pub token: String,
}

/// A new organization ("Org", USD) and its owner (`email`, [`PASSWORD`]) with a live session,
/// written straight to the test database of `app` (any function's [`TestApp`]), with the audit
/// row registration writes: what `POST /api/auth/register` leaves, without linking the auth
/// function or waiting for its rate limits.
pub async fn register(app: &TestApp, email: &str) -> Registered {
    let org_id: uuid::Uuid = sqlx::query_scalar(
        "INSERT INTO organizations (name, default_currency) VALUES ('Org', 'USD') RETURNING id",
    )
    .fetch_one(&app.pool)
    .await
    .expect("organization inserted");
    let owner = seed_person(
        &app.pool,
        org_id,
        email,
        "Owner",
        crate::auth::Role::Owner,
        None,
    )
    .await;
    let registered = serde_json::json!({
        "organization": "Org", "owner": email, "default_currency": "USD",
    });
    let mut conn = app.pool.acquire().await.expect("a connection");
    crate::audit::Entry::new(crate::audit::Action::Register, org_id)
        .in_org(org_id)
        .by(crate::audit::Actor::User(owner.0))
        .change(crate::audit::Change::created(&registered))
        .record(&mut conn)
        .await
        .expect("audit row written");
    Registered {
        org_id: org_id.to_string(),
        user_id: owner.0.to_string(),
        token: owner.1,
    }
}

/// A `user`-role member of the organization `org_id` with module `permissions` (JSON such as
/// `{"tasks": "write"}`), signed in: written straight to the database of `app`.
pub async fn member(
    app: &TestApp,
    org_id: &str,
    email: &str,
    permissions: serde_json::Value,
) -> Registered {
    person(app, org_id, email, crate::auth::Role::User, permissions).await
}

/// As [`member`], with `role`.
pub async fn person(
    app: &TestApp,
    org_id: &str,
    email: &str,
    role: crate::auth::Role,
    permissions: serde_json::Value,
) -> Registered {
    let org: uuid::Uuid = org_id.parse().expect("an organization id");
    let (user_id, token) =
        seed_person(&app.pool, org, email, "Member", role, Some(permissions)).await;
    Registered {
        org_id: org_id.to_owned(),
        user_id: user_id.to_string(),
        token,
    }
}

/// Inserts a person with [`PASSWORD`], their membership of `org_id` and a session there (a
/// refresh-token family, as a login starts one); returns the person's id and the session's
/// access token, signed with the test keys.
async fn seed_person(
    pool: &PgPool,
    org_id: uuid::Uuid,
    email: &str,
    name: &str,
    role: crate::auth::Role,
    permissions: Option<serde_json::Value>,
) -> (uuid::Uuid, String) {
    let user_id: uuid::Uuid = sqlx::query_scalar(
        "INSERT INTO users (email, name, password_hash) VALUES ($1, $2, $3) RETURNING id",
    )
    .bind(email)
    .bind(name)
    .bind(password_hash().await)
    .fetch_one(pool)
    .await
    .expect("person inserted");
    let token = seed_membership(pool, org_id, user_id, role, permissions).await;
    (user_id, token)
}

/// Makes person `user_id` an active member of `org_id` and signs them in there (a session of
/// its own); the access token.
async fn seed_membership(
    pool: &PgPool,
    org_id: uuid::Uuid,
    user_id: uuid::Uuid,
    role: crate::auth::Role,
    permissions: Option<serde_json::Value>,
) -> String {
    sqlx::query(
        "INSERT INTO memberships (org_id, user_id, role, permissions, joined_at)
         VALUES ($1, $2, $3, coalesce($4, '{}'::jsonb), now())",
    )
    .bind(org_id)
    .bind(user_id)
    .bind(role)
    .bind(permissions)
    .execute(pool)
    .await
    .expect("membership inserted");
    session_token(pool, org_id, user_id, role).await
}

/// A new session of `user_id` in `org_id` (as a sign-in there starts one), as `role`; its access
/// token.
pub async fn session_token(
    pool: &PgPool,
    org_id: uuid::Uuid,
    user_id: uuid::Uuid,
    role: crate::auth::Role,
) -> String {
    let (_, refresh_hash) = crate::auth::tokens::generate("rt");
    let (session, family, issued_at): (uuid::Uuid, uuid::Uuid, chrono::DateTime<chrono::Utc>) =
        sqlx::query_as(
            "INSERT INTO refresh_tokens (user_id, org_id, family_id, token_hash, expires_at)
             VALUES ($1, $2, gen_random_uuid(), $3, now() + interval '7 days')
             RETURNING id, family_id, created_at",
        )
        .bind(user_id)
        .bind(org_id)
        .bind(refresh_hash)
        .fetch_one(pool)
        .await
        .expect("session inserted");
    crate::auth::jwt::issue_at(
        &settings(&[]).keys.snapshot(),
        crate::domain::UserId(user_id),
        crate::domain::OrgId(org_id),
        role,
        crate::domain::SessionId(family),
        issued_at.timestamp(),
        session,
    )
    .expect("signed")
}

/// An invitation of `email` to `org_id` with `role` and `permissions`, as `POST /api/users`
/// leaves one: the address's person (found, or made without a password), an invited membership
/// and an invitation link valid for `expires_in` (an SQL interval: `7 days`, `-1 second`).
/// Returns the person's id and the link's token.
pub async fn invited(
    app: &TestApp,
    org_id: &str,
    email: &str,
    role: crate::auth::Role,
    permissions: serde_json::Value,
    expires_in: &str,
) -> (uuid::Uuid, String) {
    let org: uuid::Uuid = org_id.parse().expect("an organization id");
    let user_id: uuid::Uuid = sqlx::query_scalar(
        "INSERT INTO users (email, name) VALUES ($1, 'New') ON CONFLICT ((lower(email)))
         DO UPDATE SET email = users.email RETURNING id",
    )
    .bind(email)
    .fetch_one(&app.pool)
    .await
    .expect("person found or made");
    sqlx::query(
        "INSERT INTO memberships (org_id, user_id, role, permissions, invited_at, invited_name,
                                  invited_email, admin_granted_at)
         VALUES ($1, $2, $3, $4, now(), 'New', $5, CASE WHEN $3 <> 'user' THEN now() END)",
    )
    .bind(org)
    .bind(user_id)
    .bind(role)
    .bind(permissions)
    .bind(email)
    .execute(&app.pool)
    .await
    .expect("invited membership inserted");
    let (token, hash) = crate::auth::tokens::generate("inv");
    sqlx::query(
        "INSERT INTO user_invitations (user_id, org_id, token_hash, expires_at)
         VALUES ($1, $2, $3, now() + $4::interval)",
    )
    .bind(user_id)
    .bind(org)
    .bind(hash)
    .bind(expires_in)
    .execute(&app.pool)
    .await
    .expect("invitation inserted");
    (user_id, token)
}

/// Makes the person of `someone` (seeded in another organization) also a member of `org_id`
/// with `role` and `permissions`, signed in there: one person in two organizations.
pub async fn also_member(
    app: &TestApp,
    org_id: &str,
    someone: &Registered,
    role: crate::auth::Role,
    permissions: serde_json::Value,
) -> Registered {
    let org: uuid::Uuid = org_id.parse().expect("an organization id");
    let user: uuid::Uuid = someone.user_id.parse().expect("a person id");
    let token = seed_membership(&app.pool, org, user, role, Some(permissions)).await;
    Registered {
        org_id: org_id.to_owned(),
        user_id: someone.user_id.clone(),
        token,
    }
}

/// The bcrypt hash of [`PASSWORD`], made once per test binary (a hash takes a while).
async fn password_hash() -> String {
    static HASH: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
    HASH.get_or_init(|| async {
        crate::auth::password::Password::new(PASSWORD.into(), "password")
            .expect("a strong password")
            .hash()
            .await
            .expect("bcrypt hashes")
    })
    .await
    .clone()
}

/// The current TOTP code of a base32 secret, `offset` seconds from now, computed by pyotp (an
/// authenticator app's implementation, not ours; `make test` installs it).
pub fn totp_code(secret_base32: &str, offset: i64) -> String {
    let output = std::process::Command::new("python3")
        .args([
            "-c",
            "import sys, time, pyotp; print(pyotp.TOTP(sys.argv[1]).at(time.time() + int(sys.argv[2])))",
            secret_base32,
            &offset.to_string(),
        ])
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "pyotp failed (run the tests with `make test`, which installs it): {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .expect("a code")
        .trim()
        .to_owned()
}

/// A local Secrets Manager (and S3) API: moto's server, stopped when dropped.
pub struct Moto {
    child: std::process::Child,
    pub endpoint: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Moto {
    /// Starts `moto_server` on a free port and waits until it answers.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// [`Moto::start`] with moto's own settings (`INITIAL_NO_AUTH_ACTION_COUNT`, ...).
    pub fn start_with(env: &[(&str, &str)]) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = std::process::Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .envs(env.iter().copied())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("moto_server not found: `pip install 'moto[server]'` (make test does it)");
        let moto = Self {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "moto_server did not start"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        moto
    }

    /// Points the AWS SDK of this process at it (region, test credentials, endpoints), as the
    /// SDK reads them in Lambda. Call before anything else in the test binary reads the
    /// environment.
    pub fn use_from_this_process(&self) {
        // SAFETY: called at the start of a test binary's only test, before other threads read
        // the environment.
        unsafe {
            std::env::set_var("AWS_ENDPOINT_URL_SECRETS_MANAGER", &self.endpoint);
            std::env::set_var("AWS_ENDPOINT_URL_S3", &self.endpoint);
            std::env::set_var("AWS_REGION", "eu-west-1");
            std::env::set_var("AWS_ACCESS_KEY_ID", "test");
            std::env::set_var("AWS_SECRET_ACCESS_KEY", "test");
        }
    }
}
