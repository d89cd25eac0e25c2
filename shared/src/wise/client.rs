//! The Wise API client: quote, recipient account, transfer, funding from the balance.
//!
//! One `reqwest` client (rustls with ring, like the rest of the workspace) per execution
//! environment; each request carries the paying organization's own API token (see
//! [`super::connection`]). Failures come back
//! as [`Error`] carrying Wise's own code and message, which the caller records on the payment.

use std::str::FromStr;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::config::WiseSettings;
use crate::payment_details::PaymentDetails;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Wise's messages are short; anything longer is cut before it is stored or shown.
const MAX_MESSAGE_CHARS: usize = 500;

/// Wise's API for this deployment: where it is (sandbox or live) and one HTTP client per
/// execution environment. Each organization's own token and profile make its [`Client`].
#[derive(Clone, Debug)]
pub struct Api {
    http: reqwest::Client,
    base: String,
}

/// A Wise API client for one organization's connection: its token and the profile that pays.
#[derive(Clone)]
pub struct Client {
    api: Api,
    token: SecretString,
    profile_id: i64,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("wise::Client")
            .field("base", &self.api.base)
            .field("profile_id", &self.profile_id)
            .finish_non_exhaustive()
    }
}

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

/// What went wrong talking to Wise, in Wise's words where it gave any.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message} ({code})")]
pub struct Error {
    /// The HTTP status Wise answered with; `None` when it could not be reached.
    pub status: Option<u16>,
    /// Wise's error code (`error.route.not.supported`, `transfer.insufficient_funds`), or ours:
    /// `unreachable`, `timeout`, `invalid_response`, `funding_rejected`.
    pub code: String,
    /// Wise's message, fit to show to whoever asked for the payment.
    pub message: String,
    /// The request field Wise's error is about (its `path`, e.g. `targetAccount`), if it said.
    pub path: Option<String>,
}

impl Error {
    fn new(status: Option<u16>, code: impl Into<String>, message: impl Into<String>) -> Self {
        let message: String = message.into();
        Self {
            status,
            code: truncate(code.into(), 200),
            message: truncate(message, MAX_MESSAGE_CHARS),
            path: None,
        }
    }

    /// An error of Stockroom's own making, without an answer from Wise (`timeout`...).
    pub fn local(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(None, code, message)
    }

    /// Wise answered and said no: a 4xx, or a readable answer refusing the request (a funding
    /// `REJECTED`). Then nothing happened that the error does not say. Otherwise — Wise not
    /// reached or not answering in time, a 5xx, an answer that could not be read — Wise may
    /// have done what was asked.
    pub fn is_refusal(&self) -> bool {
        self.status.is_some_and(|s| s < 500) && self.code != "invalid_response"
    }

    /// A refusal about the recipient account itself (removed, deactivated, invalid at Wise):
    /// Wise names `targetAccount` as the error's field, or its code names the recipient.
    pub fn concerns_recipient(&self) -> bool {
        let code = self.code.to_ascii_lowercase();
        self.status.is_some_and(|s| (400..500).contains(&s))
            && (self.path.as_deref() == Some("targetAccount")
                || code.contains("recipient")
                || code.contains("targetaccount")
                || code.contains("target.account"))
    }

    /// Reads Wise's error body: `{"errors": [{"code", "message"}]}` on most endpoints,
    /// `{"error", "error_description"}` or `{"message"}` on some others.
    fn from_response(status: StatusCode, body: &[u8]) -> Self {
        let body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let first = body.get("errors").and_then(|e| e.get(0));
        let text = |value: Option<&Value>| value.and_then(Value::as_str).map(str::to_owned);
        let code = text(first.and_then(|e| e.get("code")))
            .or_else(|| text(body.get("error")))
            .unwrap_or_else(|| format!("http_{}", status.as_u16()));
        let message = text(first.and_then(|e| e.get("message")))
            .or_else(|| text(body.get("error_description")))
            .or_else(|| text(body.get("message")))
            .unwrap_or_else(|| {
                format!(
                    "Wise answered {} {}",
                    status.as_u16(),
                    status.canonical_reason().unwrap_or("")
                )
            });
        let path = text(first.and_then(|e| e.get("path"))).map(|p| truncate(p, 200));
        Self {
            path,
            ..Self::new(Some(status.as_u16()), code, message)
        }
    }

    fn transport(error: &reqwest::Error) -> Self {
        if error.is_timeout() {
            Self::new(None, "timeout", "Wise did not answer in time")
        } else {
            Self::new(None, "unreachable", "Wise could not be reached")
        }
    }
}

