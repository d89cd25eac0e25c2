//! Key rotation: Secrets Manager's four-step rotation of the keys secret, and the re-seal that
//! moves sealed data (TOTP secrets, supplier payment details) to the newest data key.
//!
//! A rotation adds a new token key and a new data key at the head of their rings and keeps the
//! previous newest of each: the previous token key verifies tokens for the window of
//! [`shared::config::retired_token_key_window`] from `TOKEN_KEYS_ROTATED_AT`, and the previous
//! data key opens what is not re-sealed yet. Keys older than that are dropped, but only after a
//! re-seal has moved every value to the newest key, so nothing sealed is ever left without its
//! key. The re-seal runs as the tables' owner (this function's login), in small transactions,
//! and swaps a value only if it is still the one it read, so a concurrent edit wins.

use std::collections::HashMap;
use std::sync::Arc;

use aws_sdk_secretsmanager::Client;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use shared::crypto::Keys;
use sqlx::PgConnection;
use uuid::Uuid;

/// An invocation by Secrets Manager's rotation.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RotationRequest {
    pub step: String,
    pub secret_id: String,
    pub client_request_token: String,
}

const PENDING: &str = "AWSPENDING";
const CURRENT: &str = "AWSCURRENT";

/// What a re-seal moved to the newest data key, and what no configured key could open.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Resealed {
    pub mfa_secrets: u64,
    pub payment_details: u64,
    pub wise_tokens: u64,
    pub webhook_secrets: u64,
    pub unreadable: u64,
}

/// Runs one step of a rotation of the keys secret `request.secret_id`. `owner` is a connection
/// as the tables' owner (for the re-seal in `createSecret` and `finishSecret`).
pub async fn rotate(
    client: &Client,
    request: &RotationRequest,
    owner: &mut PgConnection,
) -> anyhow::Result<serde_json::Value> {
    let (secret, token) = (&request.secret_id, &request.client_request_token);
    match request.step.as_str() {
        "createSecret" => {
            if read(client, secret, Version::Pending(token)).await.is_ok() {
                return Ok(serde_json::json!({ "step": "createSecret", "created": false }));
            }
            let current = read(client, secret, Version::Current).await?;
            // Before older keys are dropped, every value moves to the newest key they keep.
            let resealed = reseal(owner, &*keys_of(&current)?).await?;
            let next = rotated(&current, chrono::Utc::now())?;
            keys_of(&next)?;
            client
                .put_secret_value()
                .secret_id(secret)
                .client_request_token(token)
                .secret_string(serde_json::to_string(&next)?)
                .version_stages(PENDING)
                .send()
                .await
                .map_err(|e| {
                    anyhow::anyhow!("{}", aws_sdk_secretsmanager::error::DisplayErrorContext(e))
                })?;
            tracing::info!(?resealed, "keys rotated: the pending version is written");
            Ok(serde_json::json!({ "step": "createSecret", "created": true, "resealed": resealed }))
        }
        // The keys belong to nothing outside this secret: there is nothing to set.
        "setSecret" => Ok(serde_json::json!({ "step": "setSecret" })),
        "testSecret" => {
            keys_of(&read(client, secret, Version::Pending(token)).await?)?;
            Ok(serde_json::json!({ "step": "testSecret" }))
        }
        "finishSecret" => {
            let described = client
                .describe_secret()
                .secret_id(secret)
                .send()
                .await
                .map_err(|e| {
                    anyhow::anyhow!("{}", aws_sdk_secretsmanager::error::DisplayErrorContext(e))
                })?;
            let stages = described
                .version_ids_to_stages()
                .cloned()
                .unwrap_or_default();
            let current_version = stages
                .iter()
                .find(|(_, stages)| stages.iter().any(|s| s == CURRENT))
                .map(|(version, _)| version.clone());
            if current_version.as_deref() != Some(token.as_str()) {
                let mut update = client
                    .update_secret_version_stage()
                    .secret_id(secret)
                    .version_stage(CURRENT)
                    .move_to_version_id(token);
                if let Some(current) = current_version {
                    update = update.remove_from_version_id(current);
                }
                update.send().await.map_err(|e| {
                    anyhow::anyhow!("{}", aws_sdk_secretsmanager::error::DisplayErrorContext(e))
                })?;
            }
            // Functions read the new keys within SETTINGS_REFRESH_SECONDS, or at once when they
            // meet a value sealed by a key they lack; the re-seal can start now.
            let resealed = reseal(
                owner,
                &*keys_of(&read(client, secret, Version::Current).await?)?,
            )
            .await?;
            tracing::info!(?resealed, "keys rotation finished");
            Ok(serde_json::json!({ "step": "finishSecret", "resealed": resealed }))
        }
        other => anyhow::bail!("unknown rotation step {other}"),
    }
}

