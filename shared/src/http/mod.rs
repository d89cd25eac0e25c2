//! The HTTP layers every function applies, so `cargo lambda watch` behaves like production:
//! security headers, CORS for the configured origins, a request id on every response and log
//! line, a body size limit (413), panic capture, problem+json for every error response,
//! including the ones the framework makes itself (unknown route, wrong method), a 422 for
//! query parameters the operation does not document, and the end of a tenant request's
//! transaction (committed only when the response succeeded).

pub mod idempotency;
mod json;
pub mod openapi;
pub mod pagination;
mod query;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use http::{HeaderName, HeaderValue, Method, header};
use lambda_http::RequestExt;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tracing::Instrument;
use utoipa::openapi::OpenApi;

pub use json::{AppJson, plain_message};
pub use query::{AppQuery, Ids, PathId, PathIds};

use crate::config::HttpSettings;
use crate::error::{ApiError, PROBLEM_JSON, problem_for_status};

/// Header carrying the request id, in both directions.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Wraps a function's router in the shared layers; call it last, on the finished router.
/// `document` is the function's OpenAPI document: the query parameters it lists per operation
/// are the only ones accepted.
pub fn layers(router: Router, settings: &HttpSettings, document: fn() -> OpenApi) -> Router {
    router
        .fallback(|| async {
            ApiError::NotFound {
                code: "not_found",
                detail: "no route matches this path".into(),
            }
        })
        .layer(middleware::from_fn(request_transaction))
        .layer(middleware::from_fn_with_state(
            query::KnownParameters::new(document),
            query::refuse_unknown_parameters,
        ))
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::Internal(anyhow::anyhow!("handler panicked")).into_response()
        }))
        .layer(DefaultBodyLimit::max(settings.max_body_bytes))
        .layer(RequestBodyLimitLayer::new(settings.max_body_bytes))
        .layer(middleware::from_fn(refuse_malformed_event))
        .layer(middleware::from_fn(request_context))
        .layer(cors(settings))
        .layer(header_if_absent(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(header_if_absent(header::X_FRAME_OPTIONS, "DENY"))
        .layer(header_if_absent(header::REFERRER_POLICY, "no-referrer"))
        .layer(header_if_absent(
            header::STRICT_TRANSPORT_SECURITY,
            "max-age=63072000; includeSubDomains",
        ))
        .layer(header_if_absent(
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
        ))
        .layer(header_if_absent(header::CACHE_CONTROL, "no-store"))
}

/// What was wrong with an invocation event that is not a well-formed API Gateway request.
#[derive(Clone, Debug)]
struct MalformedEvent(String);

/// Answers a malformed event (see [`run`]) 400, with everything the layers put on an answer.
async fn refuse_malformed_event(request: Request, next: Next) -> Response {
    match request.extensions().get::<MalformedEvent>() {
        Some(MalformedEvent(reason)) => {
            ApiError::bad_request("malformed_event", reason.clone()).into_response()
        }
        None => next.run(request).await,
    }
}

/// Runs a function's `app` on the Lambda Runtime API. API Gateway events (REST API, payload
/// 1.0, or HTTP API, 2.0) are answered by the app. An event that is not a well-formed one (no
/// `requestContext`, a body marked base64 that is not, a method or path no request can have)
/// is answered 400 problem+json by the app's layers, in the REST API's response shape (which
/// HTTP APIs read too), rather than failing the invocation, which API Gateway would turn into
/// a bare 502.
pub async fn run(app: Router) -> Result<(), lambda_http::Error> {
    use lambda_http::lambda_runtime::{Runtime, layers::TracingLayer};
    use tower::ServiceExt;
    let adapter = lambda_http::Adapter::from(app.clone());
    let handler = lambda_http::service_fn(
        move |event: lambda_http::LambdaEvent<Box<serde_json::value::RawValue>>| {
            let (adapter, app) = (adapter.clone(), app.clone());
            async move {
                let lambda_http::LambdaEvent { payload, context } = event;
                match well_formed(payload.get()) {
                    Ok(request) => {
                        let event = lambda_http::LambdaEvent::new(request, context);
                        let response = adapter.oneshot(event).await?;
                        Ok::<_, lambda_http::Error>(serde_json::to_value(response)?)
                    }
                    Err(reason) => {
                        tracing::warn!(%reason, "a malformed invocation event");
                        // lambda_http's body type, as the adapter's requests have: the router
                        // is then compiled once for both paths, not twice.
                        let request = http::Request::builder()
                            .uri("/")
                            .extension(MalformedEvent(reason))
                            .body(lambda_http::Body::Empty)?;
                        let response = app.oneshot(request).await?;
                        Ok(rest_response(response).await?)
                    }
                }
            }
        },
    );
    // Deferred work (mail) runs after each response is posted (crate::after_response).
    Runtime::new(handler)
        .layer(TracingLayer::new())
        .layer(crate::after_response::RunAfterResponse)
        .run()
        .await
}

/// The few fields of an event that decide whether it can be a request at all (read before
/// lambda_http reads the event: where it would fail the invocation or panic).
#[derive(serde::Deserialize)]
struct Probe<'a> {
    #[serde(rename = "requestContext")]
    request_context: Option<ProbeContext<'a>>,
    #[serde(rename = "isBase64Encoded", default)]
    is_base64_encoded: bool,
    #[serde(borrow)]
    body: Option<std::borrow::Cow<'a, str>>,
    #[serde(rename = "httpMethod", borrow)]
    http_method: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    path: Option<std::borrow::Cow<'a, str>>,
    #[serde(rename = "rawPath", borrow)]
    raw_path: Option<std::borrow::Cow<'a, str>>,
}

#[derive(serde::Deserialize)]
struct ProbeContext<'a> {
    #[serde(borrow)]
    http: Option<ProbeHttp<'a>>,
}

