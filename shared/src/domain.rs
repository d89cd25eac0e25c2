//! Input types parsed at the edge: past a handler's first lines, invalid values cannot exist.

use serde::Serialize;

use crate::error::ApiError;

pub mod ids;
pub mod states;

pub use ids::{OrgId, SessionId, UserId};
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
/// `money_text::present` (absent is `None`, null is refused) or `money_text::patch` (a
/// [`Patch`]: absent `Keep`, null `Clear`).
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

    /// For a [`Patch`](super::Patch) field (with `default`): `null` clears, else the amount.
    pub fn patch<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<super::Patch<Decimal>, D::Error> {
        option::deserialize(deserializer).map(super::Patch::from)
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

/// A PATCH body's field that can be cleared: absent ([`Patch::Keep`]), `null`
/// ([`Patch::Clear`]) or a value ([`Patch::Set`]).
///
/// In a request struct, declare it `#[serde(default)]` (absent is `Keep`: without it serde
/// would read an absent field as `null`) and `#[schema(value_type = Option<T>, ...)]`, so the
/// document shows the nullable `T` with the field's constraints, as an `Option<T>` field would
/// (utoipa's derive tells `Option` by its name only: a bare `Patch<T>` field would be documented
/// as a reference, without its constraints). A field that cannot be cleared stays an
/// `Option<T>` with [`non_null`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Patch<T> {
    /// Absent: the column keeps its value.
    Keep,
    /// `null`: the column becomes NULL.
    Clear,
    /// A value: the column becomes it.
    Set(T),
}

/// `Keep` (whatever `T` is: no `T: Default` bound, unlike a derived `Default`).
impl<T> Default for Patch<T> {
    fn default() -> Self {
        Self::Keep
    }
}

impl<T> Patch<T> {
    /// The column's value once patched.
    pub fn apply(self, current: Option<T>) -> Option<T> {
        match self {
            Self::Keep => current,
            Self::Clear => None,
            Self::Set(value) => Some(value),
        }
    }

    /// Whether the field was absent.
    pub fn is_keep(&self) -> bool {
        matches!(self, Self::Keep)
    }

    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Patch<U> {
        match self {
            Self::Keep => Patch::Keep,
            Self::Clear => Patch::Clear,
            Self::Set(value) => Patch::Set(f(value)),
        }
    }

    /// Checks (or normalises) a value sent; `Keep` and `Clear` pass as they are.
    pub fn try_map<U, E>(self, f: impl FnOnce(T) -> Result<U, E>) -> Result<Patch<U>, E> {
        Ok(match self {
            Self::Keep => Patch::Keep,
            Self::Clear => Patch::Clear,
            Self::Set(value) => Patch::Set(f(value)?),
        })
    }
}

impl<T> Patch<Option<T>> {
    /// A value that normalises to none (blank text) clears, as `null` does.
    pub fn flatten(self) -> Patch<T> {
        match self {
            Self::Keep => Patch::Keep,
            Self::Clear | Self::Set(None) => Patch::Clear,
            Self::Set(Some(value)) => Patch::Set(value),
        }
    }
}

/// `null` is `Clear`, anything else `Set` (absence is the field's `#[serde(default)]`).
impl<T> From<Option<T>> for Patch<T> {
    fn from(value: Option<T>) -> Self {
        value.map_or(Self::Clear, Self::Set)
    }
}

impl<'de, T: serde::Deserialize<'de>> serde::Deserialize<'de> for Patch<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Option::<T>::deserialize(deserializer).map(Self::from)
    }
}

/// The nullable `T` (what `Option<T>` documents).
impl<T> utoipa::PartialSchema for Patch<T>
where
    Option<T>: utoipa::PartialSchema,
{
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        <Option<T> as utoipa::PartialSchema>::schema()
    }
}

impl<T: utoipa::ToSchema> utoipa::ToSchema for Patch<T>
where
    Option<T>: utoipa::PartialSchema,
{
    fn schemas(
        schemas: &mut Vec<(
            String,
            utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
        )>,
    ) {
        T::schemas(schemas);
    }
}

/// A nullable free-text field of a PATCH body, checked as [`optional_text`]: blank clears.
pub fn patch_text(
    patch: Patch<String>,
    field: &str,
    max: usize,
) -> Result<Patch<String>, ApiError> {
    patch
        .try_map(|raw| optional_text(Some(&raw), field, max))
        .map(Patch::flatten)
}

/// A nullable email field of a PATCH body, checked as [`optional_email`]: blank clears.
pub fn patch_email(patch: Patch<String>, field: &str) -> Result<Patch<String>, ApiError> {
    patch
        .try_map(|raw| optional_email(Some(&raw), field))
        .map(Patch::flatten)
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
    fn patches_tell_absent_from_null_from_a_value() {
        #[derive(serde::Deserialize)]
        struct Body {
            #[serde(default)]
            notes: Patch<String>,
            #[serde(default, deserialize_with = "money_text::patch")]
            cost: Patch<rust_decimal::Decimal>,
        }
        let read = |json: &str| serde_json::from_str::<Body>(json).unwrap();
        assert_eq!(read("{}").notes, Patch::Keep);
        assert_eq!(read(r#"{"notes": null}"#).notes, Patch::Clear);
        assert_eq!(read(r#"{"notes": "x"}"#).notes, Patch::Set("x".to_owned()));
        assert_eq!(read("{}").cost, Patch::Keep);
        assert_eq!(read(r#"{"cost": null}"#).cost, Patch::Clear);
        assert_eq!(
            read(r#"{"cost": "1.50"}"#)
                .cost
                .apply(None)
                .unwrap()
                .to_string(),
            "1.50"
        );
        assert!(serde_json::from_str::<Body>(r#"{"cost": 1.5}"#).is_err());

        let now = Some("old");
        assert_eq!(Patch::Keep.apply(now), Some("old"));
        assert_eq!(Patch::Clear.apply(now), None);
        assert_eq!(Patch::Set("new").apply(now), Some("new"));
        assert_eq!(Patch::Set(2).map(|n| n * 2), Patch::Set(4));
        assert_eq!(
            Patch::<i32>::Clear.try_map(|_| Err::<i32, ()>(())),
            Ok(Patch::Clear)
        );
        assert_eq!(Patch::Set(1).try_map(|_| Err::<i32, ()>(())), Err(()));
    }

    #[test]
    fn patched_text_is_checked_and_blank_clears() {
        let text = |p| patch_text(p, "notes", 5);
        assert_eq!(text(Patch::Keep).unwrap(), Patch::Keep);
        assert_eq!(text(Patch::Clear).unwrap(), Patch::Clear);
        assert_eq!(text(Patch::Set("  ".into())).unwrap(), Patch::Clear);
        assert_eq!(
            text(Patch::Set(" ab ".into())).unwrap(),
            Patch::Set("ab".into())
        );
        assert!(text(Patch::Set("abcdef".into())).is_err());
        assert_eq!(
            patch_email(Patch::Set(" A@B.example ".into()), "email").unwrap(),
            Patch::Set("a@b.example".into())
        );
        assert!(patch_email(Patch::Set("nope".into()), "email").is_err());
    }

    #[test]
    fn a_patch_documents_the_nullable_value() {
        use utoipa::PartialSchema;
        assert_eq!(
            serde_json::to_value(Patch::<String>::schema()).unwrap(),
            serde_json::to_value(Option::<String>::schema()).unwrap()
        );
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
