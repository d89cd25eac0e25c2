//! The shared layers, driven in-process through a small router that uses them.

use std::collections::HashMap;

use axum::Router;
use axum::body::Body;
use axum::routing::{get, post};
use http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use serde::Deserialize;
use serde_json::{Value, json};
use shared::config::Settings;
use shared::http::{AppJson, AppQuery};
use tower::ServiceExt;

#[derive(Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
struct Item {
    name: String,
    quantity: u32,
}

fn app() -> Router {
    let settings = Settings::from_vars(&HashMap::from([
        (
            "DATABASE_URL".to_owned(),
            "postgres://unused@localhost/unused".to_owned(),
        ),
        ("MAX_BODY_BYTES".to_owned(), "1024".to_owned()),
        (
            "SECRET_KEY".to_owned(),
            "test-secret-key-0123456789abcdef0123".to_owned(),
        ),
        (
            "CORS_ALLOWED_ORIGINS".to_owned(),
            "https://shop.example".to_owned(),
        ),
    ]))
    .unwrap();
    let router = Router::new()
        .route(
            "/echo",
            post(|AppJson(item): AppJson<Item>| async move { AppJson(item) }),
        )
        .route(
            "/optional",
            post(|item: Option<AppJson<Item>>| async move {
                AppJson(item.map(|AppJson(item)| item.name))
            }),
        )
        .route("/ok", get(|| async { "ok" }))
        .route("/search", get(search))
        .route("/panic", get(panicking_handler));
    shared::http::layers(router, &settings.http, document)
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct Search {
    q: Option<String>,
    limit: Option<u32>,
}

/// A list-like operation with two documented query parameters.
#[utoipa::path(get, path = "/search", params(Search), responses((status = 200)))]
async fn search(AppQuery(search): AppQuery<Search>) -> AppJson<Value> {
    AppJson(json!({"q": search.q, "limit": search.limit}))
}

/// The document of this router: `/search` takes `q` and `limit`; `/ok` is not documented.
fn document() -> utoipa::openapi::OpenApi {
    #[derive(utoipa::OpenApi)]
    #[openapi(paths(search))]
    struct Doc;
    <Doc as utoipa::OpenApi>::openapi()
}

async fn panicking_handler() -> &'static str {
    let items: Vec<&'static str> = Vec::new();
    // Indexing out of bounds: a bug, as a panic would be in real code.
    items[usize::from(items.is_empty())]
}

async fn send(request: Request<Body>) -> (StatusCode, http::HeaderMap, Value) {
    let response = app().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, headers, body)
}

fn post_json(body: impl Into<Body>) -> Request<Body> {
    Request::post("/echo")
        .header(header::CONTENT_TYPE, "application/json")
        .body(body.into())
        .unwrap()
}

