//! The API's OpenAPI document is derived from the code: each function lists its handlers
//! (`#[utoipa::path]`) in its `openapi()`, passed through [`function`]; [`finish`] then adds what
//! every operation shares — security schemes and problem+json error responses — so no handler
//! repeats them. The whole document is assembled by the `e2e` crate (`make openapi`).
//!
//! The document says exactly what the API accepts, so a generated client never sends what it
//! refuses: [`finish`] also writes the rules every input shares into the schemas — no NUL in
//! any text, the single-line rule of names (fields marked `format = "line"`), the password rule
//! (`format = "new-password"`), and query parameters that may be sent empty (an empty value is
//! an absent parameter).

use serde::Serialize;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::schema::{
    AdditionalProperties, ArrayItems, KnownFormat, Schema, SchemaFormat, SchemaType, Type,
};
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{Content, Info, OpenApi, Ref, RefOr, Required, Response};

use crate::error::{FieldError, PROBLEM_JSON};

mod answers;
mod operations;
mod schemas;

pub use answers::{Flag, MAY_BE_ABSENT, require_sent_members};
pub use operations::{function, operations_mut, put_like_patch};
pub use schemas::{
    BLANK_PATTERN, Binary, LINE_PATTERN, NO_NUL_PATTERN, exactly_one_of, optional_email_schema,
    optional_text_enum, record_schema, text_enum,
};

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
    /// For `validation_failed`, and a conflict on a field (`sku_taken`): each field at fault.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = field_errors_schema)]
    pub errors: Option<Vec<FieldError>>,
    /// For `insufficient_stock`: the units that are available (on hand minus reserved).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(extensions(("x-may-be-absent" = json!(true))))]
    pub available: Option<i64>,
    /// For `quota_exceeded`: the bytes the organization's files take now.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(extensions(("x-may-be-absent" = json!(true))))]
    pub used_bytes: Option<i64>,
    /// For `quota_exceeded`: the organization's storage quota in bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(extensions(("x-may-be-absent" = json!(true))))]
    pub quota_bytes: Option<i64>,
}

/// `Problem.errors`: a list of [`FieldError`], left out when there is none (utoipa does not
/// carry a member's extensions onto an array).
fn field_errors_schema() -> utoipa::openapi::schema::Array {
    let mut array = utoipa::openapi::schema::ArrayBuilder::new()
        .items(Ref::from_schema_name("FieldError"))
        .description(Some(
            "For `validation_failed`, and a conflict on a field (`sku_taken`): each field at fault.",
        ))
        .build();
    array.extensions = Some(
        [(MAY_BE_ABSENT.to_owned(), serde_json::Value::Bool(true))]
            .into_iter()
            .collect(),
    );
    array
}

/// The `Idempotency-Key` header of the POSTs that create (`params(IdempotencyKeyHeader)`).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
pub struct IdempotencyKeyHeader {
    /// 1 to 255 visible ASCII characters (a UUID will do). A retry with the same key and body
    /// returns the first response and creates nothing new; the same key with another body is a
    /// 409 `idempotency_key_reused`.
    #[param(rename = "Idempotency-Key", pattern = r"^[!-~]{1,255}$")]
    pub idempotency_key: Option<String>,
}

/// The `X-Step-Up-Token` header of the actions that move money or grant access
/// (`params(StepUpHeader)`): a token from `POST /api/auth/step-up`, for this session, at most 5
/// minutes old. Without it (or with an expired or foreign one) the answer is 401
/// `step_up_required`; API keys get 403 `step_up_unavailable`.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
pub struct StepUpHeader {
    #[param(rename = "X-Step-Up-Token")]
    pub step_up_token: Option<String>,
}

/// The security requirement of an operation anyone may call (`security(())` in its
/// `#[utoipa::path]`).
fn is_public(operation: &Operation) -> bool {
    operation
        .security
        .as_ref()
        .is_some_and(|requirements| requirements.iter().all(|r| *r == Default::default()))
}

