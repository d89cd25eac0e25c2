//! The document as a typed client reads answers.
//!
//! utoipa leaves an `Option` member out of `required`, which is right for a request (the
//! member may be left out) but wrong for an answer, which always sends it, as `null` when there
//! is nothing: a generated client would type it `T | null | undefined` and every read would
//! need `?? null`. So in the schemas only answers use, every member is `required`, but for the
//! few an answer leaves out (serde's `skip_serializing_if`), which say so with
//! `#[schema(extensions(("x-may-be-absent" = json!(true))))]`; the marker is taken out of the
//! document as it is read.
//!
//! [`Flag`] is a boolean of one value, for the member that tells the shapes of an untagged
//! answer apart (`mfa_required: false` on a session, `true` on a challenge), so a client
//! narrows the union by it.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use utoipa::openapi::schema::{AdditionalProperties, ArrayItems, ObjectBuilder, Schema, Type};
use utoipa::openapi::{OpenApi, RefOr};

/// The extension that marks an answer's member that is sometimes left out.
pub const MAY_BE_ABSENT: &str = "x-may-be-absent";

/// A boolean that is always `B`, typed as that literal (`enum: [B]`); use it with
/// `#[schema(inline)]`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Flag<const B: bool>;

impl<const B: bool> Serialize for Flag<B> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bool(B)
    }
}

impl<const B: bool> utoipa::PartialSchema for Flag<B> {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Boolean)
            .enum_values(Some([B]))
            .into()
    }
}

impl<const B: bool> utoipa::ToSchema for Flag<B> {}

/// Makes every member of the answers' schemas `required` but those marked [`MAY_BE_ABSENT`]:
/// every schema no request uses (responses, the webhooks' bodies, which Stockroom sends, and the
/// components a page of a list has a copy of). Once, on the whole document (it takes the marks
/// out).
pub fn require_sent_members(doc: &mut OpenApi) {
    let Some(components) = doc.components.as_mut() else {
        return;
    };
    let mut asked = BTreeSet::new();
    for item in doc.paths.paths.values_mut() {
        for operation in super::operations::operations_mut(item) {
            for parameter in operation.parameters.iter().flatten() {
                if let RefOr::T(parameter) = parameter
                    && let Some(schema) = &parameter.schema
                {
                    reach(schema, &components.schemas, &mut asked);
                }
            }
            if let Some(RefOr::T(body)) = &operation.request_body {
                for content in body.content.values() {
                    if let RefOr::T(content) = content
                        && let Some(schema) = &content.schema
                    {
                        reach(schema, &components.schemas, &mut asked);
                    }
                }
            }
        }
    }
    for (name, schema) in components.schemas.iter_mut() {
        if !asked.contains(name) {
            require_members(schema);
        }
    }
}

/// Adds the names of the component schemas `schema` refers to, directly or not, to `found`.
fn reach(
    schema: &RefOr<Schema>,
    all: &BTreeMap<String, RefOr<Schema>>,
    found: &mut BTreeSet<String>,
) {
    match schema {
        RefOr::Ref(reference) => {
            let name = reference
                .ref_location
                .trim_start_matches("#/components/schemas/");
            if found.insert(name.to_owned())
                && let Some(target) = all.get(name)
            {
                reach(target, all, found);
            }
        }
        RefOr::T(schema) => each_part(schema, |part| reach(part, all, found)),
    }
}

/// Calls `f` on every schema directly inside `schema`.
fn each_part(schema: &Schema, mut f: impl FnMut(&RefOr<Schema>)) {
    match schema {
        Schema::Object(object) => {
            object.properties.values().for_each(&mut f);
            if let Some(AdditionalProperties::RefOr(extra)) =
                object.additional_properties.as_deref()
            {
                f(extra);
            }
        }
        Schema::Array(array) => {
            if let ArrayItems::RefOrSchema(items) = &array.items {
                f(items);
            }
        }
        Schema::OneOf(one_of) => one_of.items.iter().for_each(f),
        Schema::AllOf(all_of) => all_of.items.iter().for_each(f),
        Schema::AnyOf(any_of) => any_of.items.iter().for_each(f),
        _ => {}
    }
}

/// Requires every member of the objects in `schema` (not through references: each component
/// is done once, as itself) but the marked ones, and takes the marks out.
fn require_members(schema: &mut RefOr<Schema>) {
    let RefOr::T(schema) = schema else { return };
    match schema {
        Schema::Object(object) => {
            for (name, member) in object.properties.iter_mut() {
                if take_mark(member) {
                    object.required.retain(|r| r != name);
                } else if !object.required.contains(name) {
                    object.required.push(name.clone());
                }
                require_members(member);
            }
            if let Some(AdditionalProperties::RefOr(extra)) =
                object.additional_properties.as_deref_mut()
            {
                require_members(extra);
            }
        }
        Schema::Array(array) => {
            if let ArrayItems::RefOrSchema(items) = &mut array.items {
                require_members(items);
            }
        }
        Schema::OneOf(one_of) => one_of.items.iter_mut().for_each(require_members),
        Schema::AllOf(all_of) => all_of.items.iter_mut().for_each(require_members),
        Schema::AnyOf(any_of) => any_of.items.iter_mut().for_each(require_members),
        _ => {}
    }
}

/// Whether `member` is marked [`MAY_BE_ABSENT`]; the mark is removed.
fn take_mark(member: &mut RefOr<Schema>) -> bool {
    let extensions = match member {
        RefOr::T(Schema::Object(object)) => &mut object.extensions,
        RefOr::T(Schema::OneOf(one_of)) => &mut one_of.extensions,
        RefOr::T(Schema::AllOf(all_of)) => &mut all_of.extensions,
        RefOr::T(Schema::AnyOf(any_of)) => &mut any_of.extensions,
        RefOr::T(Schema::Array(array)) => &mut array.extensions,
        _ => return false,
    };
    let Some(map) = extensions.as_mut() else {
        return false;
    };
    let marked = map.remove(MAY_BE_ABSENT).is_some();
    if map.is_empty() {
        *extensions = None;
    }
    marked
}
