//! A local HTTP server that plays Wise's API for the payment tests: the endpoints the client
//! calls, with Wise's request checks, answer shapes and error bodies, and a book of what it was
//! asked so tests can tell how many transfers were really made.

use std::sync::{Arc, Mutex, MutexGuard};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

/// The first Wise account: its token, and its business profile (it also has a personal one,
/// [`PERSONAL_PROFILE`]).
pub const TOKEN: &str = "test-wise-token";
pub const PROFILE: i64 = 42;
pub const PERSONAL_PROFILE: i64 = 43;
/// A second, unrelated Wise account (another organization's).
pub const TOKEN_B: &str = "other-wise-token-b77";
pub const PROFILE_B: i64 = 77;

/// The profiles each token may act for.
fn profiles_of(token: &str) -> Option<Value> {
    match token {
        TOKEN => Some(json!([
            {"id": PROFILE, "type": "BUSINESS", "businessName": "Acme Tools Ltd", "fullName": "Acme Tools Ltd", "currentState": "VISIBLE"},
            {"id": PERSONAL_PROFILE, "type": "PERSONAL", "fullName": "Ann Owner", "currentState": "VISIBLE"},
        ])),
        TOKEN_B => Some(json!([
            {"id": PROFILE_B, "type": "BUSINESS", "businessName": "Bolt Supplies", "currentState": "VISIBLE"},
        ])),
        _ => None,
    }
}
/// Wise's fee in the fake's quotes, in the source currency.
pub const FEE: f64 = 0.42;

/// What the fake was asked and what it made.
#[derive(Debug, Default)]
pub struct Book {
    /// `METHOD path` of every request, in order.
    pub calls: Vec<String>,
    /// The bearer token of every request, in the order of `calls`.
    pub tokens: Vec<String>,
    pub quotes: Vec<Value>,
    pub recipients: Vec<Value>,
    /// Transfers made (one per customer transaction id), as Wise would report them.
    pub transfers: Vec<Value>,
    /// Every `POST /v1/transfers` body, repeats included.
    pub transfer_requests: Vec<Value>,
    /// Transfer ids whose funding was asked for, refused ones included.
    pub fundings: Vec<i64>,
    /// The next quote answers with this error instead.
    pub fail_next_quote: Option<(StatusCode, Value)>,
    /// The next new transfer is made, but its answer is lost (a 500, as after a timeout).
    pub lose_next_transfer_answer: bool,
    /// The next funding is refused with this error code (`REJECTED`).
    pub reject_next_funding: Option<String>,
    /// The next funding is done, but Wise's gateway answers 502 instead of the result.
    pub lose_next_funding_answer: bool,
    /// The next funding is done, but the answer comes only after this long.
    pub stall_next_funding: Option<std::time::Duration>,
    /// The next new transfer is refused with this error instead.
    pub fail_next_transfer: Option<(StatusCode, Value)>,
    /// The next new transfer is made with this state instead of `incoming_payment_waiting`.
    pub next_transfer_status: Option<String>,
    /// Recipient accounts deactivated at Wise: transfers to them are refused.
    pub deactivated_recipients: Vec<i64>,
    /// With [`FakeWise::start_watching`]: for each call, how many sessions of the test's
    /// database sat idle inside a transaction while Wise was being asked.
    pub idle_in_transaction: Vec<i64>,
}

pub struct FakeWise {
    pub url: String,
    book: Arc<Mutex<Book>>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for FakeWise {
    fn drop(&mut self) {
        self.server.abort();
    }
}

type Shared = State<Arc<Mutex<Book>>>;

impl FakeWise {
    pub async fn start() -> Self {
        Self::serve(None).await
    }

    /// As [`FakeWise::start`], and on every call also counts the sessions of `pool`'s database
    /// idle in a transaction (into [`Book::idle_in_transaction`]): a payment must not hold a
    /// transaction, and so a pooled server connection, while it waits on Wise.
    pub async fn start_watching(pool: sqlx::PgPool) -> Self {
        Self::serve(Some(pool)).await
    }

