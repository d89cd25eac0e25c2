//! The Wise API client: quote, recipient account, transfer, funding from the balance.
//!
//! One `reqwest` client (rustls with ring, like the rest of the workspace) per execution
//! environment; each request carries the paying organization's own API token (see
//! [`super::connection`]). Failures come back
//! as [`Error`] carrying Wise's own code and message, which the caller records on the payment.

use std::time::Duration;

use reqwest::Method;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use uuid::Uuid;

use super::error::{Error, truncate};
use super::model::{Profile, Quote, Transfer, decimal};
use crate::config::WiseSettings;
use crate::payment_details::PaymentDetails;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

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
            tracing::warn!(
                path,
                status = status.as_u16(),
                code = %error.code,
                message = %error.message,
                "Wise refused a request"
            );
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wise::error::MAX_MESSAGE_CHARS;
    use reqwest::StatusCode;

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
