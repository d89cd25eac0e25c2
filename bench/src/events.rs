//! The event each function gets when the bench invokes its binary: for HTTP functions an API
//! Gateway HTTP API (payload 2.0) request on a route that reads the database with a valid
//! token, for `scheduler` a scheduled job, for `migrate` a CloudFormation custom-resource
//! request (its answer goes to the bench's Runtime API).

use serde_json::{Value, json};

use crate::fixture::Fixture;
use crate::functions::{Function, Kind};
use shared::runtime_api::{Outcome, RuntimeApi};

/// An event and what a correct answer to it looks like.
pub struct Sample {
    /// What the event asks for, for the table (`GET /api/products/{id}`).
    pub label: String,
    pub event: Value,
    expect: Expect,
}

enum Expect {
    /// An HTTP answer with this status.
    Status(u16),
    /// Any HTTP answer the function gives on purpose (a function the bench does not know yet).
    Answered,
    /// A successful invocation.
    Success,
    /// A successful invocation that also answered CloudFormation with SUCCESS.
    CloudFormation,
}

/// The sample invocation for `function`. Functions added later get a generic event.
pub fn sample(function: &Function, fixture: &Fixture, api: &RuntimeApi) -> Sample {
    let product = fixture.product_ids.first().copied().unwrap_or_default();
    let token = Some(fixture.token.as_str());
    let get = |path: &str, token: Option<&str>| Sample {
        label: format!("GET {}", path.split('?').next().unwrap_or(path)),
        event: http_event("GET", path, token),
        expect: Expect::Status(200),
    };
    match (function.name.as_str(), function.kind) {
        ("auth", _) => get("/api/auth/me", token),
        ("users", _) => get("/api/users", token),
        ("products", _) => Sample {
            label: "GET /api/products/{id}".into(),
            ..get(&format!("/api/products/{product}"), token)
        },
        ("suppliers", _) => get("/api/suppliers", token),
        ("inventory", _) => get(&format!("/api/inventory/stock?product_id={product}"), token),
        ("tasks", _) => get("/api/tasks", token),
        ("dashboard", _) => get("/api/dashboard/summary", token),
        ("events", _) => get("/api/events", token),
        ("health", _) => get("/health/db", None),
        ("scheduler", _) => Sample {
            label: r#"{"job": "expire_reservations"}"#.into(),
            event: json!({ "job": "expire_reservations" }),
            expect: Expect::Success,
        },
        ("migrate", _) => {
            let request_id = uuid::Uuid::new_v4().to_string();
            Sample {
                label: "CloudFormation Create (no pending migration)".into(),
                event: json!({
                    "RequestType": "Create",
                    "ServiceToken": "arn:aws:lambda:eu-west-1:123456789012:function:migrate",
                    "ResponseURL": api.cloudformation_url(&request_id),
                    "StackId": "arn:aws:cloudformation:eu-west-1:123456789012:stack/stockroom-bench/0f1e2d3c",
                    "RequestId": request_id,
                    "LogicalResourceId": "Migrations",
                    "ResourceType": "Custom::Migrations",
                    "ResourceProperties": {}
                }),
                expect: Expect::CloudFormation,
            }
        }
        (name, Kind::Http) => Sample {
            label: format!("GET /{name} (generic)"),
            event: http_event("GET", &format!("/{name}"), token),
            expect: Expect::Answered,
        },
        (_, Kind::Event) => Sample {
            label: "{} (generic)".into(),
            event: json!({}),
            expect: Expect::Success,
        },
    }
}

impl Sample {
    /// Fails unless `outcome` is the answer this sample expects.
    pub fn check(&self, outcome: &Outcome, api: &RuntimeApi) -> anyhow::Result<()> {
        let body = match outcome {
            Outcome::Response { body, .. } => body,
            Outcome::Error { body } => anyhow::bail!("{} failed: {body}", self.label),
        };
        let answer: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let status = answer["statusCode"].as_u64();
        match self.expect {
            Expect::Status(expected) => anyhow::ensure!(
                status == Some(expected.into()),
                "{} answered {answer}",
                self.label
            ),
            Expect::Answered => anyhow::ensure!(
                status.is_some_and(|s| s < 500),
                "{} answered {answer}",
                self.label
            ),
            Expect::Success => {}
            Expect::CloudFormation => {
                let answers = api.cloudformation_answers();
                anyhow::ensure!(
                    answers.last().is_some_and(|a| a["Status"] == "SUCCESS"),
                    "migrate answered CloudFormation {answers:?}"
                );
            }
        }
        Ok(())
    }
}

/// An API Gateway HTTP API (payload format 2.0) request without a body, as Lambda delivers it.
pub fn http_event(method: &str, path_and_query: &str, token: Option<&str>) -> Value {
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    let mut headers = json!({
        "accept": "application/json",
        "host": "bench.execute-api.eu-west-1.amazonaws.com",
        "user-agent": "stockroom-bench",
        "x-forwarded-for": "10.1.0.1",
        "x-forwarded-proto": "https",
    });
    if let Some(token) = token {
        headers["authorization"] = format!("Bearer {token}").into();
    }
    let mut event = json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "bench",
            "domainName": "bench.execute-api.eu-west-1.amazonaws.com",
            "domainPrefix": "bench",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "10.1.0.1",
                "userAgent": "stockroom-bench"
            },
            "requestId": uuid::Uuid::new_v4().to_string(),
            "routeKey": "$default",
            "stage": "$default",
            "time": "23/Nov/2026:07:00:00 +0000",
            "timeEpoch": 1_795_417_200_000_u64
        },
        "isBase64Encoded": false
    });
    if !query.is_empty() {
        event["queryStringParameters"] = query
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .map(|(k, v)| (k.to_owned(), Value::from(v)))
            .collect::<serde_json::Map<_, _>>()
            .into();
    }
    event
}
