//! Supplier bank details for Wise payouts.
//!
//! Stored sealed (AES-256-GCM, bound to the supplier id) with a separate summary that is safe
//! to show: holder, currency, account type and the last four characters of the account. The
//! suppliers function seals them; the Wise payment flow (inventory) opens them.

use crate::config::LiveKeys;
use crate::crypto::Keys;
use crate::error::{ApiError, FieldError, Fields};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use uuid::Uuid;

/// What a client sends, and what the Wise client reads back to create the recipient account.
#[derive(Clone, Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentDetails {
    pub account_holder_name: String,
    pub currency: String,
    /// Wise's recipient account type: `iban`, `sort_code`, `aba`, `swift_code`, ...
    #[serde(rename = "type")]
    pub kind: String,
    /// Wise's `details` for that type, e.g. `{"iban": "DE89..."}` or
    /// `{"sortCode": "040075", "accountNumber": "37618166"}`.
    pub details: BTreeMap<String, String>,
}

/// The part of the details that responses show.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, utoipa::ToSchema)]
pub struct PaymentSummary {
    pub account_holder_name: String,
    #[schema(value_type = crate::domain::CurrencyCode)]
    pub currency: String,
    #[serde(rename = "type")]
    pub kind: String,
    /// The last four characters of the IBAN or account number.
    pub account_ending: String,
}

/// Read straight from the `payment_summary` column (JSON): `AS "payment_details: PaymentSummary"`.
impl sqlx::Type<sqlx::Postgres> for PaymentSummary {
    fn type_info() -> sqlx::postgres::PgTypeInfo {
        <sqlx::types::Json<Self> as sqlx::Type<sqlx::Postgres>>::type_info()
    }

    fn compatible(ty: &sqlx::postgres::PgTypeInfo) -> bool {
        <sqlx::types::Json<Self> as sqlx::Type<sqlx::Postgres>>::compatible(ty)
    }
}

impl<'r> sqlx::Decode<'r, sqlx::Postgres> for PaymentSummary {
    fn decode(value: sqlx::postgres::PgValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
        Ok(<sqlx::types::Json<Self> as sqlx::Decode<'r, sqlx::Postgres>>::decode(value)?.0)
    }
}

const KINDS: [&str; 6] = [
    "iban",
    "sort_code",
    "aba",
    "swift_code",
    "australian",
    "canadian",
];

/// A Wise field name in `details` (`iban`, `sortCode`, `accountNumber`, ...).
const DETAIL_KEY_PATTERN: &str = "^[A-Za-z][A-Za-z0-9]{0,49}$";

fn is_detail_key(key: &str) -> bool {
    let mut chars = key.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && key.len() <= 50
        && chars.all(|c| c.is_ascii_alphanumeric())
}

/// The document's schema of `payment_details` (`schema_with`): one shape for IBAN accounts
/// (`details.iban`, checked with its check digits: `format: iban`) and one for the account types
/// that need `details.accountNumber`; `null` removes them on update.
pub fn schema() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, OneOf, SchemaFormat, Type};
    let line = |max: usize| {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::Custom("line".into())))
            .max_length(Some(max))
    };
    let shape = |kinds: &[&str], account_field: &str, account: ObjectBuilder| {
        let details = ObjectBuilder::new()
            .schema_type(Type::Object)
            .property(account_field, account)
            .required(account_field)
            .property_names(Some(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some(DETAIL_KEY_PATTERN)),
            ))
            .additional_properties(Some(AdditionalProperties::RefOr(line(100).into())))
            .description(Some("Wise's `details` for this account type."));
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .property("account_holder_name", line(140))
            .required("account_holder_name")
            .property(
                "currency",
                utoipa::openapi::Ref::from_schema_name("CurrencyCode"),
            )
            .required("currency")
            .property(
                "type",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some(kinds.to_vec())),
            )
            .required("type")
            .property("details", details)
            .required("details")
            .additional_properties(Some(AdditionalProperties::FreeForm(false)))
    };
    let mut one_of = OneOf::new();
    one_of.description = Some(
        "Bank details for paying the supplier through Wise; sealed, only ever shown as a \
         summary. `null` removes them."
            .to_owned(),
    );
    let iban = ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(SchemaFormat::Custom("iban".into())))
        .max_length(Some(100))
        .description(Some("An IBAN with valid check digits (spaces allowed)."));
    one_of.items = vec![
        shape(&["iban"], "iban", iban).into(),
        shape(&KINDS[1..], "accountNumber", line(100)).into(),
        ObjectBuilder::new().schema_type(Type::Null).into(),
    ];
    utoipa::openapi::schema::Schema::OneOf(one_of)
}

impl PaymentDetails {
    /// Checks the details; returns them normalised with their summary.
    pub fn validate(mut self, fields: &mut Fields) -> Option<(Self, PaymentSummary)> {
        let holder = fields.check(crate::domain::name(
            &self.account_holder_name,
            "payment_details.account_holder_name",
            140,
        ));
        let currency = fields.check(crate::domain::currency(
            &self.currency,
            "payment_details.currency",
        ));
        if !KINDS.contains(&self.kind.as_str()) {
            fields.add(FieldError::new(
                "payment_details.type",
                "invalid",
                format!("must be one of {}", KINDS.join(", ")),
            ));
        }
        for (key, value) in &self.details {
            let field = format!("payment_details.details.{key}");
            if !is_detail_key(key) {
                fields.add(FieldError::new(
                    field,
                    "invalid",
                    "must be a Wise field name such as iban or accountNumber",
                ));
            } else if let Err(error) = crate::domain::name(value, &field, 100) {
                fields.check::<()>(Err(error));
            }
        }
        let account = if self.kind == "iban" {
            match self
                .details
                .get("iban")
                .map(|i| i.replace(' ', "").to_uppercase())
            {
                Some(iban) if iban.parse::<iban::Iban>().is_ok() => {
                    self.details.insert("iban".into(), iban.clone());
                    Some(iban)
                }
                _ => {
                    fields.add(FieldError::new(
                        "payment_details.details.iban",
                        "invalid",
                        "must be a valid IBAN",
                    ));
                    None
                }
            }
        } else {
            let number = self.details.get("accountNumber").cloned();
            if number.is_none() {
                fields.add(FieldError::new(
                    "payment_details.details.accountNumber",
                    "required",
                    "is required for this account type",
                ));
            }
            number
        };
        let (Some(holder), Some(currency), Some(account)) = (holder, currency, account) else {
            return None;
        };
        self.account_holder_name = holder;
        self.currency = currency;
        let ending: String = account
            .chars()
            .rev()
            .take(4)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        let summary = PaymentSummary {
            account_holder_name: self.account_holder_name.clone(),
            currency: self.currency.clone(),
            kind: self.kind.clone(),
            account_ending: ending,
        };
        Some((self, summary))
    }

    pub fn seal(&self, keys: &Keys, supplier_id: Uuid) -> Result<Vec<u8>, ApiError> {
        let plain = serde_json::to_vec(self).map_err(|e| ApiError::Internal(e.into()))?;
        Ok(keys.seal(&plain, supplier_id.as_bytes()))
    }

    /// Opens what [`PaymentDetails::seal`] stored for this supplier.
    pub async fn open(keys: &LiveKeys, supplier_id: Uuid, sealed: &[u8]) -> Result<Self, ApiError> {
        let plain = keys
            .open(sealed, supplier_id.as_bytes())
            .await
            .map_err(|e| ApiError::Internal(e.into()))?;
        serde_json::from_slice(&plain).map_err(|e| ApiError::Internal(e.into()))
    }
}
