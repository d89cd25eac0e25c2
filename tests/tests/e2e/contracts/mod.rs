//! The contracts frontends written against the original apps rely on, through the real binaries
//! behind `cargo lambda watch`: PUT like PATCH, the organization's default currency, tasks'
//! `completed`, registering with an email and a password only, unknown query parameters and
//! body members named, strict money strings and the refresh token's reuse grace window.
//!
//! Every refusal also checks the database: nothing was written. The auth routes allow 5
//! attempts a minute per client IP, and every request through `cargo lambda watch` comes from
//! the same IP, so no test makes more than 5 register, login or refresh calls.

use std::time::Duration;

use e2e::LocalApi;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;

mod bodies;
mod organization;
mod put;
mod queries;
mod refresh;
mod tasks;

const PASSWORD: &str = "Corr3ct-horse";

/// The API on the test database, with `env` on top of the database URL and secret key.
fn start_with(pool: &PgPool, env: &[(&str, &str)]) -> LocalApi {
    LocalApi::on_database(shared::testing::database_url(pool).as_str(), env)
}

fn start(pool: &PgPool) -> LocalApi {
    start_with(pool, &[])
}

/// An answer: its status and its body as JSON (`Null` when empty or not JSON).
#[derive(Debug)]
struct Answer {
    status: StatusCode,
    body: Value,
}

/// Someone calling the API: anonymous, or with a bearer token (a user's or an API key).
struct Caller {
    client: reqwest::Client,
    base: String,
    token: Option<String>,
    /// Whether this caller confirms each change with a step-up (as `POST /api/auth/step-up`
    /// would give, signed with the functions' keys), for the actions that need one.
    steps_up: bool,
}

impl Caller {
    fn anonymous(api: &LocalApi) -> Self {
        Self {
            client: reqwest::Client::new(),
            base: api.base.clone(),
            token: None,
            steps_up: false,
        }
    }

    fn with_token(api: &LocalApi, token: &str) -> Self {
        Self {
            token: Some(token.to_owned()),
            ..Self::anonymous(api)
        }
    }

    /// The owner of Ann's organization (Acme), registered with `e2e::sign_up`.
    async fn owner(api: &LocalApi) -> Self {
        let session = api.sign_up(&reqwest::Client::new()).await;
        let mut owner = Self::with_token(api, session["access_token"].as_str().unwrap());
        // The API's own step-up is tested through it once (local_api); here each change gets
        // its proof as that route signs it.
        owner.steps_up = true;
        owner
    }

    async fn send(&self, method: Method, path: &str, body: Option<Value>) -> Answer {
        let mut request = self
            .client
            .request(method.clone(), format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let (true, Some(token)) = (self.steps_up && method != Method::GET, &self.token) {
            let action = format!("{method} {}", path.split('?').next().unwrap_or(path));
            let step_up = shared::testing::step_up_token_with(&e2e::keys(), token, &action);
            request = request.header("x-step-up-token", step_up);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the API answers");
        let status = response.status();
        let bytes = response.bytes().await.expect("a body");
        Answer {
            status,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        }
    }

    async fn get(&self, path: &str) -> Answer {
        self.send(Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> Answer {
        self.send(Method::POST, path, Some(body)).await
    }

    async fn put(&self, path: &str, body: Value) -> Answer {
        self.send(Method::PUT, path, Some(body)).await
    }

    async fn patch(&self, path: &str, body: Value) -> Answer {
        self.send(Method::PATCH, path, Some(body)).await
    }

    /// `POST path` that must answer 201; the created resource.
    async fn created(&self, path: &str, body: Value) -> Value {
        let answer = self.post(path, body).await;
        assert_eq!(answer.status, 201, "POST {path}: {}", answer.body);
        answer.body
    }

    /// `GET path` that must answer 200; the body.
    async fn read(&self, path: &str) -> Value {
        let answer = self.get(path).await;
        assert_eq!(answer.status, 200, "GET {path}: {}", answer.body);
        answer.body
    }
}

/// `POST /api/auth/register` with `body`, as a new visitor.
async fn register(api: &LocalApi, body: Value) -> Answer {
    Caller::anonymous(api)
        .post("/api/auth/register", body)
        .await
}

/// [`register`], then `POST /api/auth/register/confirm` with the link mailed: the sign-in.
async fn registered(api: &LocalApi, body: Value) -> Answer {
    let email = body["email"].as_str().expect("an email").to_owned();
    let asked = register(api, body).await;
    assert_eq!(asked.status, 202, "{}", asked.body);
    let token = api.mailed_token(&email, "/confirm-registration").await;
    Caller::anonymous(api)
        .post("/api/auth/register/confirm", json!({ "token": token }))
        .await
}

/// A `user`-role member of the caller's organization without module permissions, invited by
/// the owner, accepting with the mailed link (and so signed in: one sign-in attempt).
async fn member(api: &LocalApi, owner: &Caller, email: &str) -> Caller {
    owner
        .created(
            "/api/users",
            json!({"email": email, "name": "Bob", "role": "user"}),
        )
        .await;
    let token = api.mailed_token(email, "/accept-invitation").await;
    let accepted = Caller::anonymous(api)
        .post(
            "/api/auth/invitation/accept",
            json!({"token": token, "password": PASSWORD}),
        )
        .await;
    assert_eq!(accepted.status, 200, "accept: {}", accepted.body);
    Caller::with_token(api, accepted.body["access_token"].as_str().unwrap())
}

/// Asserts a 422 `validation_failed` problem whose errors name exactly `fields`, in order.
fn assert_refused(answer: &Answer, fields: &[&str]) {
    assert_eq!(answer.status, 422, "{}", answer.body);
    assert_eq!(answer.body["code"], "validation_failed", "{}", answer.body);
    let named: Vec<&str> = errors(answer).into_iter().map(|(f, _)| f).collect();
    assert_eq!(named, fields, "{}", answer.body);
}

/// The `(field, code)` of each error of a 422 problem.
fn errors(answer: &Answer) -> Vec<(&str, &str)> {
    answer.body["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("no errors in {}", answer.body))
        .iter()
        .map(|e| (e["field"].as_str().unwrap(), e["code"].as_str().unwrap()))
        .collect()
}

/// A count from the test database (`SELECT count(*) ...`).
async fn count(pool: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

/// The stored default currency of the (only) organization.
async fn stored_default_currency(pool: &PgPool) -> String {
    sqlx::query_scalar("SELECT default_currency::text FROM organizations")
        .fetch_one(pool)
        .await
        .unwrap()
}

/// The titles of a page of tasks.
fn titles(page: &Value) -> Vec<&str> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["title"].as_str().unwrap())
        .collect()
}

/// A supplier and a product of the caller's organization, through the API; their ids.
async fn supplier_and_product(caller: &Caller) -> (String, String) {
    let supplier = caller
        .created("/api/suppliers", json!({"name": "Bolt Works"}))
        .await;
    let product = caller
        .created(
            "/api/products",
            json!({"sku": "BOLT-10", "name": "Bolt M10", "price": "0.40"}),
        )
        .await;
    (
        supplier["id"].as_str().unwrap().to_owned(),
        product["id"].as_str().unwrap().to_owned(),
    )
}
