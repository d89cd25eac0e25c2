//! Query strings: `AppQuery<T>`, an extractor whose rejections are 422 problems naming the
//! parameter, and the layer that refuses parameters an operation does not document.
//!
//! An empty value (`cursor=`, what `URLSearchParams` builds from an empty variable) means the
//! parameter is absent.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use axum::extract::{FromRequestParts, MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::Method;
use http::request::Parts;
use serde::de::DeserializeOwned;
use utoipa::openapi::path::ParameterIn;
use utoipa::openapi::{OpenApi, RefOr};

use crate::error::{ApiError, FieldError};

#[derive(Debug, Clone, Copy, Default)]
pub struct AppQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for AppQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        // PostgreSQL text cannot hold NUL: refuse it here rather than fail in a query.
        if let Some((key, _)) = form_urlencoded::parse(query.as_bytes())
            .find(|(k, v)| k.contains('\0') || v.contains('\0'))
        {
            return Err(ApiError::invalid_field(
                key.into_owned(),
                "nul_character",
                "must not contain NUL (%00) characters",
            ));
        }
        let present = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(merge_repeated_ids(query))
            .finish();
        let deserializer =
            serde_urlencoded::Deserializer::new(form_urlencoded::parse(present.as_bytes()));
        serde_path_to_error::deserialize(deserializer)
            .map(AppQuery)
            .map_err(|error| {
                let field = error.path().to_string();
                let raw = error.into_inner().to_string();
                // A parameter sent twice that takes one value: the error names it.
                if let Some(name) = raw
                    .strip_prefix("duplicate field `")
                    .and_then(|rest| rest.split('`').next())
                {
                    return ApiError::invalid_field(name, "repeated", "must be sent once");
                }
                let field = if field == "." {
                    "query".to_owned()
                } else {
                    field
                };
                ApiError::Validation {
                    errors: vec![FieldError::new(
                        field,
                        "invalid",
                        super::json::plain_message(&raw),
                    )],
                }
            })
    }
}

/// The non-empty parameters of `query`, where a parameter of ids that repeats
/// (`product_id=a&product_id=b`, as a generated client sends an array) becomes one list
/// (`product_id=a,b`) for [`Ids`]; anything else that repeats stays repeated (and is refused).
fn merge_repeated_ids(query: &str) -> Vec<(String, String)> {
    let is_ids = |v: &str| {
        v.split(',')
            .all(|id| uuid::Uuid::parse_str(id.trim()).is_ok())
    };
    let mut pairs: Vec<(String, String)> = Vec::new();
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        if value.is_empty() {
            continue;
        }
        match pairs.iter_mut().find(|(k, _)| *k == key) {
            // (Merged whenever the first is ids, so a bad one is refused naming the parameter.)
            Some((_, first)) if is_ids(first) => {
                first.push(',');
                first.push_str(&value);
            }
            _ => pairs.push((key.into_owned(), value.into_owned())),
        }
    }
    pairs
}

/// The ids a list filter takes: `product_id=a,b`, or the parameter repeated; at most
/// [`Ids::MAX`]. Declare the parameter `#[param(value_type = Option<Vec<Uuid>>)]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ids(pub Vec<uuid::Uuid>);

impl Ids {
    pub const MAX: usize = 100;

    /// An optional filter as SQL reads it: `NULL` (no filter) or the ids (`= ANY($n)`).
    pub fn sql(filter: &Option<Self>) -> Option<&[uuid::Uuid]> {
        filter.as_ref().map(|ids| ids.0.as_slice())
    }
}

impl<'de> serde::Deserialize<'de> for Ids {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let raw = String::deserialize(deserializer)?;
        let ids = raw
            .split(',')
            .map(|id| uuid::Uuid::parse_str(id.trim()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| D::Error::custom("must be UUIDs, repeated or separated by commas"))?;
        if ids.len() > Self::MAX {
            return Err(D::Error::custom(format!(
                "at most {} ids at once",
                Self::MAX
            )));
        }
        Ok(Self(ids))
    }
}

