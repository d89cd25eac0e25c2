//! `POST /api/auth/register` and `POST /api/auth/register/confirm`: a new organization and its
//! owner, once the address is confirmed.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use shared::AppState;
use shared::audit::{Action, Actor, Change, Entry};
use shared::auth::password::Password;
use shared::auth::tokens;
use shared::auth::{ClientIp, Role};
use shared::domain::Email;
use shared::email::outbox::{Mail, Text};
use shared::error::{ApiError, Fields};
use shared::http::AppJson;

use crate::login::LoginResponse;

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
    currency: Option<shared::domain::Currency>,
}

/// A [`RegisterRequest`] checked.
struct NewRegistration {
    organization_name: Option<String>,
    name: Option<String>,
    email: Email,
    password: Password,
    currency: String,
}

impl TryFrom<RegisterRequest> for NewRegistration {
    type Error = ApiError;

    /// Every invalid field in one 422.
    fn try_from(body: RegisterRequest) -> Result<Self, ApiError> {
        let mut fields = Fields::default();
        let organization_name = fields.new_name(body.organization_name, "organization_name", 200);
        let name = fields.new_name(body.name, "name", 200);
        let email = fields.check(Email::parse(&body.email, "email"));
        let password = fields.check(Password::new(body.password, "password"));
        let currency = body.currency.map(String::from);
        match (email, password) {
            (Some(email), Some(password)) if fields.is_empty() => Ok(Self {
                organization_name,
                name,
                email,
                password,
                currency: currency.unwrap_or_else(|| "USD".to_owned()),
            }),
            _ => Err(fields.into_error()),
        }
    }
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

/// How long a registration's confirmation link works.
const CONFIRMATION_TTL_SECS: u64 = 24 * 3600;

#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = RegistrationAccepted)]
pub struct Accepted {
    status: &'static str,
    detail: &'static str,
}

/// `POST /api/auth/register`: asks for a new organization with its owner. Nothing exists until
/// the address is confirmed: the answer is 202 alike for every address, and the address is
/// mailed a link to confirm (`POST /api/auth/register/confirm`), or, when it already has an
/// account, a note saying so (sign in, or reset the password). The mail goes out after the
/// answer, which therefore takes as long for an address with an account as for one without.
#[utoipa::path(post, path = "/api/auth/register", security(()), request_body = RegisterRequest,
    responses((status = 202, description = "The same answer for every address: a confirmation link (or, for an address that has an account, a note) is on its way", body = Accepted),
        (status = 422, description = "Invalid fields, every one listed"),
        (status = 429, description = "Too many attempts")))]
pub async fn register(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    AppJson(body): AppJson<RegisterRequest>,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    crate::attempt(
        &state,
        "register",
        &ip,
        Some(&body.email.trim().to_lowercase()),
    )
    .await?;

    let NewRegistration {
        organization_name,
        name,
        email,
        password,
        currency,
    } = NewRegistration::try_from(body)?;
    let password_hash = password.hash().await?;

    let (token, hash) = tokens::generate("reg");
    let mut tx = state.pool.begin().await?;
    sqlx::query!(
        "INSERT INTO registrations (email, name, organization_name, default_currency,
                                    password_hash, token_hash, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, now() + make_interval(secs => $7))",
        email.as_str(),
        name,
        organization_name,
        currency,
        password_hash,
        hash,
        CONFIRMATION_TTL_SECS as f64
    )
    .execute(&mut *tx)
    .await?;
    let app_url = &state.settings.app_url;
    let confirm = Text::new(
        "Confirm your Stockroom account",
        format!(
            "Someone (we hope you) asked for a Stockroom account with this address.\n\n\
             To confirm it and sign in, open this link within 24 hours:\n\n\
             {app_url}/confirm-registration?token={token}\n\n\
             The link works once. If you did not ask for this, ignore this email: nothing is \
             created without it.\n"
        ),
    );
    let exists = Text::new(
        "You already have a Stockroom account",
        format!(
            "Someone (we hope you) asked for a new Stockroom account with this address, which \
             already has one.\n\n\
             Sign in at {app_url}/sign-in, or choose a new password at \
             {app_url}/forgot-password if you have forgotten it.\n\n\
             To start another organization, sign in and create it from there. If you did not \
             ask for this, ignore this email: nothing was changed.\n"
        ),
    );
    let mail = Mail::depending_on_account("registration", email.as_str(), Some(confirm), exists);
    state.outbox.queue(&mut tx, None, mail).await?;
    tx.commit().await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(Accepted {
            status: "accepted",
            detail: "check your inbox: a link to confirm the address is on its way",
        }),
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmRequest {
    /// The token of the link the registration mailed.
    token: String,
}

