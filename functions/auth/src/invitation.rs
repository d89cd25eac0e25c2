//! `POST /api/auth/invitation/accept`: an invited person joins the organization that invited
//! them. Someone new to Stockroom chooses their password (`{token, password}`); someone who has
//! an account accepts signed in (`{token}` with their access token), and their session moves to
//! the organization. Either way the answer is a sign-in's in that organization.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::json;
use shared::AppState;
use shared::audit::{Action, Actor, Change, Entry};
use shared::auth::membership::tell_owners_of_new_admin;
use shared::auth::password::Password;
use shared::auth::{AuthUser, ClientIp, Role};
use shared::error::ApiError;
use shared::http::AppJson;

use crate::session::{self, SignedIn};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptRequest {
    /// The token of the invitation's link.
    token: String,
    /// For someone new to Stockroom: the password they choose (any access token sent is then
    /// ignored). Leave it out to accept with the account you have, signed in
    /// (`Authorization: Bearer <access token>`).
    #[schema(format = "new-password")]
    password: Option<String>,
}

fn invalid_invitation() -> ApiError {
    ApiError::unauthorized(
        "invalid_invitation",
        "the invitation is invalid, used, cancelled or expired",
    )
}

#[utoipa::path(post, path = "/api/auth/invitation/accept", security(()), request_body = AcceptRequest,
    responses((status = 200, description = "The invitation is accepted; the person is signed in to the organization", body = SignedIn),
        (status = 401, description = "`invalid_invitation`: unknown, used, cancelled or expired"),
        (status = 403, description = "`invitation_for_another_account`: the invitation was sent to another address than the signed-in account's"),
        (status = 409, description = "`account_exists`: the address has an account; sign in and accept with your access token"),
        (status = 422, description = "`password` is missing (not signed in) or too weak"),
        (status = 429, description = "Too many attempts")))]
pub async fn accept(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    signed_in: Option<AuthUser>,
    AppJson(body): AppJson<AcceptRequest>,
) -> Result<Json<SignedIn>, ApiError> {
    crate::redeem_mailed_token(&state, "invitation", &ip, &body.token, async |hash| {
        // A password: someone new to Stockroom (a token sent along is not theirs to use).
        let signed_in = match body.password {
            Some(_) => None,
            None => signed_in,
        };
        let password_hash = match (&signed_in, body.password) {
            (_, Some(password)) => Some(Password::new(password, "password")?.hash().await?),
            (None, None) => {
                return Err(ApiError::invalid_field(
                    "password",
                    "required",
                    "choose a password, or sign in and accept with your access token",
                ));
            }
            (Some(_), None) => None,
        };

        let mut tx = state.pool.begin().await?;
        let invitation = sqlx::query!(
            r#"SELECT i.id, i.user_id, i.org_id AS "org_id!", m.role AS "role: Role",
                          u.password_hash IS NOT NULL AS "has_account!", u.email, u.name,
                          inviter.name AS "inviter?"
                   FROM user_invitations i
                   JOIN memberships m ON m.org_id = i.org_id AND m.user_id = i.user_id
                   JOIN users u ON u.id = i.user_id
                   LEFT JOIN users inviter ON inviter.id = m.invited_by
                   WHERE i.token_hash = $1 AND i.used_at IS NULL AND i.expires_at > now()
                     AND m.is_active AND m.joined_at IS NULL
                   FOR UPDATE OF i, m"#,
            hash
        )
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(invalid_invitation)?;
        let (person, org_id, role) = (invitation.user_id, invitation.org_id, invitation.role);
        match (&signed_in, password_hash) {
            (Some(user), _) if user.user_id != person => {
                return Err(ApiError::forbidden(
                    "invitation_for_another_account",
                    "this invitation was sent to another address than your account's: sign \
                         in with that address's account, or ask for an invitation to yours",
                ));
            }
            (None, _) if invitation.has_account => {
                return Err(ApiError::conflict(
                    "account_exists",
                    "this address has a Stockroom account: sign in and accept the invitation \
                         with your access token (or reset your password if you forgot it)",
                ));
            }
            (None, Some(password_hash)) => {
                sqlx::query!(
                    "UPDATE users SET password_hash = $2, updated_at = now() WHERE id = $1",
                    person,
                    password_hash
                )
                .execute(&mut *tx)
                .await?;
            }
            _ => {}
        }
        sqlx::query!(
            "UPDATE user_invitations SET used_at = now() WHERE id = $1",
            invitation.id
        )
        .execute(&mut *tx)
        .await?;
        sqlx::query!(
            "UPDATE memberships SET joined_at = now(), updated_at = now()
                 WHERE user_id = $1 AND org_id = $2",
            person,
            org_id
        )
        .execute(&mut *tx)
        .await?;
        Entry::new(Action::InvitationAccepted, person)
            .in_org(org_id)
            .by(Actor::User(person))
            .change(Change::none().after(&json!({ "role": role })))
            .record(&mut tx)
            .await?;
        if role.is_admin() {
            let who = (invitation.name.as_str(), invitation.email.as_str());
            let by = invitation.inviter.as_deref().unwrap_or("an owner or admin");
            let cooling_off = state.settings.admin_cooling_off;
            tell_owners_of_new_admin(&mut tx, &state.outbox, org_id, who, role, by, cooling_off)
                .await?;
        }
        let tokens = match &signed_in {
            Some(user) => {
                let session = (person, user.session_id);
                crate::organizations::move_session(&mut tx, &state, session, org_id, role).await?
            }
            None => session::start(&mut tx, &state, person, org_id, role).await?,
        };
        let me = crate::me::load(&mut tx, person, org_id).await?;
        tx.commit().await?;
        Ok(Json(SignedIn { me, tokens }))
    })
    .await
}
