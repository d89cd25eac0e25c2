//! The API's OpenAPI document is derived from the code: each function lists its handlers
//! (`#[utoipa::path]`) in its `openapi()`, passed through [`function`]; [`finish`] then adds what
//! every operation shares — security schemes and problem+json error responses — so no handler
//! repeats them. The whole document is assembled by the `e2e` crate (`make openapi`).

use serde::Serialize;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{Content, Info, OpenApi, Ref, RefOr, Response};

use crate::error::{FieldError, PROBLEM_JSON};

/// The `application/problem+json` body (RFC 9457) of every error response.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// `urn:stockroom:problem:<code>`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The HTTP status phrase.
    pub title: String,
    pub status: u16,
    /// What went wrong, for people.
    pub detail: String,
    /// A stable machine code (`not_found`, `validation_failed`, `sku_taken`, ...).
    pub code: String,
    /// The request id (also in `X-Request-Id`), for support.
    pub request_id: Option<String>,
    /// For `validation_failed`: each invalid field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
}

/// The `Idempotency-Key` header of the POSTs that create (`params(IdempotencyKeyHeader)`).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
pub struct IdempotencyKeyHeader {
    /// 1 to 255 visible ASCII characters. A retry with the same key and body returns the first
    /// response and creates nothing new; the same key with another body is a 422.
    #[param(rename = "Idempotency-Key")]
    pub idempotency_key: Option<String>,
}

/// The security requirement of an operation anyone may call (`security(())` in its
/// `#[utoipa::path]`).
fn is_public(operation: &Operation) -> bool {
    operation
        .security
        .as_ref()
        .is_some_and(|requirements| requirements.iter().all(|r| *r == Default::default()))
}

/// The operations of a path item, for documents that rewrite them.
pub fn operations_mut(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.patch,
    ]
    .into_iter()
    .flatten()
}

/// One function's part of the document: every operation tagged with the function's name and
/// its operation id prefixed by it (handler names such as `list` repeat across functions).
pub fn function(mut doc: OpenApi, name: &str) -> OpenApi {
    for item in doc.paths.paths.values_mut() {
        for operation in operations_mut(item) {
            operation.tags = Some(vec![name.to_owned()]);
            if let Some(id) = &operation.operation_id {
                operation.operation_id = Some(format!("{name}_{id}"));
            }
        }
    }
    doc
}

/// Documents `PUT path` as the `PATCH` operation of the same path (only the fields sent
/// change), for clients that update with PUT; its operation id ends in `_put`.
pub fn put_like_patch(doc: &mut OpenApi, path: &str) {
    let Some(item) = doc.paths.paths.get_mut(path) else {
        panic!("{path} is not documented");
    };
    let Some(mut put) = item.patch.clone() else {
        panic!("{path} has no PATCH to document PUT from");
    };
    put.operation_id = put.operation_id.map(|id| format!("{id}_put"));
    put.summary = Some("The same as PATCH: only the fields sent change.".to_owned());
    item.put = Some(put);
}

fn problem(description: &str) -> Response {
    Response::builder()
        .description(description)
        .content(
            PROBLEM_JSON,
            Content::new(Some(Ref::from_schema_name("Problem"))),
        )
        .build()
}

/// Completes the merged document: title, security schemes, the shared schemas and, on every
/// operation, the error responses it can give (each a problem+json body).
pub fn finish(doc: &mut OpenApi) {
    doc.info = Info::builder()
        .title("Stockroom API")
        .version(env!("CARGO_PKG_VERSION"))
        .description(Some(
            "Products, suppliers, stock, purchasing, team to-dos, users and API keys for a \
             small business. Errors are `application/problem+json` (RFC 9457) with a stable \
             `code`. Lists take `limit` (1-100, default 50) and the `cursor` of the previous \
             page. POSTs that create accept an `Idempotency-Key` header.",
        ))
        .build();
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("JWT")
                .description(Some(
                    "An access token from `POST /api/auth/login` (15 minutes). An API key \
                     (`sk_...`) is accepted here too.",
                ))
                .build(),
        ),
    );
    components.add_security_scheme(
        "api_key",
        SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
            "X-API-Key",
            "An API key from `POST /api/api-keys`; it acts with its scopes only.",
        ))),
    );
    let mut schemas = Vec::new();
    <Problem as utoipa::ToSchema>::schemas(&mut schemas);
    schemas.push((
        "Problem".into(),
        <Problem as utoipa::PartialSchema>::schema(),
    ));
    schemas.push((
        "FieldError".into(),
        <FieldError as utoipa::PartialSchema>::schema(),
    ));
    components.schemas.extend(schemas);

    let user_or_key = vec![
        SecurityRequirement::new("bearer", Vec::<String>::new()),
        SecurityRequirement::new("api_key", Vec::<String>::new()),
    ];
    for (path, item) in doc.paths.paths.iter_mut() {
        for operation in operations_mut(item) {
            let public = is_public(operation);
            if public {
                operation.security = Some(Vec::new());
            } else if operation.security.is_none() {
                operation.security = Some(user_or_key.clone());
            }
            let takes_input = operation.request_body.is_some()
                || operation.parameters.as_ref().is_some_and(|p| !p.is_empty());
            let responses = &mut operation.responses.responses;
            // Error statuses a handler names (409 `sku_taken`, ...) carry the problem body too.
            for (status, response) in responses.iter_mut() {
                if let RefOr::T(response) = response
                    && status.starts_with(['4', '5'])
                    && response.content.is_empty()
                {
                    *response = problem(&response.description);
                }
            }
            let mut add = |status: &str, description: &str| {
                responses
                    .entry(status.to_owned())
                    .or_insert_with(|| problem(description).into());
            };
            if !public {
                add(
                    "401",
                    "Not signed in, or the token or key is invalid or expired.",
                );
                add(
                    "403",
                    "Signed in, but the role, module permission or key scope does not allow this.",
                );
            }
            if path.contains('{') {
                add("404", "No such record in the caller's organization.");
            }
            if takes_input {
                add("422", "Invalid input; `errors` names each field.");
            }
            add("503", "The database did not answer in time; retry later.");
            add(
                "default",
                "Any other error, e.g. 400 malformed JSON, 413 body too large, 429 too many \
                 attempts (with `Retry-After`).",
            );
        }
    }
}