/// Whether `operation` takes an `Idempotency-Key` header, and whether it is a list (takes a
/// `cursor`).
fn parameter_names(operation: &Operation) -> (bool, bool) {
    let names = || {
        operation
            .parameters
            .iter()
            .flatten()
            .filter_map(|p| match p {
                RefOr::T(p) => Some(p.name.as_str()),
                RefOr::Ref(_) => None,
            })
    };
    (
        names().any(|n| n == "Idempotency-Key"),
        names().any(|n| n == "cursor"),
    )
}

/// A text response header described by `description`.
fn header(description: &str) -> RefOr<utoipa::openapi::header::Header> {
    utoipa::openapi::header::HeaderBuilder::new()
        .schema(Some(
            utoipa::openapi::schema::ObjectBuilder::new().schema_type(Type::String),
        ))
        .description(Some(description))
        .build()
        .into()
}

/// The problem+json response of `status`: a 422 always names the fields (`ValidationProblem`).
fn problem(status: &str, description: &str) -> Response {
    let schema = if status == "422" {
        "ValidationProblem"
    } else {
        "Problem"
    };
    Response::builder()
        .description(description)
        .content(
            PROBLEM_JSON,
            Content::new(Some(Ref::from_schema_name(schema))),
        )
        .build()
}

/// A `Problem` whose `errors` is always there: the body of every 422.
fn validation_problem() -> Schema {
    let mut all_of = utoipa::openapi::schema::AllOf::new();
    all_of.items = vec![
        Ref::from_schema_name("Problem").into(),
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(Type::Object)
            .property(
                "errors",
                utoipa::openapi::schema::ArrayBuilder::new()
                    .items(Ref::from_schema_name("FieldError"))
                    .min_items(Some(1)),
            )
            .required("errors")
            .into(),
    ];
    all_of.description = Some("A `validation_failed` problem: `errors` names each field.".into());
    Schema::AllOf(all_of)
}

/// Writes the shared text rules into a schema and everything inside it: `format = "line"`
/// becomes [`LINE_PATTERN`], and a string without a pattern, format or enum gets
/// [`NO_NUL_PATTERN`].
fn refine_schema(schema: &mut RefOr<Schema>) {
    let RefOr::T(schema) = schema else { return };
    match schema {
        Schema::Object(object) => {
            let is_text = match &object.schema_type {
                SchemaType::Type(Type::String) => true,
                SchemaType::Array(types) => types.contains(&Type::String),
                _ => false,
            };
            if is_text {
                let marker = match &object.format {
                    Some(SchemaFormat::Custom(marker)) => Some(marker.as_str()),
                    _ => None,
                };
                match marker {
                    Some("line") => {
                        object.format = None;
                        object.pattern = Some(LINE_PATTERN.to_owned());
                    }
                    Some("filename") => {
                        object.format = None;
                        object.pattern =
                            Some(crate::storage::filename::FILENAME_PATTERN.to_owned());
                    }
                    Some("new-password") => {
                        object.format = Some(SchemaFormat::KnownFormat(KnownFormat::Password));
                        object.pattern = Some(crate::auth::password::PATTERN.to_owned());
                    }
                    _ => {
                        let holds_no_nul = matches!(
                            object.format,
                            Some(SchemaFormat::KnownFormat(
                                KnownFormat::Uuid | KnownFormat::DateTime | KnownFormat::Date
                            ))
                        );
                        if object.pattern.is_none() && object.enum_values.is_none() && !holds_no_nul
                        {
                            object.pattern = Some(NO_NUL_PATTERN.to_owned());
                        }
                    }
                }
            }
            object.properties.values_mut().for_each(refine_schema);
            if let Some(extra) = object.additional_properties.as_deref_mut()
                && let AdditionalProperties::RefOr(extra) = extra
            {
                refine_schema(extra);
            }
        }
        Schema::Array(array) => {
            if let ArrayItems::RefOrSchema(items) = &mut array.items {
                refine_schema(items);
            }
        }
        Schema::OneOf(one_of) => one_of.items.iter_mut().for_each(refine_schema),
        Schema::AllOf(all_of) => all_of.items.iter_mut().for_each(refine_schema),
        Schema::AnyOf(any_of) => any_of.items.iter_mut().for_each(refine_schema),
        _ => {}
    }
}

