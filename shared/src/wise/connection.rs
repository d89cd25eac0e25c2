//! An organization's own Wise connection: the API token its owner gave (sealed with the data key,
//! bound to the organization, never returned) and the profile it pays from. Paying, creating
//! recipients and funding all go through it; without one, `/pay` answers 409
//! `wise_not_connected`.

use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

use super::client::{Api, Client};
use crate::config::LiveKeys;
use crate::crypto::Keys;
use crate::error::ApiError;

/// What anyone may see of a connection: never the token, only its last characters.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Connection {
    pub profile_id: i64,
    /// `PERSONAL` or `BUSINESS`.
    pub profile_type: String,
    pub profile_name: String,
    /// The token's last four characters, to tell tokens apart.
    pub token_ending: String,
    pub connected_by: Uuid,
    pub connected_at: DateTime<Utc>,
}

impl Connection {
    /// The organization's connection, if it has one.
    pub async fn load(conn: &mut PgConnection, org: Uuid) -> Result<Option<Self>, ApiError> {
        Ok(sqlx::query_as!(
            Connection,
            r#"SELECT profile_id, profile_type, profile_name, token_hint AS token_ending,
                      connected_by, connected_at
               FROM wise_connections WHERE org_id = $1"#,
            org
        )
        .fetch_optional(conn)
        .await?)
    }
}

/// The Wise client of `org`'s connection: its token opened, its profile. 409
/// `wise_not_connected` without one.
pub async fn client(
    conn: &mut PgConnection,
    keys: &LiveKeys,
    api: &Api,
    org: Uuid,
) -> Result<Client, ApiError> {
    let row = sqlx::query!(
        "SELECT api_token, profile_id FROM wise_connections WHERE org_id = $1",
        org
    )
    .fetch_optional(conn)
    .await?
    .ok_or_else(not_connected)?;
    let token = keys
        .open(&row.api_token, org.as_bytes())
        .await
        .map_err(|e| ApiError::Internal(e.into()))?;
    let token = String::from_utf8(token).map_err(|e| ApiError::Internal(e.into()))?;
    Ok(api.client(SecretString::from(token), row.profile_id))
}

pub fn not_connected() -> ApiError {
    ApiError::conflict(
        "wise_not_connected",
        "this organization has not connected its Wise account: an owner connects it with \
         PUT /api/payments/wise before suppliers can be paid",
    )
}

/// The token sealed for `org`'s row.
pub fn seal_token(keys: &Keys, org: Uuid, token: &str) -> Vec<u8> {
    keys.seal(token.as_bytes(), org.as_bytes())
}

/// The last four characters of a token, the only part ever shown again.
pub fn token_ending(token: &str) -> String {
    let chars: Vec<char> = token.chars().collect();
    chars[chars.len().saturating_sub(4)..].iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_last_four_characters_are_kept() {
        assert_eq!(token_ending("abcdef-1234"), "1234");
        assert_eq!(token_ending("ab"), "ab");
        assert_eq!(token_ending("ééééé"), "éééé");
    }
}