fn assert_problem(headers: &http::HeaderMap, body: &Value, status: StatusCode, code: &str) {
    assert_eq!(headers[header::CONTENT_TYPE], "application/problem+json");
    assert_eq!(body["status"], status.as_u16());
    assert_eq!(body["code"], code);
    assert_eq!(body["type"], format!("urn:stockroom:problem:{code}"));
    assert!(
        body["title"].is_string() && body["detail"].is_string(),
        "{body}"
    );
    let request_id = body["request_id"].as_str().expect("request_id in the body");
    assert_eq!(headers["x-request-id"], request_id);
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let (status, headers, _) = send(Request::get("/ok").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    assert!(
        headers["strict-transport-security"]
            .to_str()
            .unwrap()
            .starts_with("max-age=")
    );
    assert!(
        headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("default-src 'none'")
    );
}

#[tokio::test]
async fn unknown_route_is_a_404_problem() {
    let (status, headers, body) = send(Request::get("/nope").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_problem(&headers, &body, status, "not_found");
    assert_eq!(headers["x-frame-options"], "DENY");
}

#[tokio::test]
async fn wrong_method_is_a_405_problem_that_keeps_allow() {
    let (status, headers, body) = send(Request::delete("/ok").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_problem(&headers, &body, status, "method_not_allowed");
    assert!(headers.contains_key(header::ALLOW));
}

#[tokio::test]
async fn malformed_json_is_a_400_problem() {
    let (status, headers, body) = send(post_json(r#"{"name": "bolt", "quantity": "#)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_problem(&headers, &body, status, "malformed_json");
}

#[tokio::test]
async fn trailing_garbage_after_json_is_malformed() {
    let (status, _, body) = send(post_json(r#"{"name":"bolt","quantity":1} x"#)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

#[tokio::test]
async fn json_of_the_wrong_shape_names_the_field() {
    let (status, headers, body) = send(post_json(r#"{"name": "bolt", "quantity": -1}"#)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_problem(&headers, &body, status, "validation_failed");
    assert_eq!(body["errors"][0]["field"], "quantity");
}

#[tokio::test]
async fn a_nul_character_in_a_string_is_a_422_naming_the_field() {
    // PostgreSQL text cannot hold NUL; it must be refused before any query sees it.
    let (status, headers, body) = send(post_json(r#"{"name": "bo\u0000lt", "quantity": 1}"#)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_problem(&headers, &body, status, "validation_failed");
    assert_eq!(body["errors"][0]["field"], "name");
    assert_eq!(body["errors"][0]["code"], "nul_character");
    // An escaped backslash before u0000 is plain text, not a NUL.
    let (status, _, body) = send(post_json(r#"{"name": "bo\\u0000lt", "quantity": 1}"#)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["name"], "bo\\u0000lt");
}

#[tokio::test]
async fn a_missing_field_is_named_itself() {
    let (status, _, body) = send(post_json(r#"{"name": "bolt"}"#)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["errors"][0]["field"], "quantity", "{body}");
    assert_eq!(body["errors"][0]["code"], "required", "{body}");
}

#[tokio::test]
async fn an_integer_written_with_a_zero_fraction_is_an_integer() {
    // JSON Schema's `integer` includes 3.0; a generated client may send it so.
    let (status, _, body) = send(post_json(r#"{"name": "bolt", "quantity": 3.0}"#)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["quantity"], 3);
    let (status, _, body) = send(post_json(r#"{"name": "bolt", "quantity": 3.5}"#)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["errors"][0]["field"], "quantity");
}

async fn get_path(uri: &str) -> (StatusCode, http::HeaderMap, Value) {
    send(Request::get(uri).body(Body::empty()).unwrap()).await
}

#[tokio::test]
async fn unknown_query_parameters_are_refused_naming_each() {
    let (status, headers, body) = get_path("/search?q=bolt&limt=5&sort=name&limt=6").await;
    assert_problem(&headers, &body, status, "validation_failed");
    let fields: Vec<(&str, &str)> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["field"].as_str().unwrap(), e["code"].as_str().unwrap()))
        .collect();
    assert_eq!(
        fields,
        [("limt", "unknown_parameter"), ("sort", "unknown_parameter")]
    );
    // An operation that documents no parameter takes none.
    let (status, headers, body) = get_path("/ok?debug").await;
    assert_problem(&headers, &body, status, "validation_failed");
    assert_eq!(body["errors"][0]["field"], "debug");
    // Unrouted paths stay 404.
    let (status, _, _) = get_path("/nowhere?x=1").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn documented_query_parameters_pass_and_empty_values_are_absent() {
    let (status, _, body) = get_path("/search?q=bolt&limit=5").await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!({"q": "bolt", "limit": 5}))
    );
    // What URLSearchParams builds from empty variables: the parameters are absent.
    let (status, _, body) = get_path("/search?q=&limit=").await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!({"q": null, "limit": null}))
    );
    let (status, headers, body) = get_path("/search?limit=many").await;
    assert_problem(&headers, &body, status, "validation_failed");
    assert_eq!(body["errors"][0]["field"], "limit");
}

#[tokio::test]
async fn a_body_that_is_not_json_is_a_415_problem() {
    let request = Request::post("/echo")
        .header(header::CONTENT_TYPE, "text/plain")
        .body(Body::from("hi"))
        .unwrap();
    let (status, headers, body) = send(request).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_problem(&headers, &body, status, "unsupported_media_type");
}

#[tokio::test]
async fn an_optional_body_may_be_left_out_but_not_sent_wrong() {
    let post = |content_type: Option<&str>, body: &'static str| {
        let mut request = Request::post("/optional");
        if let Some(content_type) = content_type {
            request = request.header(header::CONTENT_TYPE, content_type);
        }
        request.body(Body::from(body)).unwrap()
    };
    let (status, _, body) = send(post(None, "")).await;
    assert_eq!((status, body), (StatusCode::OK, Value::Null));
    // A client that always sends `Content-Type: application/json` sends no body either.
    for empty in ["", " \r\n\t "] {
        let (status, headers, body) = send(post(Some("application/json"), empty)).await;
        assert_eq!(status, StatusCode::OK, "{empty:?}: {headers:?} {body}");
        assert_eq!(body, Value::Null);
    }
    let (status, _, body) = send(post(Some("text/plain"), "")).await;
    assert_eq!((status, body), (StatusCode::OK, Value::Null));
    let (status, _, body) = send(post(
        Some("application/json"),
        r#"{"name": "bolt", "quantity": 3}"#,
    ))
    .await;
    assert_eq!((status, body), (StatusCode::OK, json!("bolt")));
    let (status, headers, body) = send(post(None, r#"{"name": "bolt"}"#)).await;
    assert_problem(&headers, &body, status, "unsupported_media_type");
    let (status, headers, body) = send(post(Some("application/json"), r#"{"name": 1}"#)).await;
    assert_problem(&headers, &body, status, "validation_failed");
    let (status, headers, body) = send(post(Some("text/plain"), r#"{"name": "bolt"}"#)).await;
    assert_problem(&headers, &body, status, "unsupported_media_type");
    let (status, headers, body) = send(post(Some("application/json"), "{")).await;
    assert_problem(&headers, &body, status, "malformed_json");
}

#[tokio::test]
async fn a_body_over_the_limit_is_a_413_problem() {
    let big = json!({ "name": "x".repeat(2000), "quantity": 1 }).to_string();
    let (status, headers, body) = send(post_json(big)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_problem(&headers, &body, status, "payload_too_large");
}

#[tokio::test]
async fn a_streamed_body_over_the_limit_is_a_413_problem_too() {
    // No Content-Length: the limit is enforced while reading.
    let chunks = (0..3).map(|_| Ok::<_, std::io::Error>(bytes::Bytes::from(vec![b' '; 800])));
    let request = Request::post("/echo")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(futures_util::stream::iter(chunks)))
        .unwrap();
    let (status, headers, body) = send(request).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_problem(&headers, &body, status, "payload_too_large");
}

#[tokio::test]
async fn a_valid_body_round_trips() {
    let (status, _, body) = send(post_json(r#"{"name": "bolt", "quantity": 3}"#)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"name": "bolt", "quantity": 3}));
}

#[tokio::test]
async fn a_panic_is_a_500_problem_without_details() {
    let (status, headers, body) = send(Request::get("/panic").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_problem(&headers, &body, status, "internal_error");
    assert!(!body.to_string().contains("index out of bounds"));
}

#[tokio::test]
async fn an_incoming_request_id_is_kept() {
    let request = Request::get("/nope")
        .header("x-request-id", "client-abc-123")
        .body(Body::empty())
        .unwrap();
    let (_, headers, body) = send(request).await;
    assert_eq!(headers["x-request-id"], "client-abc-123");
    assert_eq!(body["request_id"], "client-abc-123");
}

#[tokio::test]
async fn a_hostile_request_id_is_replaced() {
    let request = Request::get("/ok")
        .header("x-request-id", "a b\"<script>")
        .body(Body::empty())
        .unwrap();
    let (_, headers, _) = send(request).await;
    let id = headers["x-request-id"].to_str().unwrap();
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
}

#[tokio::test]
async fn cors_preflight_from_an_allowed_origin_is_answered() {
    let request = Request::builder()
        .method(Method::OPTIONS)
        .uri("/echo")
        .header(header::ORIGIN, "https://shop.example")
        .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
        .header(
            header::ACCESS_CONTROL_REQUEST_HEADERS,
            "authorization,content-type,idempotency-key",
        )
        .body(Body::empty())
        .unwrap();
    let (status, headers, _) = send(request).await;
    assert!(status.is_success(), "{status}");
    assert_eq!(
        headers[header::ACCESS_CONTROL_ALLOW_ORIGIN],
        "https://shop.example"
    );
    let allowed = headers[header::ACCESS_CONTROL_ALLOW_HEADERS]
        .to_str()
        .unwrap();
    assert!(
        allowed.contains("authorization") && allowed.contains("idempotency-key"),
        "{allowed}"
    );
}

#[tokio::test]
async fn cors_lets_a_browser_read_the_headers_a_frontend_needs() {
    let request = Request::get("/ok")
        .header(header::ORIGIN, "https://shop.example")
        .body(Body::empty())
        .unwrap();
    let (_, headers, _) = send(request).await;
    let exposed = headers[header::ACCESS_CONTROL_EXPOSE_HEADERS]
        .to_str()
        .unwrap();
    for name in [
        "x-request-id",
        "retry-after",
        "content-disposition",
        "idempotent-replayed",
    ] {
        assert!(exposed.contains(name), "{name} in {exposed}");
    }
}

#[tokio::test]
async fn cors_ignores_other_origins() {
    let request = Request::get("/ok")
        .header(header::ORIGIN, "https://evil.example")
        .body(Body::empty())
        .unwrap();
    let (_, headers, _) = send(request).await;
    assert!(!headers.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN));
}

#[tokio::test]
async fn an_unknown_member_is_named_where_it_is() {
    let (status, _, body) = send(post_json(
        r#"{"name": "bolt", "quantity": 1, "colour": "red"}"#,
    ))
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["errors"][0]["field"], "colour");
    assert_eq!(body["errors"][0]["code"], "unknown_field");
}

#[tokio::test]
async fn every_wrong_field_is_named_at_once_in_plain_words() {
    let (status, _, body) = send(post_json(r#"{"name": 5, "quantity": "many"}"#)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let errors: Vec<(String, String)> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["field"].as_str().unwrap().to_owned(),
                e["message"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        errors,
        [
            ("name".to_owned(), "must be a string".to_owned()),
            (
                "quantity".to_owned(),
                "must be a whole number, not negative".to_owned()
            ),
        ]
    );
    // A type error and a missing member together.
    let (_, _, body) = send(post_json(r#"{"quantity": -1}"#)).await;
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["quantity", "name"], "{body}");
}

#[test]
fn library_messages_become_plain_words() {
    use shared::http::plain_message;
    assert_eq!(
        plain_message(
            "UUID parsing failed: invalid character: expected an optional prefix of `urn:uuid:` followed by [0-9a-fA-F-], found `x` at 1"
        ),
        "must be a UUID such as 6f1c3a52-1b0e-4d3f-9a57-0c2b8e2f4d11"
    );
    assert_eq!(
        plain_message("invalid type: floating point `12.5`, expected a string"),
        "must be a string"
    );
    assert_eq!(
        plain_message("unknown variant `Done`, expected `Pending` or `Completed`"),
        "must be one of Pending, Completed"
    );
    assert!(plain_message("premature end of input").contains("RFC 3339"));
    assert_eq!(
        plain_message("invalid value: integer `3000000000`, expected i32"),
        "must be a whole number in range"
    );
}