/// Completes the merged document: title, security schemes, the shared schemas and, on every
/// operation, the error responses it can give (each a problem+json body), and the shared rules
/// of every input (see the module documentation).
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
    schemas.push(("ValidationProblem".into(), validation_problem().into()));
    schemas.push((
        "FieldError".into(),
        <FieldError as utoipa::PartialSchema>::schema(),
    ));
    schemas.push((
        "CurrencyCode".into(),
        <crate::domain::CurrencyCode as utoipa::PartialSchema>::schema(),
    ));
    // The error documents echo what was sent (a field name may hold anything): not refined.
    components
        .schemas
        .iter_mut()
        .filter(|(name, _)| {
            !["Problem", "ValidationProblem", "FieldError"].contains(&name.as_str())
        })
        .for_each(|(_, schema)| refine_schema(schema));
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
            for parameter in operation.parameters.iter_mut().flatten() {
                let RefOr::T(parameter) = parameter else {
                    continue;
                };
                if let Some(schema) = &mut parameter.schema {
                    refine_schema(schema);
                }
                // OpenAPI: a path parameter is always required (utoipa leaves it out for a
                // member whose schema is written by hand).
                if matches!(parameter.parameter_in, ParameterIn::Path) {
                    parameter.required = Required::True;
                }
                // An empty value (`cursor=`) is the parameter left out; OpenAPI says so with
                // `allowEmptyValue`, which utoipa's Parameter has no field for.
                if matches!(parameter.parameter_in, ParameterIn::Query)
                    && !matches!(parameter.required, Required::True)
                {
                    parameter
                        .extensions
                        .get_or_insert_with(Default::default)
                        .insert("allowEmptyValue".to_owned(), true.into());
                }
            }
            for content in operation
                .request_body
                .iter_mut()
                .filter_map(|body| match body {
                    RefOr::T(body) => Some(body.content.values_mut()),
                    RefOr::Ref(_) => None,
                })
                .flatten()
            {
                if let RefOr::T(content) = content
                    && let Some(schema) = &mut content.schema
                {
                    refine_schema(schema);
                }
            }
            // Every operation refuses query parameters it does not list (422).
            let takes_input = true;
            let (idempotent, paged) = parameter_names(operation);
            let responses = &mut operation.responses.responses;
            for (status, response) in responses.iter_mut() {
                if let RefOr::T(response) = response
                    && idempotent
                    && status.starts_with('2')
                {
                    response.headers.insert(
                        "Idempotent-Replayed".to_owned(),
                        header(
                            "`true` when this is the stored answer to an earlier request with \
                             the same `Idempotency-Key` (nothing was done again); absent otherwise.",
                        ),
                    );
                }
            }
            // Error statuses a handler names (409 `sku_taken`, ...) carry the problem body too.
            for (status, response) in responses.iter_mut() {
                if let RefOr::T(response) = response
                    && status.starts_with(['4', '5'])
                    && response.content.is_empty()
                {
                    *response = problem(status, &response.description);
                }
            }
            let mut add = |status: &str, description: &str| {
                responses
                    .entry(status.to_owned())
                    .or_insert_with(|| problem(status, description).into());
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
            match (path.contains('{'), paged) {
                (true, false) => add(
                    "404",
                    "`not_found`: no such record in the caller's organization.",
                ),
                (true, true) => add(
                    "404",
                    "`not_found`: no such record in the caller's organization; \
                     `cursor_not_found`: the cursor names no page of this list (start again without it).",
                ),
                (false, true) => add(
                    "404",
                    "`cursor_not_found`: the cursor names no page of this list (start again without it).",
                ),
                (false, false) => {}
            }
            if takes_input {
                add(
                    "422",
                    "Invalid input, or a query parameter this operation does not take; `errors` \
                     names each field.",
                );
            }
            add("503", "The database did not answer in time; retry later.");
            add(
                "default",
                "Any other error, e.g. 400 malformed JSON, 413 body too large, 429 too many \
                 attempts (with `Retry-After`).",
            );
            for (status, description) in [
                (
                    "default",
                    "On a 429: the seconds to wait before trying again.",
                ),
                ("429", "The seconds to wait before trying again."),
            ] {
                if let Some(RefOr::T(response)) = responses.get_mut(status) {
                    response
                        .headers
                        .insert("Retry-After".to_owned(), header(description));
                }
            }
        }
    }
}