fn invalid_confirmation() -> ApiError {
    ApiError::unauthorized(
        "invalid_confirmation",
        "the confirmation link is invalid, used or expired: register again",
    )
}

/// `POST /api/auth/register/confirm` `{token}`: the address is confirmed; the organization and
/// its owner are created and signed in (the answer is a sign-in's). An address that got an
/// account meanwhile is refused 409 `account_exists` (only the address's owner holds the token).
#[utoipa::path(post, path = "/api/auth/register/confirm", operation_id = "confirm_registration", security(()), request_body = ConfirmRequest,
    responses((status = 200, description = "Confirmed: the organization, its owner and a session", body = LoginResponse),
        (status = 401, description = "`invalid_confirmation`: unknown, used or expired link"),
        (status = 409, description = "`account_exists`: the address has an account; sign in instead"),
        (status = 429, description = "Too many attempts")))]
pub async fn confirm(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    AppJson(body): AppJson<ConfirmRequest>,
) -> Result<Json<LoginResponse>, ApiError> {
    crate::redeem_mailed_token(&state, "register_confirm", &ip, &body.token, async |hash| {
        let mut tx = state.pool.begin().await?;
        let registration = sqlx::query!(
            r#"UPDATE registrations SET used_at = now()
               WHERE token_hash = $1 AND used_at IS NULL AND expires_at > now()
               RETURNING email, name, organization_name, default_currency AS "currency!",
                         password_hash"#,
            hash
        )
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(invalid_confirmation)?;
        let email = Email::parse(&registration.email, "email")?;
        let name = registration.name.unwrap_or_else(|| name_from_email(&email));
        let org_name = registration
            .organization_name
            .unwrap_or_else(|| organization_name_for(&name));

        // The address's person: new, or one an organization invited before it had an account
        // (their invitations stay open to accept), or one with an account (refused).
        let person = sqlx::query!(
            "SELECT id, password_hash IS NOT NULL AS \"has_account!\" FROM users
             WHERE lower(email) = $1 FOR UPDATE",
            email.as_str()
        )
        .fetch_optional(&mut *tx)
        .await?;
        let user_id = match person {
            Some(person) if person.has_account => {
                tx.commit().await?;
                return Err(ApiError::conflict(
                    "account_exists",
                    "this address already has an account: sign in (or reset the password)",
                ));
            }
            Some(person) => {
                sqlx::query!(
                    "UPDATE users SET name = $2, password_hash = $3, updated_at = now()
                     WHERE id = $1",
                    person.id,
                    name,
                    registration.password_hash
                )
                .execute(&mut *tx)
                .await?;
                person.id
            }
            None => {
                sqlx::query_scalar!(
                    "INSERT INTO users (email, name, password_hash) VALUES ($1, $2, $3)
                     RETURNING id",
                    email.as_str(),
                    name,
                    registration.password_hash
                )
                .fetch_one(&mut *tx)
                .await?
            }
        };
        let org_id = sqlx::query_scalar!(
            "INSERT INTO organizations (name, default_currency) VALUES ($1, $2) RETURNING id",
            org_name,
            registration.currency
        )
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query!(
            "INSERT INTO memberships (org_id, user_id, role, joined_at)
             VALUES ($1, $2, 'owner', now())",
            org_id,
            user_id
        )
        .execute(&mut *tx)
        .await?;
        let registered = serde_json::json!({
            "organization": org_name,
            "owner": email.as_str(),
            "default_currency": registration.currency,
        });
        Entry::new(Action::Register, org_id)
            .in_org(org_id)
            .by(Actor::User(user_id))
            .change(Change::created(&registered))
            .record(&mut tx)
            .await?;
        let owner = (user_id, org_id, Role::Owner);
        let signed_in = crate::login::sign_in(&mut tx, &state, owner, "registration", None).await?;
        tx.commit().await?;
        Ok(Json(signed_in))
    })
    .await
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