#[derive(serde::Deserialize)]
struct ProbeHttp<'a> {
    #[serde(borrow)]
    method: Option<std::borrow::Cow<'a, str>>,
}

/// The event as lambda_http reads it (straight from its JSON text, as `lambda_http::run`
/// would), or what makes it unusable as a request.
fn well_formed(event: &str) -> Result<lambda_http::request::LambdaRequest, String> {
    use base64::Engine;
    let probe: Probe<'_> = serde_json::from_str(event)
        .map_err(|error| format!("not an API Gateway request: {error}"))?;
    let Some(context) = probe.request_context else {
        return Err("the event is not an API Gateway request: it has no requestContext".into());
    };
    if probe.is_base64_encoded
        && let Some(body) = &probe.body
        && base64::engine::general_purpose::STANDARD
            .decode(body.as_bytes())
            .is_err()
    {
        return Err("the body is marked base64-encoded but is not valid base64".into());
    }
    let method = probe
        .http_method
        .or_else(|| context.http.and_then(|http| http.method))
        .unwrap_or_default();
    if Method::from_bytes(method.as_bytes()).is_err() {
        return Err("the event has no valid HTTP method".into());
    }
    let path = probe.path.or(probe.raw_path).unwrap_or_default();
    if !path.starts_with('/') || http::Uri::try_from(path.as_ref()).is_err() {
        return Err("the event has no valid path".into());
    }
    serde_json::from_str(event).map_err(|error| format!("not an API Gateway request: {error}"))
}

/// `response` in the REST API's proxy response shape (text bodies only: problem+json).
async fn rest_response(response: Response) -> Result<serde_json::Value, lambda_http::Error> {
    use http_body_util::BodyExt;
    let (parts, body) = response.into_parts();
    let body = body.collect().await?.to_bytes();
    let headers: serde_json::Map<String, serde_json::Value> = parts
        .headers
        .iter()
        .filter_map(|(name, value)| Some((name.to_string(), value.to_str().ok()?.into())))
        .collect();
    Ok(serde_json::json!({
        "statusCode": parts.status.as_u16(),
        "headers": headers,
        "body": String::from_utf8_lossy(&body),
        "isBase64Encoded": false,
    }))
}

fn header_if_absent(name: HeaderName, value: &'static str) -> SetResponseHeaderLayer<HeaderValue> {
    SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
}

fn cors(settings: &HttpSettings) -> CorsLayer {
    let origins = if settings.cors_origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(settings.cors_origins.clone())
    };
    CorsLayer::new()
        .allow_origin(origins)
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
            Method::OPTIONS,
        ])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            HeaderName::from_static("idempotency-key"),
            HeaderName::from_static("x-api-key"),
            HeaderName::from_static(crate::auth::step_up::HEADER),
            REQUEST_ID,
        ])
        .expose_headers([
            REQUEST_ID,
            header::RETRY_AFTER,
            header::CONTENT_DISPOSITION,
            HeaderName::from_static("idempotent-replayed"),
        ])
        .max_age(Duration::from_secs(600))
}

/// Gives the request its id (the Lambda request id when running in Lambda, else a sane
/// incoming `x-request-id`, else a new UUID), runs it inside a span carrying that id, logs its
/// outcome, and turns any error response that is not problem+json yet into one.
async fn request_context(request: Request, next: Next) -> Response {
    let id: Arc<str> = request_id_of(&request).into();
    let ip = crate::auth::ClientIp::of(&request).0;
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %request.method(),
        path = %request.uri().path(),
    );
    let started = Instant::now();
    let (mut response, deferred) = crate::request::scope(id.clone(), ip, async move {
        ensure_problem_body(next.run(request).await)
    })
    .instrument(span.clone())
    .await;
    crate::after_response::release(deferred);
    let status = response.status().as_u16();
    span.in_scope(|| {
        tracing::info!(
            status,
            elapsed_ms = started.elapsed().as_secs_f64() * 1e3,
            "request finished"
        )
    });
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    response
}

/// A tenant request is one transaction (see [`crate::auth::Tenant`]): once the handler has
/// answered, it commits if the response is a success and rolls back otherwise, so an error
/// leaves nothing half-written. A commit that fails turns the response into that error. The
/// transaction ends before the response leaves, so a frozen Lambda environment never holds a
/// pooled server connection inside a transaction.
async fn request_transaction(mut request: Request, next: Next) -> Response {
    let slot = crate::db::TxSlot::default();
    request.extensions_mut().insert(slot.clone());
    let response = next.run(request).await;
    let Some(tx) = slot.take() else {
        return response;
    };
    let status = response.status();
    let commit = !(status.is_client_error() || status.is_server_error());
    let after_commit = crate::request::take_after_commit();
    match tx.finish(commit).await {
        Ok(()) => {
            if commit {
                for job in after_commit {
                    crate::after_response::defer(job);
                }
            }
            response
        }
        Err(error) if commit => ApiError::from(error).into_response(),
        Err(error) => {
            tracing::warn!(
                %error,
                "could not roll back a failed request; its connection is closed"
            );
            response
        }
    }
}

fn request_id_of(request: &Request) -> String {
    if let Some(context) = request.lambda_context_ref() {
        return context.request_id.clone();
    }
    request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            (1..=128).contains(&v.len())
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
        })
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

fn ensure_problem_body(response: Response) -> Response {
    let status = response.status();
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(PROBLEM_JSON.as_bytes()));
    if !(status.is_client_error() || status.is_server_error()) || is_problem {
        return response;
    }
    let (mut parts, _) = response.into_parts();
    let problem = problem_for_status(status);
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.extend(problem.headers().clone());
    let (_, body) = problem.into_parts();
    Response::from_parts(parts, body)
}
