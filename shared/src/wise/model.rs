//! What Wise answers: profiles, quotes and transfers, as this project reads them.

use std::str::FromStr;

use rust_decimal::Decimal;
use serde::Deserialize;
use uuid::Uuid;

/// A Wise profile a token may act for (`GET /v2/profiles`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Profile {
    pub id: i64,
    /// `PERSONAL` or `BUSINESS`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The business's or the person's name.
    pub name: String,
}

/// A quote: the price of sending the amount, valid for a while.
#[derive(Clone, Debug)]
pub struct Quote {
    pub id: Uuid,
    /// What the transfer costs in the source currency, fees included.
    pub source_amount: Option<Decimal>,
}

/// A transfer as Wise reports it.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Transfer {
    pub id: i64,
    /// The transfer state (`incoming_payment_waiting`, `processing`, ...).
    pub status: String,
    /// The recipient account and the quote the transfer was made with. A repeated
    /// `create_transfer` returns the transfer made the first time, whose quote and recipient
    /// may not be the ones the repeat sent.
    #[serde(default)]
    pub target_account: Option<i64>,
    #[serde(default)]
    pub quote_uuid: Option<Uuid>,
    /// What it costs in the source currency, fees included.
    #[serde(default)]
    source_value: Option<serde_json::Number>,
}

impl Transfer {
    /// What the transfer costs in the source currency (fees included), if Wise said.
    pub fn source_amount(&self) -> Option<Decimal> {
        self.source_value.as_ref().and_then(decimal)
    }
}

/// An amount Wise sent as a JSON number, as a decimal rounded to cents.
pub(super) fn decimal(number: &serde_json::Number) -> Option<Decimal> {
    let text = number.to_string();
    Decimal::from_str(&text)
        .or_else(|_| Decimal::from_scientific(&text))
        .ok()
        .map(|d| d.round_dp(2))
}
