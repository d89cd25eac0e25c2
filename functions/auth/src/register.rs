//! `POST /api/auth/register`: a new organization and its owner, signed in.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use shared::AppState;
use shared::audit::{Action, Actor, Change, Entry};
use shared::auth::password::Password;
use shared::auth::{ClientIp, Role};
use shared::domain::{self, Email};
use shared::error::{ApiError, Fields, ResultExt};
use shared::http::AppJson;

use crate::me::{self, Me};
use crate::session::{self, TokenPair};

/// Only `email` and `password` are needed: the person's name defaults from the email's local
/// part (`ann.smith@...` → "Ann Smith"), the organization's name from the person's name
/// ("Ann Smith's organization"), the default currency to USD.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    #[schema(format = "line", min_length = 1, max_length = 200)]
    organization_name: Option<String>,
    #[schema(format = "line", min_length = 1, max_length = 200)]
    name: Option<String>,
    #[schema(format = Email, max_length = 254)]
    email: String,
    #[schema(format = "new-password")]
    password: String,
    /// ISO 4217 code that products and purchase orders take when they name none (default USD).
    #[schema(value_type = Option<shared::domain::CurrencyCode>)]
    currency: Option<String>,
}

/// "ann.smith_2@example.com" → "Ann Smith 2": the local part's words, capitalised.
fn name_from_email(email: &Email) -> String {
    let local = email.as_str().split('@').next().unwrap_or_default();
    let local = local.split('+').next().unwrap_or_default();
    let words: Vec<String> = local
        .split(['.', '_', '-'])
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut chars = w.chars();
            chars
                .next()
                .map(|first| first.to_uppercase().chain(chars).collect())
                .unwrap_or_default()
        })
        .collect();
    let name = words.join(" ");
    let name: String = name.chars().filter(|c| !c.is_control()).take(200).collect();
    if name.trim().is_empty() {
        "Owner".to_owned()
    } else {
        name
    }
}

/// "Ann Smith" → "Ann Smith's organization" (at most 200 characters).
fn organization_name_for(person: &str) -> String {
    let suffix = "'s organization";
    let room = 200 - suffix.chars().count();
    let person: String = person.chars().take(room).collect();
    format!("{}{suffix}", person.trim_end())
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
    crate::attempt(
        &state,
        "register",
        &ip,
        Some(&body.email.trim().to_lowercase()),
    )
    .await?;

    let mut fields = Fields::default();
    let org_name = body
        .organization_name
        .as_deref()
        .map(|n| fields.check(domain::name(n, "organization_name", 200)));
    let name = body
        .name
        .as_deref()
        .map(|n| fields.check(domain::name(n, "name", 200)));
    let email = fields.check(Email::parse(&body.email, "email"));
    let password = fields.check(Password::new(body.password, "password"));
    let currency = body
        .currency
        .as_deref()
        .map(|c| fields.check(domain::currency(c, "currency")));
    let (Some(email), Some(password)) = (email, password) else {
        return Err(fields.into_error());
    };
    if !fields.is_empty() {
        return Err(fields.into_error());
    }
    let name = name.flatten().unwrap_or_else(|| name_from_email(&email));
    let org_name = org_name
        .flatten()
        .unwrap_or_else(|| organization_name_for(&name));
    let currency = currency.flatten().unwrap_or_else(|| "USD".to_owned());
    let password_hash = password.hash().await?;

    let mut tx = state.pool.begin().await?;
    let org_id = sqlx::query_scalar!(
        "INSERT INTO organizations (name, default_currency) VALUES ($1, $2) RETURNING id",
        org_name,
        currency
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
    let registered = serde_json::json!({
        "organization": org_name,
        "owner": email.as_str(),
        "default_currency": currency,
    });
    Entry::new(Action::Register, org_id)
        .in_org(org_id)
        .by(Actor::User(user_id))
        .change(Change::created(&registered))
        .record(&mut tx)
        .await?;
    let tokens = session::start(&mut tx, &state, user_id, org_id, Role::Owner).await?;
    let me = me::load(&mut tx, user_id).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(Registered { me, tokens })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email(raw: &str) -> Email {
        Email::parse(raw, "email").unwrap()
    }

    #[test]
    fn a_name_is_made_from_the_email_local_part() {
        assert_eq!(
            name_from_email(&email("ann.smith@example.com")),
            "Ann Smith"
        );
        assert_eq!(
            name_from_email(&email("bob_o-neil+shop@x.io")),
            "Bob O Neil"
        );
        assert_eq!(name_from_email(&email("jo@example.com")), "Jo");
        assert_eq!(name_from_email(&email("__@example.com")), "Owner");
    }

    #[test]
    fn the_organization_is_named_after_its_owner_within_200_characters() {
        assert_eq!(
            organization_name_for("Ann Smith"),
            "Ann Smith's organization"
        );
        let long = organization_name_for(&"x".repeat(300));
        assert_eq!(long.chars().count(), 200);
        assert!(long.ends_with("'s organization"));
    }
}
