//! The document's shape of `POST /api/inventory/movements`: one per kind of movement, so a
//! generated client (and the fuzzer) knows what each kind takes.

use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{Object, ObjectBuilder, OneOf, Schema, Type};

fn int(min: i64, max: i64) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
            utoipa::openapi::KnownFormat::Int32,
        )))
        .minimum(Some(min))
        .maximum(Some(max))
}

/// `base` for `kinds`, with `required` members and `properties` replaced; without `unit_cost`
/// unless `costed` (units going out are worth the average: a cost there is refused).
fn shape(
    base: &Object,
    kinds: &[&str],
    required: &[&str],
    properties: Vec<(&str, RefOr<Schema>)>,
    costed: bool,
) -> RefOr<Schema> {
    let mut object = base.clone();
    object.description = None;
    let kind = ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(kinds.to_vec()));
    object.properties.insert("kind".into(), kind.into());
    for (name, schema) in properties {
        object.properties.insert(name.into(), schema);
    }
    if !costed {
        object.properties.shift_remove("unit_cost");
    }
    object
        .required
        .extend(required.iter().map(|r| (*r).to_owned()));
    Schema::Object(object).into()
}

/// Rewrites `CreateMovement` in `doc` as one shape per kind: `quantity` (at least 1) for
/// receive, sell and transfer, a `to_location_id` for a transfer, a signed non-zero `quantity`
/// for adjust; `unit_cost` only where units come in (a receipt, an adjust up).
pub(crate) fn document_kinds(doc: &mut utoipa::openapi::OpenApi) {
    let schemas = &mut doc.components.get_or_insert_with(Default::default).schemas;
    let Some(RefOr::T(Schema::Object(base))) = schemas.get("CreateMovement").cloned() else {
        panic!("CreateMovement is an object schema");
    };
    let positive = || int(1, i32::MAX.into()).into();
    let uuid = ObjectBuilder::new().schema_type(Type::String).format(Some(
        utoipa::openapi::SchemaFormat::KnownFormat(utoipa::openapi::KnownFormat::Uuid),
    ));
    let mut one_of = OneOf::new();
    one_of.description = base.description.clone();
    one_of.items = vec![
        shape(
            &base,
            &["receive"],
            &["quantity"],
            vec![("quantity", positive())],
            true,
        ),
        shape(
            &base,
            &["sell"],
            &["quantity"],
            vec![("quantity", positive())],
            false,
        ),
        shape(
            &base,
            &["transfer"],
            &["quantity", "to_location_id"],
            vec![("quantity", positive()), ("to_location_id", uuid.into())],
            false,
        ),
        shape(
            &base,
            &["adjust"],
            &["quantity"],
            vec![("quantity", positive())],
            true,
        ),
        shape(
            &base,
            &["adjust"],
            &["quantity"],
            vec![("quantity", int(i32::MIN.into(), -1).into())],
            false,
        ),
    ];
    schemas.insert("CreateMovement".into(), Schema::OneOf(one_of).into());
}
