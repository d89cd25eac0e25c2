//! What a request says about lots (`lot_number`, `expires_on`, `serials`), checked for shape;
//! whether it fits the product is [`crate::lots::stock`]'s to say.

use chrono::NaiveDate;
use shared::error::{FieldError, Fields};

/// Most serial numbers one request may name.
pub const MAX_SERIALS: usize = 10_000;

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
