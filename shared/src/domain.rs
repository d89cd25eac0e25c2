//! Input types parsed at the edge: past a handler's first lines, invalid values cannot exist.

use serde::Serialize;

use crate::error::ApiError;

pub mod states;

pub use states::{MovementKind, PoStatus, ReservationStatus, TaskStatus};

/// A syntactically valid email address, trimmed and lower-cased (addresses are compared
/// case-insensitively everywhere).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str, field: &str) -> Result<Self, ApiError> {
        let email = raw.trim().to_lowercase();
        if email.len() > 254 || !email_address::EmailAddress::is_valid(&email) {
            return Err(ApiError::invalid_field(
                field,
                "invalid",
                "must be a valid email address",
            ));
        }
        Ok(Self(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An optional email address: empty becomes `None`, anything else must be valid.
pub fn optional_email(raw: Option<&str>, field: &str) -> Result<Option<String>, ApiError> {
    match raw.map(str::trim).filter(|e| !e.is_empty()) {
        None => Ok(None),
        Some(email) => Email::parse(email, field).map(|e| Some(e.0)),
    }
}

/// A display name (`format = "line"` in the schema): at most `max` characters, something
/// visible in it, no control characters anywhere; stored trimmed.
pub fn name(raw: &str, field: &str, max: usize) -> Result<String, ApiError> {
    if raw.chars().any(char::is_control) {
        return Err(ApiError::invalid_field(
            field,
            "invalid",
            "must be one line without control characters",
        ));
    }
    let name = raw.trim();
    if name.is_empty() {
        return Err(ApiError::invalid_field(
            field,
            "required",
            "must not be empty",
        ));
    }
    if raw.chars().count() > max {
        return Err(ApiError::invalid_field(
            field,
            "too_long",
            format!("must be at most {max} characters"),
        ));
    }
    Ok(name.to_owned())
}

/// Money in request bodies: a decimal string that matches [`money_text::PATTERN`] exactly
/// (`"12.50"`, `"3"`), never a JSON number (float rounding) nor what a lenient decimal parser
/// would take (`"1e3"`, `"+5"`, `".5"`, `"5."`, `"1_000"`: a typo must not become an amount).
/// Use with `#[serde(with = "money_text")]`, `money_text::option` (null or absent is `None`),
/// `money_text::present` (absent is `None`, null is refused) or `money_text::nullable`
/// (absent `None`, null `Some(None)`).
pub mod money_text {
    use rust_decimal::Decimal;
    use serde::de::{Error, Unexpected};
    use serde::{Deserializer, Serializer};

    /// The document's pattern for money, which [`parse`] implements.
    pub const PATTERN: &str = r"^\d{1,12}(\.\d{1,2})?$";
    const EXPECTED: &str =
        "a decimal string such as \"12.50\" (up to 12 digits, at most 2 decimals)";

    /// The amount `text` spells, if it matches [`PATTERN`].
    pub fn parse(text: &str) -> Option<Decimal> {
        let (whole, fraction) = match text.split_once('.') {
            Some((whole, fraction)) => (whole, Some(fraction)),
            None => (text, None),
        };
        let digits = |part: &str, max: usize| {
            (1..=max).contains(&part.len()) && part.bytes().all(|b| b.is_ascii_digit())
        };
        if !digits(whole, 12) || !fraction.is_none_or(|f| digits(f, 2)) {
            return None;
        }
        Decimal::from_str_exact(text).ok()
    }

    fn from_text<E: Error>(text: &str) -> Result<Decimal, E> {
        parse(text).ok_or_else(|| E::invalid_value(Unexpected::Str(text), &EXPECTED))
    }

    pub fn serialize<S: Serializer>(value: &Decimal, serializer: S) -> Result<S::Ok, S::Error> {
        rust_decimal::serde::str::serialize(value, serializer)
    }

    /// Reads a money string; anything else (a JSON number included) is refused as "expected a
    /// decimal string such as ...", so the message says what to send.
    struct MoneyVisitor;

    impl serde::de::Visitor<'_> for MoneyVisitor {
        type Value = Decimal;

        fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
            formatter.write_str(EXPECTED)
        }

        fn visit_str<E: Error>(self, text: &str) -> Result<Decimal, E> {
            from_text(text)
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Decimal, D::Error> {
        deserializer.deserialize_str(MoneyVisitor)
    }

    /// Absent: `None`; `null` is refused (a field that cannot be cleared).
    pub fn present<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Decimal>, D::Error> {
        deserialize(deserializer).map(Some)
    }

    /// Absent: `None`; `null`: `Some(None)` (cleared); else the amount.
    pub fn nullable<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Option<Decimal>>, D::Error> {
        option::deserialize(deserializer).map(Some)
    }

    /// An optional amount: `null` or absent is `None`.
    pub mod option {
        use super::*;

        pub fn serialize<S: Serializer>(
            value: &Option<Decimal>,
            serializer: S,
        ) -> Result<S::Ok, S::Error> {
            rust_decimal::serde::str_option::serialize(value, serializer)
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(
            deserializer: D,
        ) -> Result<Option<Decimal>, D::Error> {
            struct Optional;
            impl<'de> serde::de::Visitor<'de> for Optional {
                type Value = Option<Decimal>;
                fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
                    formatter.write_str(EXPECTED)
                }
                fn visit_none<E: Error>(self) -> Result<Self::Value, E> {
                    Ok(None)
                }
                fn visit_unit<E: Error>(self) -> Result<Self::Value, E> {
                    Ok(None)
                }
                fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
                    super::deserialize(d).map(Some)
                }
            }
            deserializer.deserialize_option(Optional)
        }
    }
}

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

/// Optional free text: at most `max` characters as sent, stored trimmed; blank becomes `None`.
pub fn optional_text(
    raw: Option<&str>,
    field: &str,
    max: usize,
) -> Result<Option<String>, ApiError> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    if raw.chars().count() > max {
        return Err(ApiError::invalid_field(
            field,
            "too_long",
            format!("must be at most {max} characters"),
        ));
    }
    let text = raw.trim();
    Ok((!text.is_empty()).then(|| text.to_owned()))
}

