//! Outgoing email over SMTP (lettre).
//!
//! `SMTP_URL` selects the server and its security: `smtps://user:pass@host:465` (TLS),
//! `smtp://user:pass@host:587?tls=required` (STARTTLS), `smtp://host:25` (plain, local only).
//! `make dev` points it at a local debugging server that prints the messages.

pub mod outbox;

use std::time::Duration;

use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Body, Mailbox};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::{ExposeSecret, SecretString};

use crate::config::ConfigError;
use crate::error::ApiError;

#[derive(Clone)]
pub struct Mailer {
    transport: Option<AsyncSmtpTransport<Tokio1Executor>>,
    from: Mailbox,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("configured", &self.transport.is_some())
            .field("from", &self.from.to_string())
            .finish()
    }
}

impl Mailer {
    /// Builds the transport; nothing connects until the first message.
    pub fn new(smtp_url: Option<&SecretString>, from: &str) -> Result<Self, ConfigError> {
        let from =
            from.parse()
                .map_err(|e: lettre::address::AddressError| ConfigError::Invalid {
                    name: "MAIL_FROM",
                    reason: e.to_string(),
                })?;
        let transport = smtp_url
            .map(|url| {
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose_secret())
                    .map(|builder| builder.timeout(Some(Duration::from_secs(10))).build())
                    .map_err(|_| ConfigError::Invalid {
                        name: "SMTP_URL",
                        reason: "not a valid smtp:// or smtps:// URL".into(),
                    })
            })
            .transpose()?;
        Ok(Self { transport, from })
    }

    /// Sends a plain-text message.
    pub async fn send(&self, to: &str, subject: &str, body: String) -> Result<(), ApiError> {
        let transport = self.transport.as_ref().ok_or_else(|| {
            ApiError::Internal(anyhow::anyhow!("email is not configured (set SMTP_URL)"))
        })?;
        let to: Mailbox = to
            .parse()
            .map_err(|e: lettre::address::AddressError| ApiError::Internal(e.into()))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            // Plain ASCII text stays readable as sent (links intact); anything else is encoded.
            .body(
                Body::new_with_encoding(body, ContentTransferEncoding::SevenBit)
                    .unwrap_or_else(Body::new),
            )
            .map_err(|e| ApiError::Internal(e.into()))?;
        transport
            .send(message)
            .await
            .map_err(|e| ApiError::Internal(e.into()))?;
        Ok(())
    }
}
