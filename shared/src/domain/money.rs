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
        return Err(ApiError::invalid_field(field, "invalid", CURRENCY_RULE));
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

/// A currency code in a request body, checked as the body is read (so one 422 lists an
/// unknown member and a bad code together); declare the member
/// `#[schema(value_type = CurrencyCode)]`. It reads as the code (`&str`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Currency(String);

impl std::ops::Deref for Currency {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl From<Currency> for String {
    fn from(currency: Currency) -> Self {
        currency.0
    }
}

impl serde::Serialize for Currency {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Currency {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        if is_currency(&raw) {
            Ok(Self(raw))
        } else {
            Err(serde::de::Error::custom(CURRENCY_RULE))
        }
    }
}

/// What a currency field must be, as a field error says it.
const CURRENCY_RULE: &str = "must be an ISO 4217 currency code in upper case, such as EUR or USD";