    async fn serve(watch: Option<sqlx::PgPool>) -> Self {
        let book = Arc::new(Mutex::new(Book::default()));
        let watcher = {
            let book = book.clone();
            axum::middleware::from_fn(
                move |request: axum::extract::Request, next: axum::middleware::Next| {
                    let (book, watch) = (book.clone(), watch.clone());
                    async move {
                        if let Some(pool) = watch {
                            let idle: i64 = sqlx::query_scalar(
                                "SELECT count(*) FROM pg_stat_activity
                                 WHERE datname = current_database()
                                   AND state LIKE 'idle in transaction%'",
                            )
                            .fetch_one(&pool)
                            .await
                            .expect("pg_stat_activity");
                            book.lock()
                                .expect("book lock")
                                .idle_in_transaction
                                .push(idle);
                        }
                        next.run(request).await
                    }
                },
            )
        };
        let router = Router::new()
            .route("/v2/profiles", get(list_profiles))
            .route("/v3/profiles/{profile}/quotes", post(create_quote))
            .route("/v1/accounts", post(create_recipient))
            .route("/v1/transfers", post(create_transfer))
            .route("/v1/transfers/{id}", get(transfer))
            .route("/v3/profiles/{profile}/transfers/{id}/payments", post(fund))
            .with_state(book.clone())
            .layer(watcher);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a local port");
        let url = format!("http://{}", listener.local_addr().expect("bound"));
        let server = tokio::spawn(async move {
            axum::serve(listener, router)
                .await
                .expect("fake Wise serves");
        });
        Self { url, book, server }
    }

    /// The settings that point Stockroom at this fake.
    pub fn settings(&self) -> [(&'static str, String); 1] {
        [("WISE_API_URL", self.url.clone())]
    }

    pub fn book(&self) -> MutexGuard<'_, Book> {
        self.book.lock().expect("book lock")
    }
}

/// An error answer, shaped as Wise shapes them.
pub struct Refusal(StatusCode, Value);

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        (self.0, Json(self.1)).into_response()
    }
}

type Answer = Result<Json<Value>, Refusal>;

fn errors(status: StatusCode, code: &str, message: &str) -> Refusal {
    Refusal(
        status,
        json!({"errors": [{"code": code, "message": message}]}),
    )
}

/// Wise's checks every call goes through: the bearer token, and the profile (in the path or the
/// body) being one of the token's own.
fn admit(
    book: &mut Book,
    headers: &HeaderMap,
    call: String,
    profile: Option<i64>,
) -> Result<Value, Refusal> {
    book.calls.push(call);
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("")
        .to_owned();
    book.tokens.push(token.clone());
    let Some(profiles) = profiles_of(&token) else {
        return Err(Refusal(
            StatusCode::UNAUTHORIZED,
            json!({"error": "invalid_token", "error_description": "Invalid token"}),
        ));
    };
    if let Some(profile) = profile
        && !owns(&profiles, profile)
    {
        return Err(errors(
            StatusCode::FORBIDDEN,
            "profile.not.found",
            "You are not authorized to use this profile",
        ));
    }
    Ok(profiles)
}

fn owns(profiles: &Value, profile: i64) -> bool {
    profiles
        .as_array()
        .is_some_and(|all| all.iter().any(|p| p["id"] == profile))
}

async fn list_profiles(State(book): Shared, headers: HeaderMap) -> Answer {
    let mut book = book.lock().expect("book lock");
    let profiles = admit(&mut book, &headers, "GET /v2/profiles".into(), None)?;
    Ok(Json(profiles))
}

/// A field error, as Wise reports a bad field: its code, message and `path`.
fn path_error(code: &str, message: &str, path: &str) -> Refusal {
    Refusal(
        StatusCode::UNPROCESSABLE_ENTITY,
        json!({"errors": [{"code": code, "message": message, "path": path, "arguments": [path]}]}),
    )
}

