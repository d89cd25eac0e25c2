//! An organization's own Wise account and its payment policy: `/api/payments/*`.
//!
//! - Owners connect Wise: `POST /api/payments/wise/profiles` with an API token lists the
//!   profiles it may act for (Wise checks the token; nothing is stored), then `PUT
//!   /api/payments/wise` with the token and the chosen profile stores the token sealed with the
//!   data key. It is never returned: only its last four characters and the profile's name.
//!   `DELETE` disconnects; payments already under way still settle through their webhooks.
//! - Connecting and disconnecting need a step-up; owners and admins can read the connection.
//!   Every change is audited in its transaction. (The approval threshold is
//!   [`super::policy`]'s.)

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use shared::audit::{Action, Change};
use shared::auth::caller::Caller;
use shared::auth::{CallerKind, RequireAdmin, Role, StepUp};
use shared::error::{ApiError, FieldError, Fields};
use shared::http::AppJson;
use shared::wise::connection::{self, Connection};
use shared::wise::{self, Profile};

use crate::state::InventoryState;

/// Only owners hold the organization's money: 403 for anyone else.
pub(crate) fn owner_only(caller: &Caller) -> Result<(), ApiError> {
    match caller.kind {
        CallerKind::User {
            role: Role::Owner, ..
        } => Ok(()),
        _ => Err(ApiError::forbidden(
            "owner_required",
            "only an owner can change how the organization pays",
        )),
    }
}

pub(crate) fn person_required() -> ApiError {
    ApiError::forbidden("step_up_unavailable", "a person signed in must do this")
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenInput {
    /// A Wise API token of the organization's own Wise account (Settings → API tokens).
    #[schema(min_length = 1, max_length = 500, format = Password)]
    api_token: String,
}

fn token(raw: &str, fields: &mut Fields) -> Option<String> {
    let token = raw.trim();
    let ok = !token.is_empty() && token.len() <= 500 && token.chars().all(|c| c.is_ascii_graphic());
    if !ok {
        fields.add(FieldError::new(
            "api_token",
            "invalid",
            "paste the Wise API token: 1 to 500 visible characters",
        ));
        return None;
    }
    Some(token.to_owned())
}

/// The profiles a token may act for; Wise refusing the token is a 422 with Wise's message.
async fn profiles_of(api: &wise::Api, token: &str) -> Result<Vec<Profile>, ApiError> {
    api.profiles(token)
        .await
        .map_err(|error| match error.status {
            Some(400..=499) => {
                let mut fields = Fields::default();
                fields.add(FieldError::new(
                    "api_token",
                    "rejected_by_wise",
                    format!("Wise did not accept the token: {}", error.message),
                ));
                fields.into_error()
            }
            _ => ApiError::Upstream {
                code: "wise_unreachable",
                detail: format!("Wise could not check the token: {}", error.message),
            },
        })
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Profiles {
    profiles: Vec<Profile>,
}

/// `POST /api/payments/wise/profiles` `{api_token}`: the Wise profiles the token may act for,
/// to pick one to connect. Nothing is stored. Owners only, with a step-up.
#[utoipa::path(post, path = "/api/payments/wise/profiles", operation_id = "list_wise_profiles", params(shared::http::openapi::StepUpHeader), request_body = TokenInput,
    responses((status = 200, description = "The token's profiles", body = Profiles),
        (status = 401, description = "`step_up_required`"),
        (status = 403, description = "`owner_required`, `admin_required`"),
        (status = 422, description = "`api_token`: Wise did not accept the token (Wise's message)"),
        (status = 502, description = "`wise_unreachable`: Wise could not be asked")))]
pub async fn profiles(
    State(state): State<InventoryState>,
    StepUp(admin): StepUp<RequireAdmin>,
    AppJson(body): AppJson<TokenInput>,
) -> Result<Json<Profiles>, ApiError> {
    owner_only(&admin.caller)?;
    let mut fields = Fields::default();
    let token = token(&body.api_token, &mut fields).ok_or_else(|| fields.into_error())?;
    let api = state.wise_api()?;
    // No transaction waits on Wise.
    drop(admin);
    Ok(Json(Profiles {
        profiles: profiles_of(api, &token).await?,
    }))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct WiseAccount {
    /// The connection; `null` until an owner connects Wise.
    connection: Option<Connection>,
}

/// `GET /api/payments/wise`: whether the organization connected Wise, with which profile.
#[utoipa::path(get, path = "/api/payments/wise", operation_id = "get_wise_connection",
    responses((status = 200, description = "The connection (never the token: only its last four characters)", body = WiseAccount),
        (status = 403, description = "`admin_required`")))]
