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
use utoipa::openapi::path::{Operation, ParameterIn, PathItem};
use utoipa::openapi::schema::{
    AdditionalProperties, ArrayItems, KnownFormat, Schema, SchemaFormat, SchemaType, Type,
};
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{Content, Info, OpenApi, Ref, RefOr, Required, Response};

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

/// The pattern of a name (`format = "line"` in a schema; what `domain::name` accepts): one line
/// of text with something visible in it, no control characters.
pub const LINE_PATTERN: &str = concat!(
    r"^[^\x00-\x1F\x7F-\x9F]*",
    r"[^\x00-\x20\x7F-\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]",
    r"[^\x00-\x1F\x7F-\x9F]*$"
);

/// Text that is only whitespace (what `str::trim` removes), which optional fields read as absent.
pub const BLANK_PATTERN: &str =
    r"^[\t-\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*$";

/// The pattern of any other text: PostgreSQL text cannot hold NUL, so the API refuses it.
pub const NO_NUL_PATTERN: &str = r"^[^\u0000]*$";

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

/// The schema of an optional email field (`schema_with`): an address, blank (read as none) or
/// `null`.
pub fn optional_email_schema() -> Schema {
    use utoipa::openapi::schema::{AnyOf, ObjectBuilder};
    let mut any_of = AnyOf::new();
    any_of.items = vec![
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Email)))
            .max_length(Some(254))
            .into(),
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(BLANK_PATTERN))
            .into(),
        ObjectBuilder::new().schema_type(Type::Null).into(),
    ];
    any_of.description = Some("An email address; blank or `null` for none.".to_owned());
    Schema::AnyOf(any_of)
}

/// Rewrites the object schema `name` of `doc` so that exactly one of `fields` is sent (and not
/// `null`): one variant per field, where the others may only be absent or `null`.
pub fn exactly_one_of(doc: &mut OpenApi, name: &str, fields: &[&str]) {
    use utoipa::openapi::schema::{ObjectBuilder, OneOf};
    let schemas = &mut doc.components.get_or_insert_with(Default::default).schemas;
    let Some(RefOr::T(Schema::Object(object))) = schemas.get(name).cloned() else {
        panic!("{name} is not an object schema of this document");
    };
    let mut one_of = OneOf::new();
    one_of.description = object.description.clone();
    for chosen in fields {
        let mut variant = object.clone();
        variant.description = None;
        for other in fields.iter().filter(|f| *f != chosen) {
            variant.properties.insert(
                (*other).to_owned(),
                ObjectBuilder::new().schema_type(Type::Null).into(),
            );
        }
        if let Some(RefOr::T(Schema::Object(field))) = variant.properties.get_mut(*chosen) {
            field.schema_type = SchemaType::Type(Type::String);
        }
        variant.required.push((*chosen).to_owned());
        one_of.items.push(Schema::Object(variant).into());
    }
    schemas.insert(name.to_owned(), Schema::OneOf(one_of).into());
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
        .filter(|(name, _)| !["Problem", "FieldError"].contains(&name.as_str()))
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
        }
    }
}
