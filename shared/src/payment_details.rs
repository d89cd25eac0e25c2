//! Supplier bank details for Wise payouts.
//!
//! Stored sealed (AES-256-GCM, bound to the supplier id) with a separate summary that is safe
//! to show: holder, currency, account type and the last four characters of the account. The
//! suppliers function seals them; the Wise payment flow (inventory) opens them.

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
    pub currency: String,
    #[serde(rename = "type")]
    pub kind: String,
    /// The last four characters of the IBAN or account number.
    pub account_ending: String,
}

const KINDS: [&str; 6] = [
    "iban",
    "sort_code",
    "aba",
    "swift_code",
    "australian",
    "canadian",
];

impl PaymentDetails {
    /// Checks the details; returns them normalised with their summary.
    pub fn validate(mut self, fields: &mut Fields) -> Option<(Self, PaymentSummary)> {
        let holder = self.account_holder_name.trim().to_owned();
        if holder.is_empty() || holder.chars().count() > 140 {
            fields.add(FieldError::new(
                "payment_details.account_holder_name",
                "invalid",
                "must be 1 to 140 characters",
            ));
        }
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
            if value.trim().is_empty() || value.len() > 100 {
                fields.add(FieldError::new(
                    format!("payment_details.details.{key}"),
                    "invalid",
                    "must be 1 to 100 characters",
                ));
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
        let (Some(currency), Some(account)) = (currency, account) else {
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
    pub fn open(keys: &Keys, supplier_id: Uuid, sealed: &[u8]) -> Result<Self, ApiError> {
        let plain = keys
            .open(sealed, supplier_id.as_bytes())
            .map_err(|e| ApiError::Internal(e.into()))?;
        serde_json::from_slice(&plain).map_err(|e| ApiError::Internal(e.into()))
    }
}
