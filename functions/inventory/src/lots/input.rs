//! What a request says about lots (`lot_number`, `expires_on`, `serials`), checked for shape;
//! whether it fits the product is [`crate::lots::stock`]'s to say.

use chrono::NaiveDate;
use shared::error::{FieldError, Fields};
use uuid::Uuid;

/// Most serial numbers one request may name.
pub const MAX_SERIALS: usize = 10_000;

/// The document's schema of a serial number: one line of 1 to 100 characters.
pub struct SerialNumber;

impl utoipa::PartialSchema for SerialNumber {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::SchemaFormat;
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::Custom("line".into())))
            .min_length(Some(1))
            .max_length(Some(100))
            .description(Some("A unit's serial number."))
            .into()
    }
}

impl utoipa::ToSchema for SerialNumber {}

/// The document's schema of a list of serial numbers (`#[schema(value_type = Option<Serials>)]`):
/// 1 to [`MAX_SERIALS`], each once.
pub struct Serials;

impl utoipa::PartialSchema for Serials {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::ArrayBuilder;
        ArrayBuilder::new()
            .items(<SerialNumber as utoipa::PartialSchema>::schema())
            .min_items(Some(1))
            .max_items(Some(MAX_SERIALS))
            .unique_items(true)
            .into()
    }
}

impl utoipa::ToSchema for Serials {}

/// The lot fields of a movement, a receipt line or a reservation, checked.
#[derive(Clone, Debug, Default)]
pub struct LotChoice {
    /// The lot received into, or taken from (then only from it).
    pub lot_number: Option<String>,
    /// A received lot's expiry date (default: the receipt day plus the product's shelf life).
    pub expires_on: Option<NaiveDate>,
    /// One serial number per unit, received or taken.
    pub serials: Option<Vec<String>>,
    /// Where the fields are in the request (`""`, or `lines[2].`).
    pub prefix: String,
}

impl LotChoice {
    /// Checks the fields' shape: a lot number and each serial one line of 1 to 100 characters,
    /// serials unique and at most [`MAX_SERIALS`].
    pub fn check(
        lot_number: Option<String>,
        expires_on: Option<NaiveDate>,
        serials: Option<Vec<String>>,
        prefix: &str,
        fields: &mut Fields,
    ) -> Self {
        let lot_number = fields.new_name(lot_number, &format!("{prefix}lot_number"), 100);
        let serials = serials.map(|serials| {
            let field = format!("{prefix}serials");
            if serials.is_empty() || serials.len() > MAX_SERIALS {
                fields.add(FieldError::new(
                    &field,
                    "out_of_range",
                    format!("give 1 to {MAX_SERIALS} serial numbers"),
                ));
            }
            let mut seen = std::collections::HashSet::new();
            let mut checked = Vec::with_capacity(serials.len());
            for (i, serial) in serials.iter().enumerate() {
                let Some(serial) = fields.name(serial, &format!("{field}[{i}]"), 100) else {
                    continue;
                };
                if !seen.insert(serial.clone()) {
                    fields.add(FieldError::new(
                        format!("{field}[{i}]"),
                        "duplicate",
                        format!("serial {serial} is named twice"),
                    ));
                }
                checked.push(serial);
            }
            checked
        });
        Self {
            lot_number,
            expires_on,
            serials,
            prefix: prefix.to_owned(),
        }
    }

    /// Whether the request named no lot at all.
    pub fn is_empty(&self) -> bool {
        self.lot_number.is_none() && self.expires_on.is_none() && self.serials.is_none()
    }

    /// The field `name` where the request put it.
    pub fn field(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }
}

/// Units of one lot (`None`: an untracked product's units).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Portion {
    #[serde(rename = "lot_id")]
    pub lot: Option<Uuid>,
    /// The lot number, or the unit's serial number.
    #[serde(rename = "lot_number")]
    pub number: Option<String>,
    pub quantity: i32,
}

impl Portion {
    pub fn untracked(quantity: i32) -> Vec<Self> {
        vec![Self {
            lot: None,
            number: None,
            quantity,
        }]
    }
}