pub async fn get(mut admin: RequireAdmin) -> Result<Json<WiseAccount>, ApiError> {
    let org = admin.caller.org_id;
    Ok(Json(WiseAccount {
        connection: Connection::load(&mut admin.db, org).await?,
    }))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectInput {
    #[schema(min_length = 1, max_length = 500, format = Password)]
    api_token: String,
    /// One of the token's profiles (`POST /api/payments/wise/profiles` lists them).
    #[schema(minimum = 1)]
    profile_id: i64,
}

/// `PUT /api/payments/wise` `{api_token, profile_id}`: connects (or re-connects) the
/// organization's Wise account. Wise checks the token and that the profile is one of its own;
/// the token is stored sealed. Owners only, with a step-up.
#[utoipa::path(put, path = "/api/payments/wise", operation_id = "connect_wise", params(shared::http::openapi::StepUpHeader), request_body = ConnectInput,
    responses((status = 200, description = "Connected", body = Connection),
        (status = 401, description = "`step_up_required`"),
        (status = 403, description = "`owner_required`, `admin_required`"),
        (status = 409, description = "`wise_profile_in_use`: another organization connected this profile"),
        (status = 422, description = "`api_token`: Wise did not accept the token; `profile_id`: not one of the token's profiles"),
        (status = 502, description = "`wise_unreachable`: Wise could not be asked")))]
pub async fn connect(
    State(state): State<InventoryState>,
    StepUp(mut admin): StepUp<RequireAdmin>,
    AppJson(body): AppJson<ConnectInput>,
) -> Result<Json<Connection>, ApiError> {
    let caller = admin.caller.clone();
    owner_only(&caller)?;
    let mut fields = Fields::default();
    let token = token(&body.api_token, &mut fields);
    if body.profile_id <= 0 {
        fields.add(FieldError::new(
            "profile_id",
            "invalid",
            "a Wise profile id is a positive number",
        ));
    }
    let Some(token) = token.filter(|_| fields.is_empty()) else {
        return Err(fields.into_error());
    };
    let api = state.wise_api()?;
    // Wise is asked outside any transaction.
    admin.db.suspend(false).await?;
    let profiles = profiles_of(api, &token).await?;
    let profile = profiles
        .into_iter()
        .find(|p| p.id == body.profile_id)
        .ok_or_else(|| {
            let mut fields = Fields::default();
            fields.add(FieldError::new(
                "profile_id",
                "unknown_profile",
                "this profile is not one the token may act for; list them with POST \
                 /api/payments/wise/profiles",
            ));
            fields.into_error()
        })?;
    admin.db.resume().await?;
    let tx = &mut *admin.db;
    let org = caller.org_id;
    let before = Connection::load(&mut *tx, org).await?;
    let keys = state.app.settings.keys.current().await;
    let sealed = connection::seal_token(&keys, org, &token);
    let user = caller.user_id().ok_or_else(person_required)?;
    let stored = sqlx::query!(
        "INSERT INTO wise_connections
             (org_id, api_token, token_hint, profile_id, profile_type, profile_name, connected_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (org_id) DO UPDATE SET
             api_token = EXCLUDED.api_token, token_hint = EXCLUDED.token_hint,
             profile_id = EXCLUDED.profile_id, profile_type = EXCLUDED.profile_type,
             profile_name = EXCLUDED.profile_name, connected_by = EXCLUDED.connected_by,
             connected_at = now()",
        org,
        sealed,
        connection::token_ending(&token),
        profile.id,
        profile.kind,
        profile.name,
        user
    )
    .execute(&mut *tx)
    .await;
    match stored {
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
            return Err(ApiError::conflict(
                "wise_profile_in_use",
                "another organization has connected this Wise profile",
            ));
        }
        other => {
            other?;
        }
    }
    let after = Connection::load(&mut *tx, org)
        .await?
        .ok_or_else(|| ApiError::from(sqlx::Error::RowNotFound))?;
    let change = Change::between(before.as_ref(), Some(&after));
    caller
        .audit(&mut *tx, Action::WiseConnected, org, change)
        .await?;
    Ok(Json(after))
}

/// `DELETE /api/payments/wise`: disconnects Wise (the sealed token is deleted). Payments under
/// way still settle through Wise's webhooks; new ones answer 409 `wise_not_connected`.
#[utoipa::path(delete, path = "/api/payments/wise", operation_id = "disconnect_wise", params(shared::http::openapi::StepUpHeader),
    responses((status = 204, description = "Disconnected"),
        (status = 401, description = "`step_up_required`"),
        (status = 403, description = "`owner_required`, `admin_required`"),
        (status = 409, description = "`wise_not_connected`")))]
pub async fn disconnect(StepUp(mut admin): StepUp<RequireAdmin>) -> Result<StatusCode, ApiError> {
    let (caller, tx) = admin.parts();
    owner_only(caller)?;
    let before = Connection::load(&mut *tx, caller.org_id)
        .await?
        .ok_or_else(connection::not_connected)?;
    sqlx::query!(
        "DELETE FROM wise_connections WHERE org_id = $1",
        caller.org_id
    )
    .execute(&mut *tx)
    .await?;
    caller
        .audit(
            &mut *tx,
            Action::WiseDisconnected,
            caller.org_id,
            Change::deleted(&before),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