enum Version<'a> {
    Current,
    Pending(&'a str),
}

async fn read(
    client: &Client,
    secret: &str,
    version: Version<'_>,
) -> anyhow::Result<HashMap<String, String>> {
    let request = client.get_secret_value().secret_id(secret);
    let request = match version {
        Version::Current => request.version_stage(CURRENT),
        Version::Pending(token) => request.version_id(token).version_stage(PENDING),
    };
    let output = request.send().await.map_err(|e| {
        anyhow::anyhow!("{}", aws_sdk_secretsmanager::error::DisplayErrorContext(e))
    })?;
    let text = output
        .secret_string()
        .ok_or_else(|| anyhow::anyhow!("the keys secret has no string value"))?;
    shared::config::secrets::parse_object(text)
        .map_err(|reason| anyhow::anyhow!("the keys secret: {reason}"))
}

/// The keys a secret's object configures (an error names what is wrong, never a key).
pub fn keys_of(vars: &HashMap<String, String>) -> anyhow::Result<Arc<Keys>> {
    // Only the keys matter here; the other settings of Settings::from_vars need placeholders.
    let mut vars = vars.clone();
    vars.entry("DATABASE_URL".into())
        .or_insert_with(|| "postgres://unused".into());
    let settings =
        shared::Settings::from_vars(&vars).map_err(|e| anyhow::anyhow!("the keys secret: {e}"))?;
    Ok(settings.keys.snapshot())
}

/// The secret's object after a rotation at `now`: a new key at the head of each ring, the
/// previous head kept, older keys dropped, `TOKEN_KEYS_ROTATED_AT` set, and `SECRET_KEY`
/// written out as key `k0` of whichever ring still holds it.
pub fn rotated(
    current: &HashMap<String, String>,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<HashMap<String, String>> {
    let ring = |name| {
        shared::config::configured_ring(current, name)
            .map_err(|e| anyhow::anyhow!("the keys secret: {e}"))
    };
    let (tokens, data) = (ring("TOKEN_KEYS")?, ring("DATA_KEYS")?);
    let stamp = now.format("%Y%m%d%H%M%S");
    let mut next = current.clone();
    for (name, prefix, ring) in [("TOKEN_KEYS", 't', tokens), ("DATA_KEYS", 'd', data)] {
        let mut id = format!("{prefix}{stamp}");
        while ring.iter().any(|(known, _)| *known == id) {
            id.push('x');
        }
        let entries = [(id, new_secret()), ring[0].clone()];
        let text: Vec<String> = entries
            .iter()
            .map(|(id, secret)| format!("{id}:{}", secret.expose_secret()))
            .collect();
        next.insert(name.to_owned(), text.join(","));
    }
    next.remove("SECRET_KEY");
    next.insert("TOKEN_KEYS_ROTATED_AT".into(), now.to_rfc3339());
    Ok(next)
}

/// 48 random bytes, base64url: 64 characters.
fn new_secret() -> SecretString {
    let mut bytes = [0u8; 48];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    SecretString::from(URL_SAFE_NO_PAD.encode(bytes))
}

/// Rows re-sealed per transaction.
const BATCH: i64 = 200;

/// A sealed column: its table, the key its owner is (the sealing's associated data), what counts
/// it, and the statements that follow a value sealed anew in the same transaction (`$1` the
/// row's key, `$2` the old sealed value, `$3` the new one).
struct SealedColumn {
    table: &'static str,
    key: &'static str,
    column: &'static str,
    count: fn(&mut Resealed) -> &mut u64,
    follow: &'static [&'static str],
}

