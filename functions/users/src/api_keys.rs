//! `/api/api-keys`: keys for integrations (a till, a web shop). A key acts for its
//! organization with its scopes only; its secret is shown once and stored as a hash.

use axum::Json;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use shared::audit::{Action, Change};
use shared::auth::caller::API_KEY_PREFIX;
use shared::auth::{Permissions, RequireAdmin, StepUp, tokens};
use shared::error::{ApiError, FieldError, Fields};
use shared::http::pagination::{Page, PageQuery, PageRequest};
use shared::http::{AppJson, AppQuery, PathId};
use uuid::Uuid;

/// How many characters of a key lists show.
const SHOWN_PREFIX_LEN: usize = 10;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ApiKeyView {
    id: Uuid,
    name: String,
    /// The key's first characters, to recognise it.
    prefix: String,
    /// `module:level` strings.
    #[schema(schema_with = shared::auth::scopes_schema)]
    scopes: Vec<String>,
    expires_at: Option<DateTime<Utc>>,
    last_used_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
}

struct KeyRow {
    id: Uuid,
    name: String,
    prefix: String,
    scopes: serde_json::Value,
    expires_at: Option<DateTime<Utc>>,
    last_used_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
}

impl From<KeyRow> for ApiKeyView {
    fn from(r: KeyRow) -> Self {
        let scopes = r
            .scopes
            .as_object()
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some(format!("{k}:{}", v.as_str()?)))
                    .collect()
            })
            .unwrap_or_default();
        Self {
            id: r.id,
            name: r.name,
            prefix: r.prefix,
            scopes,
            expires_at: r.expires_at,
            last_used_at: r.last_used_at,
            revoked_at: r.revoked_at,
            created_at: r.created_at,
        }
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    #[schema(format = "line", min_length = 1, max_length = 100)]
    name: String,
    #[schema(schema_with = shared::auth::scopes_schema)]
    scopes: Vec<String>,
    /// Days until the key stops working (1 to 3650); without it the key works until revoked.
    #[schema(minimum = 1, maximum = 3650)]
    expires_in_days: Option<u32>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedKey {
    #[serde(flatten)]
    view: ApiKeyView,
    /// The secret: shown this once. Send it as `X-API-Key` or `Authorization: Bearer`.
    key: String,
}

/// A [`CreateKey`] checked.
struct NewKey {
    name: String,
    scopes: Permissions,
    expires_at: Option<DateTime<Utc>>,
}

impl TryFrom<CreateKey> for NewKey {
    type Error = ApiError;

    /// Every invalid field in one 422.
    fn try_from(body: CreateKey) -> Result<Self, ApiError> {
        let mut fields = Fields::default();
        let name = fields.name(&body.name, "name", 100);
        let scopes = Permissions::parse_scopes(&body.scopes, &mut fields);
        if body.scopes.is_empty() {
            fields.add(FieldError::new(
                "scopes",
                "required",
                "give the key at least one scope",
            ));
        }
        if body
            .expires_in_days
            .is_some_and(|days| !(1..=3650).contains(&days))
        {
            fields.add(FieldError::new(
                "expires_in_days",
                "out_of_range",
                "must be between 1 and 3650",
            ));
        }
        let expires_at = body
            .expires_in_days
            .map(|days| Utc::now() + chrono::Duration::days(days.into()));
        match name {
            Some(name) if fields.is_empty() => Ok(Self {
                name,
                scopes,
                expires_at,
            }),
            _ => Err(fields.into_error()),
        }
    }
}

/// `POST /api/api-keys`: needs a step-up (`X-Step-Up-Token`), as it hands out access.
#[utoipa::path(post, path = "/api/api-keys", operation_id = "create_api_key", params(shared::http::openapi::StepUpHeader), request_body = CreateKey,
    responses((status = 201, description = "The key; its secret `key` is shown this once", body = CreatedKey),
        (status = 401, description = "`step_up_required`: confirm with POST /api/auth/step-up first")))]
