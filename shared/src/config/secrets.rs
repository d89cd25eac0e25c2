//! Reads the settings secrets from AWS Secrets Manager.
//!
//! The SDK picks up region, credentials and endpoint (`AWS_ENDPOINT_URL_SECRETS_MANAGER`, used
//! for local emulators) from the environment as usual. The HTTP client is the SDK's own hyper
//! client on rustls with ring, the one TLS stack of the workspace.

use std::collections::HashMap;

use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};

/// A settings secret that could not be read (the settings loader reports it as such).
#[derive(Debug, thiserror::Error)]
#[error("could not read the settings secret {id}: {reason}")]
pub struct SecretError {
    pub id: String,
    pub reason: String,
}

/// Fetches each of `ids`, all at once on one client (a cold start waits for the slowest, not
/// for the sum), and parses each as a flat JSON object of strings (numbers and booleans are
/// accepted and turned into their text form); the objects come back in the order of `ids`.
pub async fn fetch_all(ids: &[&str]) -> Result<Vec<HashMap<String, String>>, SecretError> {
    let client = client().await;
    let mut fetches = tokio::task::JoinSet::new();
    for (position, id) in ids.iter().enumerate() {
        let (client, id) = (client.clone(), (*id).to_owned());
        fetches.spawn(async move { (position, fetch_with(&client, &id).await) });
    }
    let mut found = Vec::with_capacity(ids.len());
    while let Some(joined) = fetches.join_next().await {
        let (position, secret) = joined.map_err(|e| SecretError {
            id: "(one of SETTINGS_SECRET_ID)".to_owned(),
            reason: e.to_string(),
        })?;
        found.push((position, secret?));
    }
    found.sort_by_key(|(position, _)| *position);
    Ok(found.into_iter().map(|(_, secret)| secret).collect())
}

/// A Secrets Manager client configured from the environment, on the workspace's TLS stack.
pub async fn client() -> aws_sdk_secretsmanager::Client {
    aws_sdk_secretsmanager::Client::new(&sdk_config().await)
}

/// Region, credentials and endpoints as the AWS SDK finds them in the environment (in Lambda,
/// the function role's), with the SDK's HTTP client on rustls with ring.
pub async fn sdk_config() -> aws_config::SdkConfig {
    let http_client = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https();
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(http_client)
        .load()
        .await
}

async fn fetch_with(
    client: &aws_sdk_secretsmanager::Client,
    id: &str,
) -> Result<HashMap<String, String>, SecretError> {
    let fail = |reason: String| SecretError {
        id: id.to_owned(),
        reason,
    };
    let output = client
        .get_secret_value()
        .secret_id(id)
        // What GetSecretValue answers without a stage, said explicitly: a rotation's pending
        // version is never read as settings.
        .version_stage("AWSCURRENT")
        .send()
        .await
        .map_err(|e| fail(aws_sdk_secretsmanager::error::DisplayErrorContext(e).to_string()))?;
    let text = output
        .secret_string()
        .ok_or_else(|| fail("the secret has no string value".into()))?;
    parse_object(text).map_err(fail)
}

/// Parses a secret's text: a flat JSON object of strings (numbers and booleans as text).
pub fn parse_object(text: &str) -> Result<HashMap<String, String>, String> {
    let map: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(text).map_err(|e| format!("not a JSON object: {e}"))?;
    map.into_iter()
        .map(|(key, value)| match value {
            serde_json::Value::String(s) => Ok((key, s)),
            serde_json::Value::Number(n) => Ok((key, n.to_string())),
            serde_json::Value::Bool(b) => Ok((key, b.to_string())),
            _ => Err(format!("value of {key} must be a string")),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::parse_object;

    #[test]
    fn scalars_become_strings() {
        let map = parse_object(r#"{"A":"x","B":3,"C":true}"#).unwrap();
        assert_eq!(map["A"], "x");
        assert_eq!(map["B"], "3");
        assert_eq!(map["C"], "true");
    }

    #[test]
    fn nested_values_are_rejected_without_echoing_them() {
        let err = parse_object(r#"{"A":{"secret":"hunter2"}}"#).unwrap_err();
        assert!(err.contains("A") && !err.contains("hunter2"), "{err}");
    }
}
