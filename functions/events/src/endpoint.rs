//! A webhook endpoint as the API shows it, the bodies that make and change one, and its
//! signing secret (sealed at rest with the data keys, bound to the endpoint's id).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use shared::AppState;
use shared::config::WebhookSettings;
use shared::domain::{Patch, non_null};
use shared::error::{ApiError, Fields};
use shared::events::{catalogue, outbound};
use sqlx::PgConnection;
use uuid::Uuid;

fn disabled_reason_schema() -> utoipa::openapi::schema::Object {
    shared::http::openapi::optional_text_enum(&["by_request", "gone", "failing"])
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct WebhookEndpoint {
    pub id: Uuid,
    /// Where events are POSTed (https).
    pub url: String,
    /// Event types, `<object>.*` patterns or `*`.
    pub event_types: Vec<String>,
    pub description: Option<String>,
    pub enabled: bool,
    /// Why it is disabled: `by_request`, `gone` (the receiver answered 410) or `failing`
    /// (deliveries failed for 3 days).
    #[schema(schema_with = disabled_reason_schema)]
    pub disabled_reason: Option<String>,
    /// Until when the secret replaced by the last rotation still signs deliveries too.
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    /// Since when deliveries have been failing (none since the last success).
    pub failing_since: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EndpointWithSecret {
    #[serde(flatten)]
    pub endpoint: WebhookEndpoint,
    /// The signing secret, shown this once: keep it where the receiver verifies
    /// `Stockroom-Signature`.
    pub secret: String,
}

/// The endpoint `id` of `org`; `lock` holds its row for the transaction. 404 when there is
/// none.
pub async fn load(
    conn: &mut PgConnection,
    org: Uuid,
    id: Uuid,
    lock: bool,
) -> Result<WebhookEndpoint, ApiError> {
    if lock {
        sqlx::query!(
            "SELECT id FROM webhook_endpoints WHERE org_id = $1 AND id = $2 FOR UPDATE",
            org,
            id
        )
        .fetch_optional(&mut *conn)
        .await?;
    }
    sqlx::query_as!(
        WebhookEndpoint,
        "SELECT id, url, event_types, description, enabled, disabled_reason,
                CASE WHEN previous_secret_expires_at > now() THEN previous_secret_expires_at END
                    AS previous_secret_expires_at,
                failing_since, created_at, updated_at
         FROM webhook_endpoints WHERE org_id = $1 AND id = $2",
        org,
        id
    )
    .fetch_optional(conn)
    .await?
    .ok_or_else(|| ApiError::not_found("webhook endpoint"))
}

/// A new secret, and it sealed for the endpoint `id`.
pub async fn new_secret(state: &AppState, id: Uuid) -> (String, Vec<u8>) {
    let keys = state.settings.keys.current().await;
    shared::events::signature::new_sealed(&keys, id)
}

fn checked_url(raw: &str, settings: &WebhookSettings, fields: &mut Fields) -> Option<String> {
    match outbound::check_url(raw, settings) {
        Ok(url) => Some(url.to_string()),
        Err(reason) => {
            fields.add(shared::error::FieldError::new("url", "invalid", reason));
            None
        }
    }
}

fn checked_types(types: &[String], fields: &mut Fields) -> Vec<String> {
    if types.is_empty() {
        fields.add(shared::error::FieldError::new(
            "event_types",
            "required",
            "name at least one event type, `<object>.*` or `*`",
        ));
    }
    catalogue::check_patterns(types, "event_types", fields)
}

#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateEndpoint {
    /// An https URL on port 443 or 8443, whose host is a public address.
    #[schema(
        format = "uri",
        max_length = 2048,
        example = "https://shop.example.com/hooks/stockroom"
    )]
    url: String,
    /// Event types (see the `webhooks` of this document), `<object>.*` or `*`.
    #[schema(schema_with = catalogue::patterns_schema, example = json!(["stock.low", "purchase_order.*"]))]
    event_types: Vec<String>,
    #[schema(max_length = 500)]
    description: Option<String>,
}

/// A [`CreateEndpoint`] checked against the deployment's webhook settings.
pub struct NewEndpoint {
    pub url: String,
    pub event_types: Vec<String>,
    pub description: Option<String>,
}

impl TryFrom<(CreateEndpoint, &WebhookSettings)> for NewEndpoint {
    type Error = ApiError;

    /// Every invalid field in one 422.
    fn try_from((body, settings): (CreateEndpoint, &WebhookSettings)) -> Result<Self, ApiError> {
        let mut fields = Fields::default();
        let new = Self {
            url: checked_url(&body.url, settings, &mut fields).unwrap_or_default(),
            event_types: checked_types(&body.event_types, &mut fields),
            description: fields.text(body.description.as_deref(), "description", 500),
        };
        fields.finish(new)
    }
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateEndpoint {
    /// A new URL (needs a step-up, as a new destination of the organization's events does).
    #[schema(value_type = String, format = "uri", max_length = 2048)]
    #[serde(default, deserialize_with = "non_null")]
    url: Option<String>,
    /// New event types (needs a step-up).
    #[schema(schema_with = catalogue::patterns_schema)]
    #[serde(default, deserialize_with = "non_null")]
    event_types: Option<Vec<String>>,
    #[schema(value_type = Option<String>, max_length = 500)]
    #[serde(default)]
    description: Patch<String>,
    /// `false` stops deliveries (pending ones wait); `true` starts them again and clears
    /// `disabled_reason`.
    #[schema(value_type = bool)]
    #[serde(default, deserialize_with = "non_null")]
    enabled: Option<bool>,
}

/// An [`UpdateEndpoint`] checked (`None`/`Keep`: unchanged).
pub struct EndpointChange {
    pub url: Option<String>,
    pub event_types: Option<Vec<String>>,
    pub description: Patch<String>,
    pub enabled: Option<bool>,
}

impl TryFrom<(UpdateEndpoint, &WebhookSettings)> for EndpointChange {
    type Error = ApiError;

    /// Every invalid field in one 422.
    fn try_from((body, settings): (UpdateEndpoint, &WebhookSettings)) -> Result<Self, ApiError> {
        let mut fields = Fields::default();
        let change = Self {
            url: body
                .url
                .and_then(|url| checked_url(&url, settings, &mut fields)),
            event_types: body.event_types.map(|t| checked_types(&t, &mut fields)),
            description: fields.patch_text(body.description, "description", 500),
            enabled: body.enabled,
        };
        fields.finish(change)
    }
}

impl EndpointChange {
    /// Whether it sends the organization's events somewhere new (a step-up's matter).
    pub fn redirects(&self, endpoint: &WebhookEndpoint) -> bool {
        self.url.as_ref().is_some_and(|u| *u != endpoint.url)
            || self
                .event_types
                .as_ref()
                .is_some_and(|t| *t != endpoint.event_types)
    }

    /// The endpoint with this change made.
    pub fn apply(self, mut endpoint: WebhookEndpoint) -> WebhookEndpoint {
        shared::edit!(self => endpoint; url, event_types, description, enabled);
        if endpoint.enabled {
            endpoint.disabled_reason = None;
        } else if endpoint.disabled_reason.is_none() {
            endpoint.disabled_reason = Some("by_request".to_owned());
        }
        endpoint
    }
}