pub async fn create(
    StepUp(mut admin): StepUp<RequireAdmin>,
    AppJson(body): AppJson<CreateKey>,
) -> Result<(StatusCode, Json<CreatedKey>), ApiError> {
    let NewKey {
        name,
        scopes,
        expires_at,
    } = NewKey::try_from(body)?;
    let (key, hash) = tokens::generate(API_KEY_PREFIX.trim_end_matches('_'));
    debug_assert!(key.starts_with(API_KEY_PREFIX));
    let prefix: String = key.chars().take(SHOWN_PREFIX_LEN).collect();
    let (caller, tx) = admin.parts();
    let row = sqlx::query_as!(
        KeyRow,
        "INSERT INTO api_keys (org_id, name, prefix, key_hash, scopes, expires_at, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         RETURNING id, name, prefix, scopes, expires_at, last_used_at, revoked_at, created_at",
        caller.org_id,
        name,
        prefix,
        hash,
        scopes.to_json(),
        expires_at,
        caller.user_id()
    )
    .fetch_one(&mut *tx)
    .await?;
    let view = ApiKeyView::from(row);
    caller
        .audit(tx, Action::ApiKeyCreated, view.id, Change::created(&view))
        .await?;
    Ok((StatusCode::CREATED, Json(CreatedKey { view, key })))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only keys whose prefix starts with this.
    prefix: Option<String>,
}

/// `GET /api/api-keys`: newest first; never the secret.
#[utoipa::path(get, path = "/api/api-keys", operation_id = "list_api_keys", params(ListQuery, PageQuery),
    responses((status = 200, body = Page<ApiKeyView>)))]
pub async fn list(
    mut admin: RequireAdmin,
    AppQuery(query): AppQuery<ListQuery>,
    page: PageRequest<(DateTime<Utc>, Uuid)>,
) -> Result<Json<Page<ApiKeyView>>, ApiError> {
    let (before_at, before_id) = page.after.unzip();
    let prefix = query.prefix.map(|p| {
        format!(
            "{}%",
            p.replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        )
    });
    let total = page
        .total(
            sqlx::query_scalar!(
                r#"SELECT count(*) AS "count!" FROM api_keys WHERE org_id = $1 AND ($2::text IS NULL OR prefix LIKE $2)"#,
                admin.caller.org_id,
                prefix
            )
            .fetch_one(&mut *admin.db)
        )
        .await?;
    let rows = sqlx::query_as!(
        KeyRow,
        r#"SELECT id, name, prefix, scopes, expires_at, last_used_at, revoked_at, created_at
           FROM api_keys
           WHERE org_id = $1
             AND ($2::text IS NULL OR prefix LIKE $2)
             AND ($3::timestamptz IS NULL OR (created_at, id) < ($3, $4))
           ORDER BY created_at DESC, id DESC
           LIMIT $5"#,
        admin.caller.org_id,
        prefix,
        before_at,
        before_id,
        page.limit + 1
    )
    .fetch_all(&mut *admin.db)
    .await?;
    Ok(Json(
        Page::from_rows(rows, page.limit, total, |k| (k.created_at, k.id)).map(ApiKeyView::from),
    ))
}

/// `DELETE /api/api-keys/{id}`: revokes the key; it is refused from the next request on.
#[utoipa::path(delete, path = "/api/api-keys/{id}", operation_id = "revoke_api_key", params(("id" = Uuid, Path)),
    responses((status = 204, description = "Revoked")))]
pub async fn revoke(mut admin: RequireAdmin, PathId(id): PathId) -> Result<StatusCode, ApiError> {
    let (caller, tx) = admin.parts();
    let key = sqlx::query!(
        "SELECT revoked_at IS NOT NULL AS \"revoked!\" FROM api_keys WHERE id = $1 AND org_id = $2 FOR UPDATE",
        id,
        caller.org_id
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| ApiError::not_found("API key"))?;
    if !key.revoked {
        sqlx::query!(
            "UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND org_id = $2",
            id,
            caller.org_id
        )
        .execute(&mut *tx)
        .await?;
        caller
            .audit(tx, Action::ApiKeyRevoked, id, Change::none())
            .await?;
    }
    Ok(StatusCode::NO_CONTENT)
}