fn truncate(mut text: String, max_chars: usize) -> String {
    if let Some((at, _)) = text.char_indices().nth(max_chars) {
        text.truncate(at);
    }
    text
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

impl Api {
    pub fn new(settings: &WiseSettings) -> Result<Self, anyhow::Error> {
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("stockroom/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            http,
            base: settings.api_url.clone(),
        })
    }

    /// The client of one organization's connection.
    pub fn client(&self, token: SecretString, profile_id: i64) -> Client {
        Client {
            api: self.clone(),
            token,
            profile_id,
        }
    }

    /// `GET /v2/profiles`: the profiles `token` may act for, which also checks the token (Wise
    /// answers 401 to one it does not know). Deactivated profiles are left out.
    pub async fn profiles(&self, token: &str) -> Result<Vec<Profile>, Error> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Answer {
            id: i64,
            #[serde(rename = "type", default)]
            kind: String,
            business_name: Option<String>,
            full_name: Option<String>,
            first_name: Option<String>,
            last_name: Option<String>,
            current_state: Option<String>,
        }
        let token = SecretString::from(token.to_owned());
        let answers: Vec<Answer> = self.call(&token, Method::GET, "/v2/profiles", None).await?;
        Ok(answers
            .into_iter()
            .filter(|p| p.current_state.as_deref() != Some("DEACTIVATED"))
            .map(|p| {
                let name = p.business_name.or(p.full_name).unwrap_or_else(|| {
                    [p.first_name, p.last_name]
                        .into_iter()
                        .flatten()
                        .collect::<Vec<_>>()
                        .join(" ")
                });
                Profile {
                    id: p.id,
                    kind: truncate(p.kind.to_uppercase(), 50),
                    name: truncate(name, 300),
                }
            })
            .collect())
    }

    async fn call<T: DeserializeOwned>(
        &self,
        token: &SecretString,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<T, Error> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token.expose_secret());
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.map_err(|e| Error::transport(&e))?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| Error::transport(&e))?;
        if !status.is_success() {
            let error = Error::from_response(status, &bytes);
            tracing::warn!(path, status = status.as_u16(), code = %error.code, message = %error.message, "Wise refused a request");
            return Err(error);
        }
        serde_json::from_slice(&bytes).map_err(|e| {
            tracing::warn!(path, error = %e, "unexpected answer from Wise");
            Error::new(
                Some(status.as_u16()),
                "invalid_response",
                "Wise answered in an unexpected form",
            )
        })
    }
}

impl Client {
    pub fn profile_id(&self) -> i64 {
        self.profile_id
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<T, Error> {
        self.api.call(&self.token, method, path, body).await
    }

    /// `POST /v3/profiles/{profile}/quotes`: the price of delivering exactly `target_amount`
    /// `target_currency`, paid in `source_currency`.
    pub async fn create_quote(
        &self,
        source_currency: &str,
        target_currency: &str,
        target_amount: Decimal,
    ) -> Result<Quote, Error> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Answer {
            id: Uuid,
            source_amount: Option<serde_json::Number>,
        }
        let amount = target_amount.to_f64().ok_or_else(|| {
            Error::new(None, "invalid_amount", "the amount cannot be sent to Wise")
        })?;
        let answer: Answer = self
            .call(
                Method::POST,
                &format!("/v3/profiles/{}/quotes", self.profile_id),
                Some(json!({
                    "sourceCurrency": source_currency,
                    "targetCurrency": target_currency,
                    "targetAmount": amount,
                    "payOut": "BANK_TRANSFER",
                })),
            )
            .await?;
        Ok(Quote {
            id: answer.id,
            source_amount: answer.source_amount.as_ref().and_then(decimal),
        })
    }

    /// `POST /v1/accounts`: a recipient account from a supplier's bank details. Suppliers are
    /// businesses, so `legalType` is `BUSINESS` unless the details say otherwise.
    pub async fn create_recipient(&self, payee: &PaymentDetails) -> Result<i64, Error> {
        #[derive(Deserialize)]
        struct Answer {
            id: i64,
        }
        let mut details = serde_json::Map::new();
        details.insert("legalType".into(), "BUSINESS".into());
        for (key, value) in &payee.details {
            details.insert(key.clone(), value.clone().into());
        }
        let answer: Answer = self
            .call(
                Method::POST,
                "/v1/accounts",
                Some(json!({
                    "profile": self.profile_id,
                    "currency": payee.currency,
                    "type": payee.kind,
                    "accountHolderName": payee.account_holder_name,
                    "details": details,
                })),
            )
            .await?;
        Ok(answer.id)
    }

    /// `POST /v1/transfers`. `customer_transaction_id` is Wise's idempotency key: repeating the
    /// call with the same one returns the transfer already made.
    pub async fn create_transfer(
        &self,
        recipient_id: i64,
        quote_id: Uuid,
        customer_transaction_id: Uuid,
        reference: &str,
    ) -> Result<Transfer, Error> {
        self.call(
            Method::POST,
            "/v1/transfers",
            Some(json!({
                "targetAccount": recipient_id,
                "quoteUuid": quote_id,
                "customerTransactionId": customer_transaction_id,
                "details": {"reference": reference},
            })),
        )
        .await
    }

    /// `GET /v1/transfers/{id}`.
    pub async fn transfer(&self, transfer_id: i64) -> Result<Transfer, Error> {
        self.call(Method::GET, &format!("/v1/transfers/{transfer_id}"), None)
            .await
    }

