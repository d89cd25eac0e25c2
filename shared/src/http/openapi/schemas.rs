//! The text rules every input shares, and hand-written schemas for what utoipa cannot derive.

use utoipa::openapi::schema::{KnownFormat, Schema, SchemaFormat, SchemaType, Type};
use utoipa::openapi::{OpenApi, RefOr};

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

/// The schema of a record as JSON whose members depend on its kind (an audit entry's `before`
/// and `after`, an event's `object`), `null` where there is none (`schema_with`).
pub fn record_schema() -> Schema {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Object, Type::Null]))
        .additional_properties(Some(
            utoipa::openapi::schema::AdditionalProperties::FreeForm(true),
        ))
        .into()
}

/// The schema of a text that is one of `values` (`schema_with` on a member of fixed values
/// whose Rust type is plain text).
pub fn text_enum(values: &[&str]) -> utoipa::openapi::schema::Object {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(values.iter().copied()))
        .build()
}

/// [`text_enum`] or `null`.
pub fn optional_text_enum(values: &[&str]) -> utoipa::openapi::schema::Object {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .enum_values(Some(
            values
                .iter()
                .map(|v| serde_json::Value::from(*v))
                .chain([serde_json::Value::Null]),
        ))
        .build()
}

/// The schema of a file download (`type: string, format: binary`), for `content(...)` of a
/// response: a generated client reads it as a blob, not as JSON.
pub struct Binary;

impl utoipa::PartialSchema for Binary {
    fn schema() -> RefOr<Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)))
            .into()
    }
}

impl utoipa::ToSchema for Binary {}

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
