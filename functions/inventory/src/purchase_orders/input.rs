//! The bodies the purchase-order routes take, and each checked into a value (`TryFrom`, every
//! invalid field in one 422) before anything is read or written.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use shared::domain::{self, Patch};
use shared::error::{ApiError, FieldError, Fields};
use uuid::Uuid;

use super::order::PurchaseOrder;
use crate::lots::input::LotChoice;

#[derive(Clone, Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LineInput {
    pub(crate) product_id: Uuid,
    #[schema(minimum = 1)]
    pub(crate) quantity: i32,
    #[schema(value_type = String, pattern = r"^\d{1,12}(\.\d{1,2})?$")]
    #[serde(with = "domain::money_text")]
    pub(crate) unit_cost: Decimal,
}

/// An order has at least one line, each of a positive quantity.
fn check_lines(lines: &[LineInput], fields: &mut Fields) {
    if lines.is_empty() {
        fields.add(FieldError::new(
            "lines",
            "required",
            "a purchase order needs at least one line",
        ));
    }
    check_quantities(lines.iter().map(|l| l.quantity), fields);
}

/// Every quantity is more than zero (`lines[i].quantity`).
fn check_quantities(quantities: impl Iterator<Item = i32>, fields: &mut Fields) {
    for (i, quantity) in quantities.enumerate() {
        if quantity <= 0 {
            fields.add(FieldError::new(
                format!("lines[{i}].quantity"),
                "not_positive",
                "must be more than zero",
            ));
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePurchaseOrder {
    supplier_id: Uuid,
    /// ISO 4217 code; the organization's default currency when absent.
    #[schema(value_type = Option<shared::domain::CurrencyCode>)]
    currency: Option<shared::domain::Currency>,
    #[schema(max_length = 5000)]
    notes: Option<String>,
    #[schema(min_items = 1)]
    lines: Vec<LineInput>,
}

/// A [`CreatePurchaseOrder`] checked.
pub struct NewPurchaseOrder {
    pub supplier_id: Uuid,
    /// `None`: the organization's default currency, read in the INSERT.
    pub currency: Option<String>,
    pub notes: Option<String>,
    pub lines: Vec<LineInput>,
}

impl TryFrom<CreatePurchaseOrder> for NewPurchaseOrder {
    type Error = ApiError;

    /// Every invalid field in one 422.
    fn try_from(body: CreatePurchaseOrder) -> Result<Self, ApiError> {
        let mut fields = Fields::default();
        let currency = body.currency.map(String::from);
        let notes = fields.check(domain::optional_text(body.notes.as_deref(), "notes", 5000));
        check_lines(&body.lines, &mut fields);
        fields.finish(())?;
        Ok(Self {
            supplier_id: body.supplier_id,
            currency,
            notes: notes.flatten(),
            lines: body.lines,
        })
    }
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdatePurchaseOrder {
    #[schema(value_type = Uuid)]
    #[serde(default, deserialize_with = "domain::non_null")]
    supplier_id: Option<Uuid>,
    #[schema(value_type = shared::domain::CurrencyCode)]
    #[serde(default, deserialize_with = "domain::non_null")]
    currency: Option<shared::domain::Currency>,
    #[schema(value_type = Option<String>, max_length = 5000)]
    #[serde(default)]
    notes: Patch<String>,
    /// Replaces every line.
    #[schema(value_type = Vec<LineInput>, min_items = 1)]
    #[serde(default, deserialize_with = "domain::non_null")]
    lines: Option<Vec<LineInput>>,
}

/// An [`UpdatePurchaseOrder`] checked (`None`/`Keep`: unchanged).
pub struct PurchaseOrderChange {
    pub supplier_id: Option<Uuid>,
    currency: Option<String>,
    notes: Patch<String>,
    /// New lines, written apart (they replace every line).
    pub lines: Option<Vec<LineInput>>,
}

impl TryFrom<UpdatePurchaseOrder> for PurchaseOrderChange {
    type Error = ApiError;

    /// Every invalid field in one 422.
    fn try_from(body: UpdatePurchaseOrder) -> Result<Self, ApiError> {
        let mut fields = Fields::default();
        let change = Self {
            supplier_id: body.supplier_id,
            currency: body.currency.map(String::from),
            notes: fields.patch_text(body.notes, "notes", 5000),
            lines: body.lines.inspect(|lines| check_lines(lines, &mut fields)),
        };
        fields.finish(change)
    }
}

impl PurchaseOrderChange {
    /// The order with this change made to its own columns (its lines, supplier name and total
    /// are read again once written).
    pub fn apply(self, mut po: PurchaseOrder) -> PurchaseOrder {
        shared::edit!(self => po; supplier_id, currency, notes);
        po
    }
}

#[derive(Clone, Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReceiveLine {
    pub(crate) line_id: Uuid,
    #[schema(minimum = 1)]
    pub(crate) quantity: i32,
    /// A lot-tracked product's lot number (required for one).
    #[schema(format = "line", min_length = 1, max_length = 100)]
    pub(crate) lot_number: Option<String>,
    /// The lot's expiry date (default: today plus the product's shelf life).
    pub(crate) expires_on: Option<chrono::NaiveDate>,
    /// A serial-tracked product's serial numbers, one per unit (required for one).
    #[schema(value_type = Option<crate::lots::input::Serials>)]
    pub(crate) serials: Option<Vec<String>>,
}

#[derive(Clone, Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Receive {
    /// Where the goods go; the default location when absent.
    location_id: Option<Uuid>,
    #[schema(min_items = 1)]
    lines: Vec<ReceiveLine>,
}

/// A [`Receive`] checked: which lines arrived, how many of each, and where they go.
pub struct NewReceipt {
    pub location_id: Option<Uuid>,
    pub lines: Vec<ReceiveLine>,
    /// Each line's lot fields, checked (in the order of `lines`).
    pub lots: Vec<LotChoice>,
}

impl TryFrom<Receive> for NewReceipt {
    type Error = ApiError;

    /// Every invalid field in one 422.
    fn try_from(body: Receive) -> Result<Self, ApiError> {
        let mut fields = Fields::default();
        if body.lines.is_empty() {
            fields.add(FieldError::new(
                "lines",
                "required",
                "say which lines arrived",
            ));
        }
        check_quantities(body.lines.iter().map(|l| l.quantity), &mut fields);
        let lots = body
            .lines
            .iter()
            .enumerate()
            .map(|(i, l)| {
                LotChoice::check(
                    l.lot_number.clone(),
                    l.expires_on,
                    l.serials.clone(),
                    &format!("lines[{i}]."),
                    &mut fields,
                )
            })
            .collect();
        fields.finish(Self {
            location_id: body.location_id,
            lines: body.lines,
            lots,
        })
    }
}
