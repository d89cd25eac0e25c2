//! `POST /api/auth/register`: a new organization and its owner, signed in.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use shared::AppState;
use shared::audit::{self, Actor, Entry};
use shared::auth::password::Password;
use shared::auth::{ClientIp, Role};
use shared::domain::{self, Email};
use shared::error::{ApiError, Fields, ResultExt};
use shared::http::AppJson;

use crate::me::{self, Me};
use crate::session::{self, TokenPair};

#[derive(Deserialize, utoipa::ToSchema)]
pub struct RegisterRequest {
    #[schema(min_length = 1, max_length = 200)]
    organization_name: String,
    #[schema(min_length = 1, max_length = 200)]
    name: String,
    #[schema(max_length = 254)]
    email: String,
    #[schema(min_length = 8)]
    password: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Registered {
    #[serde(flatten)]
    me: Me,
    #[serde(flatten)]
    tokens: TokenPair,
}

#[utoipa::path(post, path = "/api/auth/register", security(()), request_body = RegisterRequest,
    responses((status = 201, description = "The organization, its owner and a session", body = Registered),
        (status = 409, description = "The email is taken"),
        (status = 429, description = "Too many attempts")))]
pub async fn register(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    AppJson(body): AppJson<RegisterRequest>,
) -> Result<(StatusCode, Json<Registered>), ApiError> {
    crate::limit(
        &state,
        "register",
        &ip,
        Some(&body.email.trim().to_lowercase()),
    )
    .await?;

    let mut fields = Fields::default();
    let org_name = fields.check(domain::name(
        &body.organization_name,
        "organization_name",
        200,
    ));
    let name = fields.check(domain::name(&body.name, "name", 200));
    let email = fields.check(Email::parse(&body.email, "email"));
    let password = fields.check(Password::new(body.password, "password"));
    let (Some(org_name), Some(name), Some(email), Some(password)) =
        (org_name, name, email, password)
    else {
        return Err(fields.into_error());
    };
    let password_hash = password.hash().await?;

    let mut tx = state.pool.begin().await?;
    let org_id = sqlx::query_scalar!(
        "INSERT INTO organizations (name) VALUES ($1) RETURNING id",
        org_name
    )
    .fetch_one(&mut *tx)
    .await?;
    let user_id = sqlx::query_scalar!(
        "INSERT INTO users (org_id, email, name, password_hash, role)
         VALUES ($1, $2, $3, $4, 'owner') RETURNING id",
        org_id,
        email.as_str(),
        name,
        password_hash
    )
    .fetch_one(&mut *tx)
    .await
    .on_constraint("users_email_key", |_| {
        ApiError::conflict("email_taken", "an account with this email already exists")
    })?;
    audit::record(
        &mut tx,
        Entry {
            org_id: Some(org_id),
            actor: Actor::User(user_id),
            action: "register",
            entity: "organization",
            entity_id: Some(org_id),
            before: None,
            after: Some(serde_json::json!({ "organization": org_name, "owner": email.as_str() })),
            ip: Some(&ip),
        },
    )
    .await?;
    let tokens = session::start(&mut tx, &state, user_id, org_id, Role::Owner).await?;
    let me = me::load(&mut tx, user_id).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(Registered { me, tokens })))
}