/// The query parameters each operation documents, by method and route template; built from the
/// function's OpenAPI document on the first request that carries a query string.
#[derive(Clone)]
pub(crate) struct KnownParameters {
    document: fn() -> OpenApi,
    table: Arc<OnceLock<ParameterTable>>,
}

/// Query parameter names by method and route template.
type ParameterTable = HashMap<(Method, String), Vec<String>>;

impl KnownParameters {
    pub(crate) fn new(document: fn() -> OpenApi) -> Self {
        Self {
            document,
            table: Arc::default(),
        }
    }

    fn table(&self) -> &ParameterTable {
        self.table.get_or_init(|| {
            let mut table = HashMap::new();
            for (path, item) in (self.document)().paths.paths {
                let operations = [
                    (Method::GET, item.get),
                    (Method::PUT, item.put),
                    (Method::POST, item.post),
                    (Method::DELETE, item.delete),
                    (Method::PATCH, item.patch),
                ];
                for (method, operation) in operations {
                    let Some(operation) = operation else { continue };
                    let names = operation
                        .parameters
                        .into_iter()
                        .flatten()
                        .filter_map(|p| match p {
                            RefOr::T(p) if matches!(p.parameter_in, ParameterIn::Query) => {
                                Some(p.name)
                            }
                            _ => None,
                        })
                        .collect();
                    table.insert((method, path.clone()), names);
                }
            }
            table
        })
    }
}

/// Refuses, with one 422 naming each of them, query parameters the matched operation does not
/// document (as Stripe does), so a misspelled filter never returns unfiltered data. Unrouted
/// requests pass on to the 404 fallback.
pub(crate) async fn refuse_unknown_parameters(
    State(known): State<KnownParameters>,
    request: Request,
    next: Next,
) -> Response {
    let (Some(query), Some(route)) = (
        request.uri().query().filter(|q| !q.is_empty()),
        request.extensions().get::<MatchedPath>(),
    ) else {
        return next.run(request).await;
    };
    let method = match request.method() {
        &Method::HEAD => Method::GET,
        other => other.clone(),
    };
    let documented = known.table().get(&(method, route.as_str().to_owned()));
    let mut errors: Vec<FieldError> = Vec::new();
    for (name, _) in form_urlencoded::parse(query.as_bytes()) {
        let known = documented.is_some_and(|names| names.iter().any(|n| *n == name));
        if !known && !errors.iter().any(|e| e.field == name) {
            let message = match documented {
                Some(names) if !names.is_empty() => {
                    format!(
                        "unknown query parameter; this operation takes {}",
                        names.join(", ")
                    )
                }
                _ => "unknown query parameter; this operation takes none".to_owned(),
            };
            errors.push(FieldError::new(name, "unknown_parameter", message));
        }
    }
    if errors.is_empty() {
        next.run(request).await
    } else {
        ApiError::Validation { errors }.into_response()
    }
}

/// The `{id}` of a route as a UUID; anything else is a 404 (no such resource), not a 400.
#[derive(Debug, Clone, Copy)]
pub struct PathId(pub uuid::Uuid);

impl<S: Send + Sync> FromRequestParts<S> for PathId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Path(id) =
            axum::extract::Path::<uuid::Uuid>::from_request_parts(parts, state)
                .await
                .map_err(|_| ApiError::not_found("resource"))?;
        Ok(Self(id))
    }
}

/// Two ids of a nested route (`/api/suppliers/{id}/contacts/{contact_id}`); anything that is
/// not a UUID is a 404.
#[derive(Debug, Clone, Copy)]
pub struct PathIds(pub uuid::Uuid, pub uuid::Uuid);

impl<S: Send + Sync> FromRequestParts<S> for PathIds {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Path((a, b)) =
            axum::extract::Path::<(uuid::Uuid, uuid::Uuid)>::from_request_parts(parts, state)
                .await
                .map_err(|_| ApiError::not_found("resource"))?;
        Ok(Self(a, b))
    }
}
