//! The mail outbox: mail is queued in the request's transaction and sent after its response
//! (see migration `20261206000001_people_and_memberships.sql`, `mail_outbox`).
//!
//! A mail either has one text, or two: one for an address that has no account and one for an
//! address that has one (a registration's confirmation link, or "you already have an account";
//! an invitation to choose a password, or to sign in and accept). Which one goes out, if any,
//! is decided by the database when the mail is sent, never while the request is answered, so
//! neither an answer's body nor its time tells whether an address has an account.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use uuid::Uuid;

use super::Mailer;
use crate::config::Settings;
use crate::db::Connections;
use crate::error::ApiError;

/// A subject and a plain-text body.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Text {
    pub subject: String,
    pub body: String,
}

impl Text {
    pub fn new(subject: impl Into<String>, body: impl Into<String>) -> Self {
        Self {
            subject: subject.into(),
            body: body.into(),
        }
    }
}

/// A mail to queue.
#[derive(Clone, Debug)]
pub struct Mail {
    kind: &'static str,
    to: String,
    /// Sent when the address has no account (`None`: nothing then).
    text: Option<Text>,
    /// Sent instead when it has one (`None`: `text` either way).
    if_account: Option<Text>,
}

impl Mail {
    /// The same text whoever the address belongs to. `kind` names what it is in the outbox
    /// (`invitation`, `admin_granted`, ...).
    pub fn to(kind: &'static str, to: impl Into<String>, text: Text) -> Self {
        Self {
            kind,
            to: to.into(),
            text: Some(text),
            if_account: None,
        }
    }

    /// `if_account` when the address has an account, else `otherwise` (`None`: no mail).
    pub fn depending_on_account(
        kind: &'static str,
        to: impl Into<String>,
        otherwise: Option<Text>,
        if_account: Text,
    ) -> Self {
        Self {
            kind,
            to: to.into(),
            text: otherwise,
            if_account: Some(if_account),
        }
    }
}

/// How a function reaches the database to send its mail after a response: the same way it
/// answers requests, so it holds no more connections than it would anyway.
#[derive(Clone, Debug)]
enum Via {
    Connections(Connections),
    Pool(sqlx::PgPool),
}

/// Queues mail in a request's transaction and sends it after the response.
#[derive(Clone, Debug)]
pub struct Outbox {
    via: Via,
    mailer: Mailer,
    settings: Arc<Settings>,
}

impl Outbox {
    /// An outbox that sends through `connections` (tenant functions' connections).
    pub fn new(connections: Connections, mailer: Mailer, settings: Arc<Settings>) -> Self {
        Self {
            via: Via::Connections(connections),
            mailer,
            settings,
        }
    }

    /// This outbox, sending through `pool` (for a function that answers through its pool).
    pub fn via_pool(mut self, pool: sqlx::PgPool) -> Self {
        self.via = Via::Pool(pool);
        self
    }

    /// Queues `mail` for `org` (`None`: of no organization) on `conn`, the request's
    /// transaction, and sends it once the response has left.
    pub async fn queue(
        &self,
        conn: &mut PgConnection,
        org: Option<Uuid>,
        mail: Mail,
    ) -> Result<Uuid, ApiError> {
        let id = Uuid::new_v4();
        let keys = self.settings.keys.current().await;
        let seal = |text: &Option<Text>| -> Result<Option<Vec<u8>>, ApiError> {
            text.as_ref()
                .map(|t| {
                    let json = serde_json::to_vec(t).map_err(|e| ApiError::Internal(e.into()))?;
                    Ok(keys.seal(&json, id.as_bytes()))
                })
                .transpose()
        };
        let (message, if_account) = (seal(&mail.text)?, seal(&mail.if_account)?);
        sqlx::query!(
            "INSERT INTO mail_outbox (id, org_id, kind, recipient, message, message_if_account)
             VALUES ($1, $2, $3, $4, $5, $6)",
            id,
            org,
            mail.kind,
            mail.to,
            message,
            if_account
        )
        .execute(conn)
        .await?;
        let outbox = self.clone();
        crate::after_response::defer(async move {
            outbox.send(Some(vec![id]), None).await;
        });
        Ok(id)
    }

    /// Sends the due mail of the whole outbox (the scheduler's sweep), at most `limit`; how
    /// many went out.
    pub async fn send_due(&self, limit: i32) -> usize {
        self.send(None, Some(limit)).await
    }

    /// Sends the mails `ids` (or the due ones), each marked done or failed; how many went out.
    async fn send(&self, ids: Option<Vec<Uuid>>, limit: Option<i32>) -> usize {
        match self.try_send(ids, limit).await {
            Ok(sent) => sent,
            Err(error) => {
                // Queued in the database: the scheduler's sweep sends it later.
                tracing::warn!(%error, "could not send queued mail now");
                0
            }
        }
    }

    async fn try_send(
        &self,
        ids: Option<Vec<Uuid>>,
        limit: Option<i32>,
    ) -> Result<usize, ApiError> {
        let mut lease;
        let mut pooled;
        let conn: &mut PgConnection = match &self.via {
            Via::Connections(connections) => {
                lease = connections.acquire().await?;
                &mut lease
            }
            Via::Pool(pool) => {
                pooled = pool.acquire().await?;
                &mut pooled
            }
        };
        let claimed = match (&ids, limit) {
            (Some(ids), _) => {
                sqlx::query_as!(
                    Claimed,
                    r#"SELECT id AS "id!", recipient AS "recipient!", message AS "message!"
                       FROM stockroom_mail_claim($1)"#,
                    ids
                )
                .fetch_all(&mut *conn)
                .await?
            }
            (None, limit) => {
                sqlx::query_as!(
                    Claimed,
                    r#"SELECT id AS "id!", recipient AS "recipient!", message AS "message!"
                       FROM stockroom_mail_claim_due($1)"#,
                    limit
                )
                .fetch_all(&mut *conn)
                .await?
            }
        };
        let keys = self.settings.keys.current().await;
        let mut sent = 0;
        for mail in claimed {
            let outcome = match keys
                .open(&mail.message, mail.id.as_bytes())
                .map_err(|e| e.to_string())
                .and_then(|json| serde_json::from_slice::<Text>(&json).map_err(|e| e.to_string()))
            {
                Ok(text) => self
                    .mailer
                    .send(&mail.recipient, &text.subject, text.body)
                    .await
                    .map_err(|e| format!("{e:#}")),
                Err(error) => Err(format!("unreadable: {error}")),
            };
            if let Err(error) = &outcome {
                tracing::warn!(
                    mail = %mail.id,
                    %error,
                    "could not send a mail; it is tried again later"
                );
            } else {
                sent += 1;
            }
            sqlx::query!("SELECT stockroom_mail_done($1, $2)", mail.id, outcome.err())
                .execute(&mut *conn)
                .await?;
        }
        Ok(sent)
    }
}

struct Claimed {
    id: Uuid,
    recipient: String,
    message: Vec<u8>,
}
