//! Sessions: an access token plus a rotating refresh token, and their refresh and logout.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use shared::AppState;
use shared::audit::{Action, Actor, Change, Entry};
use shared::auth::{Role, jwt, tokens};
use shared::domain::{OrgId, SessionId, UserId};
use shared::error::ApiError;
use shared::http::AppJson;
use sqlx::PgConnection;
use uuid::Uuid;

pub const REFRESH_TOKEN_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TokenPair {
    pub access_token: String,
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    pub refresh_token: String,
    pub refresh_expires_in: u64,
}

/// What a sign-in answers: the person in the organization the tokens are for, and the tokens.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SignedIn {
    #[serde(flatten)]
    pub me: crate::me::Me,
    #[serde(flatten)]
    pub tokens: TokenPair,
}

/// Marks `org_id` as the organization `user_id` used last.
pub async fn mark_used(
    conn: &mut PgConnection,
    user_id: Uuid,
    org_id: Uuid,
) -> Result<(), ApiError> {
    sqlx::query!(
        "UPDATE memberships SET last_used_at = now() WHERE user_id = $1 AND org_id = $2",
        user_id,
        org_id
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// The seed of the refresh token a switch to `org_id` gives the session whose live token has
/// `hash`: a retry of the old token within the grace window finds the same successor (see
/// [`refresh`]), as after a refresh.
pub fn switch_seed(org_id: Uuid, old_hash: &[u8]) -> String {
    format!("switch:{org_id}:{}", hex::encode(old_hash))
}

/// Starts a new token family (a login, on one device) for the person, in organization `org_id`
/// (where they are an active member with `role`), and marks that organization used last.
pub async fn start(
    conn: &mut PgConnection,
    state: &AppState,
    user_id: Uuid,
    org_id: Uuid,
    role: Role,
) -> Result<TokenPair, ApiError> {
    let (refresh_token, hash) = tokens::generate("rt");
    mark_used(&mut *conn, user_id, org_id).await?;
    issue(
        conn,
        state,
        user_id,
        org_id,
        role,
        Uuid::new_v4(),
        refresh_token,
        hash,
    )
    .await
}

/// Stores `refresh_token` as a session of `family_id` in `org_id` and returns it with its access
/// token.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn issue(
    conn: &mut PgConnection,
    state: &AppState,
    user_id: Uuid,
    org_id: Uuid,
    role: Role,
    family_id: Uuid,
    refresh_token: String,
    hash: Vec<u8>,
) -> Result<TokenPair, ApiError> {
    let session = sqlx::query_as!(
        Session,
        "INSERT INTO refresh_tokens (user_id, org_id, family_id, token_hash, expires_at)
         VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5))
         RETURNING id, family_id, created_at, expires_at",
        user_id,
        org_id,
        family_id,
        hash,
        REFRESH_TOKEN_TTL.as_secs_f64(),
    )
    .fetch_one(conn)
    .await?;
    let mut pair = pair(state, user_id, org_id, role, refresh_token, &session).await?;
    // Just issued: the full lifetimes (the stored times are a moment older than this answer).
    pair.expires_in = jwt::ACCESS_TOKEN_TTL.as_secs();
    pair.refresh_expires_in = REFRESH_TOKEN_TTL.as_secs();
    Ok(pair)
}

/// One stored refresh token (a session).
struct Session {
    id: Uuid,
    family_id: Uuid,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
}

/// The token pair of a session: its access token is issued at the session's start with the
/// session's id as `jti`, so the same session always yields the same pair; the lifetimes are
/// what is left of them.
async fn pair(
    state: &AppState,
    user_id: Uuid,
    org_id: Uuid,
    role: Role,
    refresh_token: String,
    session: &Session,
) -> Result<TokenPair, ApiError> {
    let issued_at = session.created_at.timestamp();
    let access_token = jwt::issue_at(
        &*state.settings.keys.current().await,
        UserId(user_id),
        OrgId(org_id),
        role,
        SessionId(session.family_id),
        issued_at,
        session.id,
    )?;
    let now = Utc::now();
    let left = |until: DateTime<Utc>| (until - now).num_seconds().max(0) as u64;
    let access_expires = DateTime::from_timestamp(issued_at, 0).unwrap_or(now)
        + chrono::Duration::from_std(jwt::ACCESS_TOKEN_TTL).unwrap_or_default();
    Ok(TokenPair {
        access_token,
        token_type: "Bearer",
        expires_in: left(access_expires),
        refresh_token,
        refresh_expires_in: left(session.expires_at),
    })
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    refresh_token: String,
}

fn invalid_refresh_token() -> ApiError {
    ApiError::unauthorized(
        "invalid_refresh_token",
        "the refresh token is invalid, expired or revoked",
    )
}

/// `POST /api/auth/refresh`: exchanges a refresh token for a new pair. The old token dies.
/// Presented again within `REFRESH_REUSE_GRACE_SECONDS` of its rotation (concurrent refreshes
/// of one single-page app, two tabs), it gets the same new pair again; presented later, the
/// whole family (every session of that login) is revoked as a theft.
#[utoipa::path(post, path = "/api/auth/refresh", security(()), request_body = RefreshRequest,
    responses((status = 200, description = "A new token pair; the old refresh token is dead (a retry within the grace window gets the same pair)", body = TokenPair),
        (status = 401, description = "Unknown, expired or reused refresh token (reuse revokes the family)")))]
