//! The catalogue in the OpenAPI document: one `webhooks` entry per event type (OpenAPI 3.1),
//! each a POST of the [`super::Event`] with its `type` fixed and its `data.object` typed.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use utoipa::openapi::path::{
    HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn, PathItemBuilder,
};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{AllOfBuilder, ObjectBuilder, Type};
use utoipa::openapi::{
    ContentBuilder, OpenApi, PathsBuilder, Ref, Required, ResponseBuilder, ResponsesBuilder,
};
use uuid::Uuid;

use super::catalogue::TYPES;
use crate::domain::MovementKind;

/// The object of `stock.changed`: one line of the stock ledger and the level it left.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StockChange {
    pub movement_id: i64,
    pub product_id: Uuid,
    pub location_id: Uuid,
    pub kind: MovementKind,
    /// The signed change of on hand.
    pub quantity: i32,
    pub reason: String,
    pub transfer_id: Option<Uuid>,
    pub reservation_id: Option<Uuid>,
    /// The lot or serial number moved (null for a product not tracked by lot or serial).
    pub lot: Option<StockChangeLot>,
    /// The product's level at the location after the change.
    pub on_hand: i32,
    pub reserved: i32,
    pub available: i32,
    pub created_at: DateTime<Utc>,
}

/// The lot of a `stock.changed`, and what it has left at the location.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StockChangeLot {
    pub id: Uuid,
    /// The lot number, or the unit's serial number.
    pub number: String,
    pub expires_on: Option<NaiveDate>,
    pub on_hand: i32,
}

/// The object of `lot.expiring`: a lot with units on hand that expires within a week (or has
/// expired), announced once.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LotExpiring {
    pub lot_id: Uuid,
    pub number: String,
    pub expires_on: NaiveDate,
    pub product_id: Uuid,
    pub sku: String,
    pub name: String,
    /// Units on hand, all locations.
    pub on_hand: i64,
    pub expired: bool,
}

/// The object of `stock.low`: the product, and its stock at all locations.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StockLow {
    pub product_id: Uuid,
    pub sku: String,
    pub name: String,
    pub reorder_point: i32,
    pub on_hand: i64,
    pub available: i64,
    pub supplier_id: Option<Uuid>,
}

fn reference(name: &str) -> Ref {
    Ref::from_schema_name(name)
}

/// Adds the `webhooks` of every event type to `doc` (whose components hold `Event` and each
/// type's object schema).
pub fn add_webhooks(doc: &mut OpenApi) {
    let mut webhooks = PathsBuilder::new();
    for event in TYPES {
        let mut object = AllOfBuilder::new().item(reference(event.object));
        if event.name.starts_with("payment.") {
            object = object.item(
                ObjectBuilder::new()
                    .property(
                        "purchase_order_id",
                        ObjectBuilder::new().schema_type(Type::String).format(Some(
                            utoipa::openapi::SchemaFormat::KnownFormat(
                                utoipa::openapi::KnownFormat::Uuid,
                            ),
                        )),
                    )
                    .required("purchase_order_id"),
            );
        }
        let typed = ObjectBuilder::new()
            .property(
                "type",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some([event.name])),
            )
            .property("data", ObjectBuilder::new().property("object", object));
        let body = utoipa::openapi::schema::Schema::AllOf(
            AllOfBuilder::new()
                .item(reference("Event"))
                .item(typed)
                .build(),
        );
        let signature = ParameterBuilder::new()
            .name("Stockroom-Signature")
            .parameter_in(ParameterIn::Header)
            .required(Required::True)
            .description(Some(
                "`t=<unix seconds>,v1=<hex HMAC-SHA256 of \"<t>.<body>\" keyed with the endpoint's \
                 secret>` (a second `v1` during a secret rotation). Refuse a `t` more than 5 \
                 minutes away.",
            ))
            .schema(Some(ObjectBuilder::new().schema_type(Type::String)));
        let event_id = ParameterBuilder::new()
            .name("Stockroom-Event-Id")
            .parameter_in(ParameterIn::Header)
            .required(Required::True)
            .description(Some(
                "The event's id: the same on every attempt, so a receiver can skip repeats.",
            ))
            .schema(Some(ObjectBuilder::new().schema_type(Type::String)));
        let operation = OperationBuilder::new()
            .operation_id(Some(event.name.replace('.', "_")))
            .summary(Some(event.about))
            .tag("events")
            .parameter(signature)
            .parameter(event_id)
            .request_body(Some(
                RequestBodyBuilder::new()
                    .content("application/json", ContentBuilder::new().schema(Some(body)).build())
                    .required(Some(Required::True))
                    .build(),
            ))
            .responses(
                ResponsesBuilder::new()
                    .response(
                        "2XX",
                        ResponseBuilder::new()
                            .description("Received; anything else is retried for 3 days (410 disables the endpoint)"),
                    )
                    .build(),
            );
        webhooks = webhooks.path(
            event.name,
            PathItemBuilder::new()
                .operation(HttpMethod::Post, operation)
                .build(),
        );
    }
    doc.webhooks = Some(webhooks.build());
}
