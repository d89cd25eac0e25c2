//! Requests to a function's router, in-process: [`TestApp`] holds the router and its test
//! database; [`TestApp::by`] (or [`TestApp::anonymous`]) starts a [`Call`], which says who asks,
//! from where and with which headers, then sends `get`, `post`, `put`, `patch` or `delete`.
//!
//! ```ignore
//! let app = TestApp::new(inventory::app(state), pool);
//! let owner = app.register("ann@example.com").await;
//! let clerk = app.with_member(&owner, "bob@example.com", Role::User, json!({"inventory": "write"})).await;
//! let r = app.by(&clerk).post("/api/inventory/movements", json!({...})).await;
//! let r = app.by(&owner).stepped_up().post("/api/purchase-orders/{id}/pay", json!({})).await;
//! ```

use axum::Router;
use axum::body::Body;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use sqlx::PgPool;
use tower::ServiceExt;

use super::seed::{self, Registered};
use super::step_up::{action, step_up_token};
use crate::auth::Role;

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

/// The request context API Gateway (HTTP API) attaches, with the caller's source IP.
pub fn api_gateway_context(ip: &str) -> lambda_http::request::RequestContext {
    let mut context =
        lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequestContext::default();
    context.http.source_ip = Some(ip.to_owned());
    lambda_http::request::RequestContext::ApiGatewayV2(context)
}

impl TestResponse {
    /// The body, after asserting the status (the body is in the message when it differs).
    pub fn assert(self, status: u16) -> Value {
        assert_eq!(self.status, status, "{}", self.body);
        self.body
    }
}

/// A function's router over a test database.
#[derive(Clone)]
pub struct TestApp {
    pub router: Router,
    pub pool: PgPool,
}

impl TestApp {
    pub fn new(router: Router, pool: PgPool) -> Self {
        Self { router, pool }
    }

    /// Requests with no credentials.
    pub fn anonymous(&self) -> Call<'_> {
        Call {
            app: self,
            token: None,
            ip: None,
            headers: Vec::new(),
            step_up: false,
        }
    }

    /// Requests as `who`: a seeded person ([`Registered`]), or any bearer credential (an access
    /// token, an API key).
    pub fn by(&self, who: impl Bearer) -> Call<'_> {
        Call {
            token: Some(who.bearer()),
            ..self.anonymous()
        }
    }

    /// `GET path` with no credentials.
    pub async fn get(&self, path: &str) -> TestResponse {
        self.anonymous().get(path).await
    }

    /// `POST path` with a JSON body and no credentials.
    pub async fn post(&self, path: &str, body: Value) -> TestResponse {
        self.anonymous().post(path, body).await
    }

    /// A new organization and its owner `email`, signed in ([`seed::register`]).
    pub async fn register(&self, email: &str) -> Registered {
        seed::register(&self.pool, email).await
    }

    /// A `user`-role member `email` of the organization `org_id` with module `permissions`,
    /// signed in ([`seed::member`]).
    pub async fn member(&self, org_id: &str, email: &str, permissions: Value) -> Registered {
        seed::member(&self.pool, org_id, email, permissions).await
    }

    /// As [`TestApp::member`], with `role` ([`seed::person`]).
    pub async fn person(
        &self,
        org_id: &str,
        email: &str,
        role: Role,
        permissions: Value,
    ) -> Registered {
        seed::person(&self.pool, org_id, email, role, permissions).await
    }

    /// A new member `email` of `org`'s organization with `role` and module `permissions` (JSON
    /// such as `{"inventory": "write"}`), signed in ([`seed::person`]).
    pub async fn with_member(
        &self,
        org: &Registered,
        email: &str,
        role: Role,
        permissions: Value,
    ) -> Registered {
        seed::person(&self.pool, &org.org_id, email, role, permissions).await
    }

    /// `POST /api/auth/step-up` on this app (the auth function) with the test password, for
    /// the request `action`; the step-up token.
    pub async fn step_up(&self, token: &str, action: &str) -> String {
        let r = self
            .by(token)
            .from_ip(&seed::next_client_ip())
            .post(
                "/api/auth/step-up",
                serde_json::json!({"password": seed::PASSWORD, "action": action}),
            )
            .await;
        r.assert(200)["step_up_token"]
            .as_str()
            .expect("step-up token")
            .to_owned()
    }
}

/// A bearer credential a [`Call`] sends: a seeded person's access token, or the text of one.
pub trait Bearer {
    fn bearer(&self) -> String;
}

impl Bearer for &Registered {
    fn bearer(&self) -> String {
        self.token.clone()
    }
}

impl Bearer for &str {
    fn bearer(&self) -> String {
        (*self).to_owned()
    }
}

impl Bearer for &String {
    fn bearer(&self) -> String {
        (*self).clone()
    }
}

impl Bearer for String {
    fn bearer(&self) -> String {
        self.clone()
    }
}

/// Who sends a request, from where, with which headers: made by [`TestApp::by`] or
/// [`TestApp::anonymous`]; sending consumes it (clone it to send again as the same caller).
#[derive(Clone)]
pub struct Call<'a> {
    app: &'a TestApp,
    token: Option<String>,
    ip: Option<String>,
    headers: Vec<(String, String)>,
    step_up: bool,
}

impl Call<'_> {
    /// As if API Gateway had seen the requests come from `ip`.
    pub fn from_ip(mut self, ip: &str) -> Self {
        self.ip = Some(ip.to_owned());
        self
    }

    /// With the header `name: value`.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// With a step-up of the bearer made for each request sent (see
    /// [`super::step_up::step_up_token`]), for the actions that need one.
    pub fn stepped_up(mut self) -> Self {
        self.step_up = true;
        self
    }

    pub async fn get(self, path: &str) -> TestResponse {
        self.send(Method::GET, path, None).await
    }

    pub async fn post(self, path: &str, body: Value) -> TestResponse {
        self.send(Method::POST, path, Some(body)).await
    }

    pub async fn put(self, path: &str, body: Value) -> TestResponse {
        self.send(Method::PUT, path, Some(body)).await
    }

    pub async fn patch(self, path: &str, body: Value) -> TestResponse {
        self.send(Method::PATCH, path, Some(body)).await
    }

    pub async fn delete(self, path: &str) -> TestResponse {
        self.send(Method::DELETE, path, None).await
    }

    /// `method path`, with a JSON body when there is one.
    pub async fn send(self, method: Method, path: &str, body: Option<Value>) -> TestResponse {
        let mut builder = Request::builder().method(method.clone()).uri(path);
        for (name, value) in &self.headers {
            builder = builder.header(name, value);
        }
        if let Some(token) = &self.token {
            builder = builder.header(http::header::AUTHORIZATION, format!("Bearer {token}"));
            if self.step_up {
                let proof = step_up_token(token, &action(&method, path));
                builder = builder.header(crate::auth::step_up::HEADER, proof);
            }
        }
        let body = match body {
            Some(json) => {
                builder = builder.header(http::header::CONTENT_TYPE, "application/json");
                Body::from(json.to_string())
            }
            None => Body::empty(),
        };
        let mut request = builder.body(body).expect("valid request");
        if let Some(ip) = &self.ip {
            request.extensions_mut().insert(api_gateway_context(ip));
        }
        send(&self.app.router, request).await
    }
}
