//! Money in request bodies: exact decimal strings and ISO 4217 currencies.

use crate::error::ApiError;

/// Whether `code` is an ISO 4217 code of money (not a fund, a precious metal or a testing code
/// such as `XXX`), in upper case as the standard writes it.
fn is_currency(code: &str) -> bool {
    iso_currency::Currency::from_code(code).is_some_and(|c| !(c.is_fund() || c.is_special()))
}

/// An ISO 4217 currency code such as `EUR`: exactly what [`CurrencyCode`]'s schema lists.
pub fn currency(raw: &str, field: &str) -> Result<String, ApiError> {
    if !is_currency(raw) {
        return Err(ApiError::invalid_field(
            field,
            "invalid",
            "must be an ISO 4217 currency code in upper case, such as EUR or USD",
        ));
    }
    Ok(raw.to_owned())
}

/// The document's schema of a currency field (`#[schema(value_type = CurrencyCode)]`): one
/// component listing every code [`currency`] accepts.
pub struct CurrencyCode;

impl utoipa::PartialSchema for CurrencyCode {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use iso_currency::IntoEnumIterator;
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        let codes: Vec<&str> = iso_currency::Currency::iter()
            .map(|c| c.code())
            .filter(|code| is_currency(code))
            .collect();
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(codes))
            .description(Some("An ISO 4217 currency code, upper case."))
            .into()
    }
}

impl utoipa::ToSchema for CurrencyCode {}