    /// `POST /v3/profiles/{profile}/transfers/{id}/payments`: pays the transfer from the
    /// profile's Wise balance. A `REJECTED` answer (insufficient funds...) is an error.
    pub async fn fund(&self, transfer_id: i64) -> Result<(), Error> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Answer {
            status: String,
            error_code: Option<String>,
            error_message: Option<String>,
        }
        let answer: Answer = self
            .call(
                Method::POST,
                &format!(
                    "/v3/profiles/{}/transfers/{transfer_id}/payments",
                    self.profile_id
                ),
                Some(json!({"type": "BALANCE"})),
            )
            .await?;
        if answer.status == "COMPLETED" {
            return Ok(());
        }
        let code = answer
            .error_code
            .unwrap_or_else(|| "funding_rejected".to_owned());
        let message = answer
            .error_message
            .unwrap_or_else(|| format!("Wise did not fund the transfer from the balance ({code})"));
        Err(Error::new(Some(200), code, message))
    }
}

/// An amount Wise sent as a JSON number, as a decimal rounded to cents.
fn decimal(number: &serde_json::Number) -> Option<Decimal> {
    let text = number.to_string();
    Decimal::from_str(&text)
        .or_else(|_| Decimal::from_scientific(&text))
        .ok()
        .map(|d| d.round_dp(2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wise_errors_keep_wise_code_and_message() {
        let error = Error::from_response(
            StatusCode::UNPROCESSABLE_ENTITY,
            br#"{"errors":[{"code":"error.route.not.supported","message":"This route is not supported","path":"targetCurrency"}]}"#,
        );
        assert_eq!(error.status, Some(422));
        assert_eq!(error.code, "error.route.not.supported");
        assert_eq!(error.message, "This route is not supported");
        assert_eq!(error.path.as_deref(), Some("targetCurrency"));
        assert!(error.is_refusal() && !error.concerns_recipient());
    }

    #[test]
    fn refusals_about_the_recipient_are_told_apart() {
        let by_path = Error::from_response(
            StatusCode::UNPROCESSABLE_ENTITY,
            br#"{"errors":[{"code":"NOT_VALID","message":"Recipient is not active","path":"targetAccount"}]}"#,
        );
        assert!(by_path.concerns_recipient());
        let by_code = Error::from_response(
            StatusCode::NOT_FOUND,
            br#"{"errors":[{"code":"recipient.not.found","message":"Not found"}]}"#,
        );
        assert!(by_code.concerns_recipient());
        let other = Error::from_response(
            StatusCode::UNPROCESSABLE_ENTITY,
            br#"{"errors":[{"code":"error.quote.expired","message":"Quote expired","path":"quoteUuid"}]}"#,
        );
        assert!(!other.concerns_recipient());
        let server = Error::from_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            br#"{"errors":[{"code":"recipient.error","message":"oops","path":"targetAccount"}]}"#,
        );
        assert!(!server.concerns_recipient() && !server.is_refusal());
    }

    #[test]
    fn only_an_answer_that_says_no_is_a_refusal() {
        assert!(!Error::local("timeout", "Wise did not answer in time").is_refusal());
        assert!(!Error::new(Some(502), "http_502", "Bad Gateway").is_refusal());
        assert!(!Error::new(Some(200), "invalid_response", "unexpected").is_refusal());
        assert!(Error::new(Some(200), "transfer.insufficient_funds", "no money").is_refusal());
        assert!(Error::new(Some(409), "transfer.already.funded", "funded").is_refusal());
    }

    #[test]
    fn other_error_shapes_are_read_too() {
        let oauth = Error::from_response(
            StatusCode::UNAUTHORIZED,
            br#"{"error":"invalid_token","error_description":"Invalid token"}"#,
        );
        assert_eq!(
            (oauth.code.as_str(), oauth.message.as_str()),
            ("invalid_token", "Invalid token")
        );
        let bare = Error::from_response(StatusCode::BAD_GATEWAY, b"<html>oops</html>");
        assert_eq!(bare.code, "http_502");
        assert_eq!(bare.message, "Wise answered 502 Bad Gateway");
    }

    #[test]
    fn long_messages_are_cut() {
        let long = format!(
            r#"{{"errors":[{{"code":"x","message":"{}"}}]}}"#,
            "é".repeat(2000)
        );
        let error = Error::from_response(StatusCode::BAD_REQUEST, long.as_bytes());
        assert_eq!(error.message.chars().count(), MAX_MESSAGE_CHARS);
    }

    #[test]
    fn amounts_become_decimals() {
        let n = |v: f64| serde_json::Number::from_f64(v).unwrap();
        assert_eq!(decimal(&n(25.35)), Some(Decimal::new(2535, 2)));
        assert_eq!(decimal(&n(1e21)).map(|d| d.is_sign_positive()), Some(true));
    }

    #[test]
    fn a_client_never_shows_its_token() {
        let api = Api::new(&WiseSettings {
            api_url: "http://127.0.0.1:1".into(),
            webhook_public_key: None,
        })
        .unwrap();
        let client = api.client(SecretString::from("t0ken-secret".to_owned()), 7);
        assert_eq!(client.profile_id(), 7);
        assert!(!format!("{client:?}").contains("t0ken-secret"));
    }
}