fn required<'a>(body: &'a Value, field: &str) -> Result<&'a Value, Refusal> {
    match body.get(field) {
        Some(value) if !value.is_null() => Ok(value),
        _ => Err(errors(
            StatusCode::UNPROCESSABLE_ENTITY,
            "NotNull",
            &format!("{field} cannot be null"),
        )),
    }
}

async fn create_quote(
    State(book): Shared,
    Path(profile): Path<i64>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Answer {
    let mut book = book.lock().expect("book lock");
    let call = format!("POST /v3/profiles/{profile}/quotes");
    admit(&mut book, &headers, call, Some(profile))?;
    if let Some((status, error)) = book.fail_next_quote.take() {
        return Err(Refusal(status, error));
    }
    let source = required(&body, "sourceCurrency")?.clone();
    let target = required(&body, "targetCurrency")?.clone();
    let amount = required(&body, "targetAmount")?
        .as_f64()
        .filter(|a| *a > 0.0)
        .ok_or_else(|| {
            errors(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Positive",
                "targetAmount must be positive",
            )
        })?;
    let quote = json!({
        "id": uuid::Uuid::new_v4(),
        "sourceCurrency": source,
        "targetCurrency": target,
        "sourceAmount": ((amount + FEE) * 100.0).round() / 100.0,
        "targetAmount": amount,
        "rate": 1,
        "payOut": body.get("payOut").cloned().unwrap_or(json!("BANK_TRANSFER")),
        "status": "PENDING",
        "profile": profile,
    });
    book.quotes.push(json!({"request": body, "answer": quote}));
    Ok(Json(quote))
}

async fn create_recipient(
    State(book): Shared,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Answer {
    let mut book = book.lock().expect("book lock");
    let profile = body.get("profile").and_then(Value::as_i64);
    admit(&mut book, &headers, "POST /v1/accounts".into(), profile)?;
    for field in [
        "profile",
        "currency",
        "type",
        "accountHolderName",
        "details",
    ] {
        required(&body, field)?;
    }
    if body["details"].get("legalType").is_none() {
        return Err(errors(
            StatusCode::UNPROCESSABLE_ENTITY,
            "NOT_VALID",
            "Please specify legalType.",
        ));
    }
    let mut recipient = body.clone();
    recipient["id"] = json!(10_000 + book.recipients.len() as i64);
    book.recipients.push(recipient.clone());
    Ok(Json(recipient))
}

async fn create_transfer(
    State(book): Shared,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Answer {
    let mut book = book.lock().expect("book lock");
    let profiles = admit(&mut book, &headers, "POST /v1/transfers".into(), None)?;
    book.transfer_requests.push(body.clone());
    for field in [
        "targetAccount",
        "quoteUuid",
        "customerTransactionId",
        "details",
    ] {
        required(&body, field)?;
    }
    let ctid = &body["customerTransactionId"];
    // Wise's idempotency: a repeat returns the transfer made the first time.
    if let Some(made) = book
        .transfers
        .iter()
        .find(|t| t["customerTransactionId"] == *ctid)
    {
        return Ok(Json(made.clone()));
    }
    if let Some((status, error)) = book.fail_next_transfer.take() {
        return Err(Refusal(status, error));
    }
    let quote = book
        .quotes
        .iter()
        .find(|q| q["answer"]["id"] == body["quoteUuid"])
        .map(|q| q["answer"].clone());
    let Some(quote) = quote.filter(|q| owns(&profiles, q["profile"].as_i64().unwrap_or(0))) else {
        return Err(path_error("NOT_VALID", "Quote not found", "quoteUuid"));
    };
    let recipient_active = book.recipients.iter().any(|r| {
        r["id"] == body["targetAccount"]
            && r["profile"] == quote["profile"]
            && !book
                .deactivated_recipients
                .iter()
                .any(|d| r["id"] == json!(d))
    });
    if !recipient_active {
        return Err(path_error(
            "NOT_VALID",
            "Recipient account not found or inactive",
            "targetAccount",
        ));
    }
    if book
        .transfers
        .iter()
        .any(|t| t["quoteUuid"] == body["quoteUuid"])
    {
        return Err(errors(
            StatusCode::UNPROCESSABLE_ENTITY,
            "error.quote.used",
            "You can only create one transfer per quote",
        ));
    }
    let status = book
        .next_transfer_status
        .take()
        .unwrap_or_else(|| "incoming_payment_waiting".to_owned());
    let transfer = json!({
        "id": 50_000 + book.transfers.len() as i64,
        "targetAccount": body["targetAccount"],
        "quoteUuid": body["quoteUuid"],
        "customerTransactionId": ctid,
        "status": status,
        "reference": body["details"]["reference"],
        "sourceCurrency": quote["sourceCurrency"],
        "sourceValue": quote["sourceAmount"],
        "targetCurrency": quote["targetCurrency"],
        "targetValue": quote["targetAmount"],
        "profile": quote["profile"],
    });
    book.transfers.push(transfer.clone());
    if std::mem::take(&mut book.lose_next_transfer_answer) {
        return Err(errors(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal.error",
            "Something went wrong, please try again",
        ));
    }
    Ok(Json(transfer))
}

async fn transfer(State(book): Shared, Path(id): Path<i64>, headers: HeaderMap) -> Answer {
    let mut book = book.lock().expect("book lock");
    let profiles = admit(&mut book, &headers, format!("GET /v1/transfers/{id}"), None)?;
    let own = |t: &&Value| t["id"] == id && owns(&profiles, t["profile"].as_i64().unwrap_or(0));
    match book.transfers.iter().find(own) {
        Some(transfer) => Ok(Json(transfer.clone())),
        None => Err(errors(
            StatusCode::NOT_FOUND,
            "transfer.not-found",
            "Transfer not found",
        )),
    }
}

async fn fund(
    State(book): Shared,
    Path((profile, id)): Path<(i64, i64)>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Answer {
    let stall = fund_now(&book, profile, id, &headers, &body)?;
    if let Some(stall) = stall {
        tokio::time::sleep(stall).await;
    }
    Ok(Json(
        json!({"type": "BALANCE", "status": "COMPLETED", "errorCode": null}),
    ))
}

/// Funds the transfer; `Ok(Some(delay))` when the answer is to come only after a while.
fn fund_now(
    book: &Mutex<Book>,
    profile: i64,
    id: i64,
    headers: &HeaderMap,
    body: &Value,
) -> Result<Option<std::time::Duration>, Refusal> {
    let mut book = book.lock().expect("book lock");
    let call = format!("POST /v3/profiles/{profile}/transfers/{id}/payments");
    admit(&mut book, headers, call, Some(profile))?;
    if body["type"] != "BALANCE" {
        return Err(errors(
            StatusCode::UNPROCESSABLE_ENTITY,
            "type.invalid",
            "Unsupported payment type",
        ));
    }
    book.fundings.push(id);
    if let Some(code) = book.reject_next_funding.take() {
        return Err(Refusal(
            StatusCode::OK,
            json!({"type": "BALANCE", "status": "REJECTED", "errorCode": code}),
        ));
    }
    let Some(transfer) = book
        .transfers
        .iter_mut()
        .find(|t| t["id"] == id && t["profile"] == profile)
    else {
        return Err(errors(
            StatusCode::NOT_FOUND,
            "transfer.not-found",
            "Transfer not found",
        ));
    };
    if transfer["status"] != "incoming_payment_waiting" {
        return Err(errors(
            StatusCode::CONFLICT,
            "transfer.already.funded",
            "The transfer is already funded",
        ));
    }
    transfer["status"] = json!("processing");
    if std::mem::take(&mut book.lose_next_funding_answer) {
        return Err(Refusal(
            StatusCode::BAD_GATEWAY,
            json!("<html><body>502 Bad Gateway</body></html>"),
        ));
    }
    Ok(book.stall_next_funding.take())
}