/// Every sealed value of the database.
const SEALED: [SealedColumn; 5] = [
    SealedColumn {
        table: "users",
        key: "id",
        column: "mfa_secret",
        count: |done| &mut done.mfa_secrets,
        follow: &[],
    },
    SealedColumn {
        table: "suppliers",
        key: "id",
        column: "payment_details",
        count: |done| &mut done.payment_details,
        follow: &[
            // Recipients are found by the digest of the sealed value.
            "UPDATE wise_recipients SET details_digest = sha256($3)
             WHERE supplier_id = $1 AND details_digest = sha256($2)",
            // So are the details a payment approval was given for: still the same details.
            "UPDATE payment_approvals a SET payee_digest = sha256($3)
             FROM purchase_orders o
             WHERE o.id = a.purchase_order_id AND o.supplier_id = $1
               AND a.payee_digest = sha256($2)",
        ],
    },
    SealedColumn {
        table: "wise_connections",
        key: "org_id",
        column: "api_token",
        count: |done| &mut done.wise_tokens,
        follow: &[],
    },
    // Webhook signing secrets: the current one, and the one a rotation keeps for 24 hours.
    SealedColumn {
        table: "webhook_endpoints",
        key: "id",
        column: "secret",
        count: |done| &mut done.webhook_secrets,
        follow: &[],
    },
    SealedColumn {
        table: "webhook_endpoints",
        key: "id",
        column: "previous_secret",
        count: |done| &mut done.webhook_secrets,
        follow: &[],
    },
];

/// Moves every sealed value not sealed by `keys`' newest data key to it: users' TOTP secrets,
/// suppliers' payment details (with the Wise recipients and payment approvals recorded for the
/// old value, so a payment neither creates its recipient again nor asks again for approval) and
/// organizations' Wise API tokens; batch by batch, each batch in its transaction.
pub async fn reseal(conn: &mut PgConnection, keys: &Keys) -> anyhow::Result<Resealed> {
    let prefix = keys.current_seal_prefix();
    let mut done = Resealed::default();
    for sealed in &SEALED {
        let SealedColumn {
            table, key, column, ..
        } = sealed;
        // The names are this file's constants, never input.
        let select = format!(
            "SELECT {key}, {column} FROM {table}
             WHERE {column} IS NOT NULL AND substring({column} FROM 1 FOR $1) <> $2 AND {key} > $3
             ORDER BY {key} LIMIT $4"
        );
        let update = format!("UPDATE {table} SET {column} = $3 WHERE {key} = $1 AND {column} = $2");
        let mut after = Uuid::nil();
        loop {
            let rows: Vec<(Uuid, Vec<u8>)> = sqlx::query_as(&select)
                .bind(prefix.len() as i32)
                .bind(&prefix)
                .bind(after)
                .bind(BATCH)
                .fetch_all(&mut *conn)
                .await?;
            let Some((last, _)) = rows.last() else { break };
            after = *last;
            let mut tx = sqlx::Connection::begin(&mut *conn).await?;
            for (owner, old) in &rows {
                let Some(fresh) = resealed(keys, old, *owner, &mut done) else {
                    continue;
                };
                let swapped = sqlx::query(&update)
                    .bind(owner)
                    .bind(old)
                    .bind(&fresh)
                    .execute(&mut *tx)
                    .await?;
                if swapped.rows_affected() == 1 {
                    for statement in sealed.follow {
                        sqlx::query(statement)
                            .bind(owner)
                            .bind(old)
                            .bind(&fresh)
                            .execute(&mut *tx)
                            .await?;
                    }
                    *(sealed.count)(&mut done) += 1;
                }
            }
            tx.commit().await?;
        }
    }
    Ok(done)
}

/// `sealed` (owned by `owner`) sealed anew with the newest key; `None` when it already is, or
/// when no configured key opens it (counted as unreadable and logged).
fn resealed(keys: &Keys, sealed: &[u8], owner: Uuid, done: &mut Resealed) -> Option<Vec<u8>> {
    keys.reseal(sealed, owner.as_bytes())
        .unwrap_or_else(|error| {
            tracing::error!(%owner, %error, "a sealed value no configured key opens");
            done.unreadable += 1;
            None
        })
}
