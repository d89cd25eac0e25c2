//! Money in request bodies: a decimal string that matches [`PATTERN`] exactly
//! (`"12.50"`, `"3"`), never a JSON number (float rounding) nor what a lenient decimal parser
//! would take (`"1e3"`, `"+5"`, `".5"`, `"5."`, `"1_000"`: a typo must not become an amount).
//! Use with `#[serde(with = "money_text")]`, `money_text::option` (null or absent is `None`),
//! `money_text::present` (absent is `None`, null is refused) or `money_text::patch` (a
//! [`Patch`](crate::domain::patch::Patch): absent `Keep`, null `Clear`).

use rust_decimal::Decimal;
use serde::de::{Error, Unexpected};
use serde::{Deserializer, Serializer};

/// The document's pattern for money, which [`parse`] implements.
pub const PATTERN: &str = r"^\d{1,12}(\.\d{1,2})?$";
const EXPECTED: &str = "a decimal string such as \"12.50\" (up to 12 digits, at most 2 decimals)";

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
pub fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Decimal>, D::Error> {
    deserialize(deserializer).map(Some)
}

/// For a [`Patch`](crate::domain::patch::Patch) field (with `default`): `null` clears, else the amount.
pub fn patch<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<crate::domain::patch::Patch<Decimal>, D::Error> {
    option::deserialize(deserializer).map(crate::domain::patch::Patch::from)
}

/// An optional amount: `null` or absent is `None`.
pub mod option {
    use rust_decimal::Decimal;
    use serde::de::Error;
    use serde::{Deserializer, Serializer};

    use crate::domain::money_text::EXPECTED;

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
                crate::domain::money_text::deserialize(d).map(Some)
            }
        }
        deserializer.deserialize_option(Optional)
    }
}