/// For PATCH bodies, on a field that cannot be cleared (`#[serde(default, deserialize_with =
/// "non_null")]`): absent is `None`, and an explicit `null` is a 422 naming the field rather
/// than silently meaning "unchanged".
pub fn non_null<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

/// For PATCH bodies: tells an absent field (`None`) from an explicit `null` (`Some(None)`).
pub fn double_option<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    <Option<T> as serde::Deserialize>::deserialize(deserializer).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_text_is_exactly_the_documented_pattern() {
        for good in ["0", "12.50", "3.5", "999999999999.99", "007"] {
            assert!(money_text::parse(good).is_some(), "{good}");
        }
        assert_eq!(money_text::parse("12.5").unwrap().to_string(), "12.5");
        for bad in [
            "",
            "1e3",
            "+5",
            "-5",
            "5.",
            ".5",
            "1_000",
            "1_00",
            " 5",
            "5 ",
            "1.005",
            "1,5",
            "1000000000000",
            "٣",
            "NaN",
        ] {
            assert!(money_text::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn currencies_are_iso_4217_codes_of_money() {
        assert_eq!(currency("EUR", "currency").unwrap(), "EUR");
        assert!(currency("eur", "currency").is_err());
        assert!(currency(" EUR", "currency").is_err());
        for not_money in ["ZZZ", "XXX", "XAU", "XTS", "BOV"] {
            assert!(currency(not_money, "currency").is_err(), "{not_money}");
        }
        assert!(currency("EURO", "currency").is_err());
        assert!(currency("E1R", "currency").is_err());
    }

    #[test]
    fn emails_are_normalised() {
        assert_eq!(
            Email::parse("  Ann@Example.COM ", "email")
                .unwrap()
                .as_str(),
            "ann@example.com"
        );
    }

    #[test]
    fn invalid_emails_are_rejected() {
        for bad in ["", "ann", "ann@", "@example.com", "a b@example.com"] {
            assert!(Email::parse(bad, "email").is_err(), "{bad}");
        }
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(name("  Ann  ", "name", 200).unwrap(), "Ann");
        assert!(name("   ", "name", 200).is_err());
        assert!(name(&"x".repeat(201), "name", 200).is_err());
        assert!(name("a\u{0}b", "name", 200).is_err());
        assert!(
            name("\tAnn", "name", 200).is_err(),
            "control characters anywhere"
        );
        assert!(
            name(&format!(" {} ", "x".repeat(199)), "name", 200).is_err(),
            "counted as sent"
        );
    }
}