pub async fn refresh(
    State(state): State<AppState>,
    AppJson(body): AppJson<RefreshRequest>,
) -> Result<Json<TokenPair>, ApiError> {
    // Not limited as a sign-in attempt: a refresh token (256 random bits) cannot be guessed, and
    // a shop whose staff share one address must not have a valid token refused because others'
    // expired ones failed. Floods are the edge's to stop (AWS WAF, 100 a minute per address).
    let hash = tokens::hash(&body.refresh_token);
    let mut tx = state.pool.begin().await?;
    // FOR UPDATE: two refreshes with the same token are serialised; the second sees it rotated.
    // The session's organization, and the person's membership there (sessions of the previous
    // release carry no organization: their person's only one).
    let token = sqlx::query!(
        r#"SELECT t.id, t.user_id, t.family_id, t.rotated_at, t.revoked_at,
                  t.expires_at < now() AS "expired!",
                  coalesce(t.rotated_at > now() - make_interval(secs => $2), false) AS "in_grace!",
                  m.org_id, m.role AS "role: Role",
                  m.is_active AND m.joined_at IS NOT NULL AS "is_active!"
           FROM refresh_tokens t
           JOIN users u ON u.id = t.user_id
           JOIN memberships m ON m.user_id = t.user_id AND m.org_id = coalesce(t.org_id, u.org_id)
           WHERE t.token_hash = $1
           FOR UPDATE OF t"#,
        hash,
        state.settings.refresh_reuse_grace.as_secs_f64()
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(invalid_refresh_token)?;

    let keys = state.settings.keys.current().await;
    if token.rotated_at.is_some() && token.revoked_at.is_none() {
        // A retry within the grace window (two tabs, several queries refreshing at once) gets
        // the pair the first refresh made, as long as that successor is still the live session.
        // The first refresh may have used the token key before a rotation: every key's
        // successor is looked for.
        if token.in_grace {
            // The family's live token, and the tokens a refresh (or a switch to its
            // organization) of the presented one makes.
            let live = sqlx::query!(
                r#"SELECT t.id, t.family_id, t.created_at, t.expires_at, t.token_hash,
                          m.org_id, m.role AS "role: Role"
                   FROM refresh_tokens t
                   JOIN memberships m ON m.user_id = t.user_id AND m.org_id = t.org_id
                   WHERE t.family_id = $1 AND t.rotated_at IS NULL AND t.revoked_at IS NULL
                     AND t.expires_at > now() AND m.is_active AND m.joined_at IS NOT NULL"#,
                token.family_id
            )
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(live) = live {
                let seed = switch_seed(live.org_id, &hash);
                let successor = tokens::successors(&keys, "rt", &body.refresh_token)
                    .into_iter()
                    .chain(tokens::successors(&keys, "rt", &seed))
                    .find(|(_, candidate)| *candidate == live.token_hash);
                if let Some((successor, _)) = successor {
                    tx.commit().await?;
                    let (user, org, role) = (token.user_id, live.org_id, live.role);
                    let session = Session {
                        id: live.id,
                        family_id: live.family_id,
                        created_at: live.created_at,
                        expires_at: live.expires_at,
                    };
                    return pair(&state, user, org, role, successor, &session)
                        .await
                        .map(Json);
                }
            }
        }
        sqlx::query!(
            "UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = $1 AND revoked_at IS NULL",
            token.family_id
        )
        .execute(&mut *tx)
        .await?;
        Entry::new(Action::RefreshReuseDetected, token.user_id)
            .in_org(token.org_id)
            .by(Actor::User(token.user_id))
            .change(Change::none().after(&serde_json::json!({ "family_id": token.family_id })))
            .record(&mut tx)
            .await?;
        tx.commit().await?;
        tracing::warn!(user_id = %token.user_id, "refresh token reuse detected; family revoked");
        return Err(ApiError::unauthorized(
            "refresh_token_reused",
            "this refresh token was already used; every session of this login has been signed out",
        ));
    }
    if token.revoked_at.is_some() || token.expired || !token.is_active {
        return Err(invalid_refresh_token());
    }

    sqlx::query!(
        "UPDATE refresh_tokens SET rotated_at = now() WHERE id = $1",
        token.id
    )
    .execute(&mut *tx)
    .await?;
    let (successor, successor_hash) = tokens::successor(&keys, "rt", &body.refresh_token);
    let pair = issue(
        &mut tx,
        &state,
        token.user_id,
        token.org_id,
        token.role,
        token.family_id,
        successor,
        successor_hash,
    )
    .await?;
    tx.commit().await?;
    Ok(Json(pair))
}

/// `POST /api/auth/logout`: revokes the refresh token's whole family. Always 204, so it can be
/// retried and says nothing about the token.
#[utoipa::path(post, path = "/api/auth/logout", security(()), request_body = RefreshRequest,
    responses((status = 204, description = "The refresh token family is revoked"),
        (status = 429, description = "Too many attempts")))]
pub async fn logout(
    State(state): State<AppState>,
    AppJson(body): AppJson<RefreshRequest>,
) -> Result<StatusCode, ApiError> {
    let hash = tokens::hash(&body.refresh_token);
    let mut tx = state.pool.begin().await?;
    let revoked = sqlx::query!(
        r#"WITH family AS (SELECT family_id, user_id, org_id FROM refresh_tokens
                          WHERE token_hash = $1)
           UPDATE refresh_tokens t SET revoked_at = now()
           FROM family f
           WHERE t.family_id = f.family_id AND t.revoked_at IS NULL
           RETURNING f.user_id, f.org_id"#,
        hash
    )
    .fetch_all(&mut *tx)
    .await?;
    if let Some(row) = revoked.first() {
        let mut entry = Entry::new(Action::Logout, row.user_id).by(Actor::User(row.user_id));
        entry.org_id = row.org_id;
        entry.record(&mut tx).await?;
    }
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
