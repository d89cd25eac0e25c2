//! The bodies the supplier routes take, each checked into a value (`TryFrom`, every invalid
//! field in one 422) before anything is read or written.

use serde::{Deserialize, Serialize};
use shared::domain::{self, Patch, non_null};
use shared::error::{ApiError, Fields};
use shared::payment_details::{PaymentDetails, PaymentSummary};

use crate::reach::Reach;
use crate::supplier::Supplier;

fn optional_website(raw: Option<&str>) -> Result<Option<String>, ApiError> {
    let website = domain::optional_text(raw, "website", 500)?;
    if website
        .as_deref()
        .is_some_and(|w| !(w.starts_with("https://") || w.starts_with("http://")))
    {
        return Err(ApiError::invalid_field(
            "website",
            "invalid",
            "must start with https:// or http://",
        ));
    }
    Ok(website)
}

#[derive(Clone, Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSupplier {
    #[schema(format = "line", min_length = 1, max_length = 200)]
    name: String,
    #[schema(schema_with = shared::http::openapi::optional_email_schema)]
    email: Option<String>,
    #[schema(max_length = 50)]
    phone: Option<String>,
    /// `https://...` or `http://...`; blank for none.
    #[schema(
        max_length = 500,
        pattern = r"^[\t-\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*(https?://[^\u0000]*)?$"
    )]
    website: Option<String>,
    #[schema(max_length = 1000)]
    address: Option<String>,
    #[schema(max_length = 5000)]
    notes: Option<String>,
    #[schema(schema_with = shared::payment_details::schema)]
    pub(crate) payment_details: Option<PaymentDetails>,
}

/// A [`CreateSupplier`] checked.
pub struct NewSupplier {
    pub reach: Reach,
    pub website: Option<String>,
    pub address: Option<String>,
    pub notes: Option<String>,
    /// The details with their summary, sealed when written.
    pub payment: Option<(PaymentDetails, PaymentSummary)>,
}

impl TryFrom<CreateSupplier> for NewSupplier {
    type Error = ApiError;

    /// Every invalid field in one 422.
    fn try_from(body: CreateSupplier) -> Result<Self, ApiError> {
        let (reach, mut fields) = Reach::check(&body.name, &body.email, &body.phone);
        let new = Self {
            website: fields
                .check(optional_website(body.website.as_deref()))
                .flatten(),
            address: fields.text(body.address.as_deref(), "address", 1000),
            notes: fields.text(body.notes.as_deref(), "notes", 5000),
            payment: body.payment_details.and_then(|p| p.validate(&mut fields)),
            reach,
        };
        fields.finish(new)
    }
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateSupplier {
    #[schema(value_type = String, format = "line", min_length = 1, max_length = 200)]
    #[serde(default, deserialize_with = "non_null")]
    name: Option<String>,
    #[schema(schema_with = shared::http::openapi::optional_email_schema)]
    #[serde(default)]
    email: Patch<String>,
    #[schema(value_type = Option<String>, max_length = 50)]
    #[serde(default)]
    phone: Patch<String>,
    /// `https://...` or `http://...`; blank or `null` for none.
    #[schema(
        value_type = Option<String>,
        max_length = 500,
        nullable,
        pattern = r"^[\t-\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*(https?://[^\u0000]*)?$"
    )]
    #[serde(default)]
    website: Patch<String>,
    #[schema(value_type = Option<String>, max_length = 1000)]
    #[serde(default)]
    address: Patch<String>,
    #[schema(value_type = Option<String>, max_length = 5000)]
    #[serde(default)]
    notes: Patch<String>,
    /// New details replace the old; `null` removes them.
    #[schema(schema_with = shared::payment_details::schema)]
    #[serde(default)]
    pub(crate) payment_details: Patch<PaymentDetails>,
    #[schema(value_type = bool)]
    #[serde(default, deserialize_with = "non_null")]
    is_active: Option<bool>,
}

/// A change to a supplier, checked (`None`/`Keep`: unchanged).
#[derive(Default)]
pub struct SupplierChange {
    pub name: Option<String>,
    pub email: Patch<String>,
    pub phone: Patch<String>,
    pub website: Patch<String>,
    pub address: Patch<String>,
    pub notes: Patch<String>,
    /// New details with their summary, or `Clear` to remove them: written apart (sealed, and
    /// announced when the account really changes).
    pub payment: Patch<(PaymentDetails, PaymentSummary)>,
    pub is_active: Option<bool>,
}

impl TryFrom<UpdateSupplier> for SupplierChange {
    type Error = ApiError;

    /// Every invalid field in one 422.
    fn try_from(body: UpdateSupplier) -> Result<Self, ApiError> {
        let mut fields = Fields::default();
        let website = body
            .website
            .try_map(|w| optional_website(Some(&w)))
            .map(Patch::flatten);
        let change = Self {
            name: fields.new_name(body.name, "name", 200),
            email: fields.patch_email(body.email, "email"),
            phone: fields.patch_text(body.phone, "phone", 50),
            website: fields.check(website).unwrap_or_default(),
            address: fields.patch_text(body.address, "address", 1000),
            notes: fields.patch_text(body.notes, "notes", 5000),
            payment: body
                .payment_details
                .try_map(|p| p.validate(&mut fields).ok_or(()))
                .unwrap_or_default(),
            is_active: body.is_active,
        };
        fields.finish(change)
    }
}

impl SupplierChange {
    /// The supplier with this change made, but for its payment details (see `payment`).
    pub fn apply(self, mut supplier: Supplier) -> Supplier {
        shared::edit!(self => supplier; name, email, phone, website, address, notes, is_active);
        supplier
    }
}
