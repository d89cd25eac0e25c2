//! The organization's payment policy: `/api/payments/policy`.
//!
//! Payments of at least the approval threshold need a second owner's or admin's approval
//! ([`super::approvals`]). Owners set it (`PUT`, with a step-up). Making it stricter (a lower
//! threshold, a threshold where there was none) applies at once; loosening it (a higher
//! threshold, none at all, another currency) is exactly what one person alone must not do, so
//! when the organization has another owner the change waits for that owner's approval
//! (`POST .../approve`, with a step-up; `POST .../reject` turns it down or withdraws it), and
//! the other owners are mailed. An owner or admin made so recently by someone else cannot change
//! the policy or approve a change (their cooling-off, `ADMIN_COOLING_OFF_HOURS`). Every step is
//! audited in its transaction.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use shared::AppState;
use shared::audit::{Action, Change};
use shared::auth::membership::require_settled_admin;
use shared::auth::{RequireAdmin, StepUp};
use shared::email::outbox::{Mail, Text};
use shared::error::ApiError;
use shared::http::AppJson;
use sqlx::PgConnection;
use uuid::Uuid;

use super::approvals::PAYEE_COOLING_OFF_HOURS;
use super::wise_account::{owner_only, person_required};
use crate::purchase_orders::order::ApprovalStatus;

/// The organization's payment policy.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Policy {
    /// Payments of at least this much (in `approval_currency`; any amount in another currency)
    /// need a second owner's or admin's approval; `null`: no threshold.
    #[serde(with = "rust_decimal::serde::str_option")]
    #[schema(value_type = Option<String>, example = "1000.00")]
    approval_threshold: Option<Decimal>,
    #[schema(value_type = Option<shared::domain::CurrencyCode>)]
    approval_currency: Option<String>,
    /// Payments to bank details set or changed within this many hours always need one.
    payee_change_hours: i32,
    updated_by: Option<Uuid>,
    updated_at: Option<DateTime<Utc>>,
    /// A loosening that waits for a second owner's approval.
    pending_change: Option<PolicyChange>,
}

/// A change of the policy that waits for a second owner.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct PolicyChange {
    id: Uuid,
    /// The threshold it would set (`null`: none).
    #[serde(with = "rust_decimal::serde::str_option")]
    #[schema(value_type = Option<String>, example = "5000.00")]
    approval_threshold: Option<Decimal>,
    #[schema(value_type = Option<shared::domain::CurrencyCode>)]
    approval_currency: Option<String>,
    requested_by: Uuid,
    requested_at: DateTime<Utc>,
}

/// A threshold and its currency (both `None`: no threshold).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Threshold {
    amount: Option<Decimal>,
    currency: Option<String>,
}

impl Threshold {
    /// Whether `next` asks for fewer approvals than `self`: none where there was one, a higher
    /// amount, or another currency (which cannot be compared without a rate).
    fn loosened_by(&self, next: &Threshold) -> bool {
        match (self.amount, next.amount) {
            (Some(_), None) => true,
            (Some(now), Some(then)) => self.currency != next.currency || then > now,
            (None, _) => false,
        }
    }
}

async fn load(conn: &mut PgConnection, org: Uuid) -> Result<Policy, ApiError> {
    let row = sqlx::query!(
        "SELECT approval_threshold, approval_currency, updated_by, updated_at
         FROM payment_policies WHERE org_id = $1",
        org
    )
    .fetch_optional(&mut *conn)
    .await?;
    let pending_change = pending(&mut *conn, org, false).await?;
    let hours = PAYEE_COOLING_OFF_HOURS;
    Ok(match row {
        Some(row) => Policy {
            approval_threshold: row.approval_threshold,
            approval_currency: row.approval_currency,
            payee_change_hours: hours,
            updated_by: Some(row.updated_by),
            updated_at: Some(row.updated_at),
            pending_change,
        },
        None => Policy {
            approval_threshold: None,
            approval_currency: None,
            payee_change_hours: hours,
            updated_by: None,
            updated_at: None,
            pending_change,
        },
    })
}

/// The change waiting for a second owner, locked with `lock`.
async fn pending(
    conn: &mut PgConnection,
    org: Uuid,
    lock: bool,
) -> Result<Option<PolicyChange>, ApiError> {
    let row = if lock {
        sqlx::query_as!(
            PolicyChange,
            "SELECT id, approval_threshold, approval_currency, requested_by, requested_at
             FROM payment_policy_changes WHERE org_id = $1 AND status = 'pending' FOR UPDATE",
            org
        )
        .fetch_optional(conn)
        .await?
    } else {
        sqlx::query_as!(
            PolicyChange,
            "SELECT id, approval_threshold, approval_currency, requested_by, requested_at
             FROM payment_policy_changes WHERE org_id = $1 AND status = 'pending'",
            org
        )
        .fetch_optional(conn)
        .await?
    };
    Ok(row)
}

/// `GET /api/payments/policy`.
#[utoipa::path(get, path = "/api/payments/policy", operation_id = "get_payment_policy",
    responses((status = 200, body = Policy), (status = 403, description = "`admin_required`")))]
pub async fn get(mut admin: RequireAdmin) -> Result<Json<Policy>, ApiError> {
    let org = admin.caller.org_id;
    Ok(Json(load(&mut admin.db, org).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyInput {
    /// A decimal amount (`"1000.00"`), or `null` (or absent) for no threshold.
    #[schema(value_type = Option<String>, pattern = r"^\d{1,12}(\.\d{1,2})?$", example = "1000.00")]
    #[serde(default, with = "shared::domain::money_text::option")]
    approval_threshold: Option<Decimal>,
    /// The threshold's currency; the organization's default currency when absent.
    #[schema(value_type = Option<shared::domain::CurrencyCode>)]
    approval_currency: Option<shared::domain::Currency>,
}

/// `PUT /api/payments/policy` `{approval_threshold, approval_currency?}`: sets (or, with `null`,
/// lifts) the approval threshold. Owners only, with a step-up. Stricter: 200, applied. Looser,
/// with another owner in the organization: 202, waiting for their approval (`pending_change`).
#[utoipa::path(put, path = "/api/payments/policy", operation_id = "set_payment_policy", params(shared::http::openapi::StepUpHeader), request_body = PolicyInput,
    responses((status = 200, description = "Applied", body = Policy),
        (status = 202, description = "A loosening that waits for a second owner's approval (`pending_change`); the other owners are mailed", body = Policy),
        (status = 401, description = "`step_up_required`"),
        (status = 403, description = "`owner_required`, `admin_required`; `admin_cooling_off`: made an owner too recently"),
        (status = 422, description = "Not an amount or a currency")))]
pub async fn set(
    State(state): State<AppState>,
    StepUp(mut admin): StepUp<RequireAdmin>,
    AppJson(body): AppJson<PolicyInput>,
) -> Result<Response, ApiError> {
    let (caller, user) = settled_owner(&state, &mut admin, "change the payment policy").await?;
    let org = caller.org_id;
    let tx = &mut *admin.db;
    // `approval_currency` was checked as the body was read (`domain::Currency`).
    let currency = match (body.approval_threshold, body.approval_currency) {
        (None, _) => None,
        (Some(_), Some(currency)) => Some(String::from(currency)),
        (Some(_), None) => Some(
            sqlx::query_scalar!(
                r#"SELECT default_currency AS "currency!" FROM organizations WHERE id = $1"#,
                org
            )
            .fetch_one(&mut *tx)
            .await?,
        ),
    };
    let next = Threshold {
        amount: body.approval_threshold,
        currency,
    };
    // The policy's row (made if missing) is locked, so changes of one organization's policy
    // are made one at a time.
    sqlx::query!(
        "SELECT 1 AS one FROM organizations WHERE id = $1 FOR UPDATE",
        org
    )
    .fetch_one(&mut *tx)
    .await?;
    let before = load(&mut *tx, org).await?;
    let now = Threshold {
        amount: before.approval_threshold,
        currency: before.approval_currency.clone(),
    };
    let other_owners = sqlx::query_scalar!(
        r#"SELECT u.email FROM memberships m JOIN users u ON u.id = m.user_id
           WHERE m.org_id = $1 AND m.role = 'owner' AND m.is_active
             AND m.joined_at IS NOT NULL AND m.user_id <> $2
           ORDER BY u.email"#,
        org,
        user
    )
    .fetch_all(&mut *tx)
    .await?;
    // A new request replaces one that waits.
    if let Some(open) = pending(&mut *tx, org, true).await? {
        decide(&mut *tx, &caller, open, ApprovalStatus::Cancelled).await?;
    }
    if !now.loosened_by(&next) || other_owners.is_empty() {
        apply(&mut *tx, &caller, org, &next, user).await?;
        let after = load(&mut *tx, org).await?;
        return Ok((StatusCode::OK, Json(after)).into_response());
    }
    let change = sqlx::query_as!(
        PolicyChange,
        "INSERT INTO payment_policy_changes (org_id, approval_threshold, approval_currency,
                                             requested_by)
         VALUES ($1, $2, $3, $4)
         RETURNING id, approval_threshold, approval_currency, requested_by, requested_at",
        org,
        next.amount,
        next.currency,
        user
    )
    .fetch_one(&mut *tx)
    .await?;
    caller
        .audit(
            &mut *tx,
            Action::PaymentPolicyChangeRequested,
            org,
            Change::created(&change),
        )
        .await?;
    let describe = |t: &Threshold| match (&t.amount, &t.currency) {
        (Some(amount), Some(currency)) => format!("{amount} {currency}"),
        _ => "none (no approvals by amount)".to_owned(),
    };
    let text = Text::new(
        "A change of the payment approval threshold waits for you",
        format!(
            "Another owner asked to change the threshold above which payments need a second \
             person's approval:\n\nNow:       {}\nRequested: {}\n\n\
             It applies only once a second owner approves it. Sign in at {}/settings/payments \
             to approve or reject it. If you did not expect this, reject it and ask them why.\n",
            describe(&now),
            describe(&next),
            state.settings.app_url
        ),
    );
    for owner in other_owners {
        let mail = Mail::to("payment_policy_change", owner, text.clone());
        state.outbox.queue(&mut *tx, Some(org), mail).await?;
    }
    let after = load(&mut *tx, org).await?;
    Ok((StatusCode::ACCEPTED, Json(after)).into_response())
}

/// The caller, an owner (403 `owner_required`) who is a person (API keys never are) past any
/// cooling-off (403 `admin_cooling_off`: they cannot `what` yet), and their id.
async fn settled_owner(
    state: &AppState,
    admin: &mut RequireAdmin,
    what: &str,
) -> Result<(shared::auth::Caller, Uuid), ApiError> {
    let caller = admin.caller.clone();
    owner_only(&caller)?;
    let user = caller.user_id().ok_or_else(person_required)?;
    let cooling_off = state.settings.admin_cooling_off;
    require_settled_admin(&mut admin.db, caller.org_id, user, cooling_off, what).await?;
    Ok((caller, user))
}

/// Writes `next` as the policy, audited.
async fn apply(
    conn: &mut PgConnection,
    caller: &shared::auth::Caller,
    org: Uuid,
    next: &Threshold,
    by: Uuid,
) -> Result<(), ApiError> {
    let before = load(&mut *conn, org).await?;
    sqlx::query!(
        "INSERT INTO payment_policies (org_id, approval_threshold, approval_currency, updated_by)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT (org_id) DO UPDATE SET approval_threshold = EXCLUDED.approval_threshold,
             approval_currency = EXCLUDED.approval_currency, updated_by = EXCLUDED.updated_by,
             updated_at = now()",
        org,
        next.amount,
        next.currency,
        by
    )
    .execute(&mut *conn)
    .await?;
    let after = load(&mut *conn, org).await?;
    caller
        .audit(
            conn,
            Action::PaymentPolicyUpdated,
            org,
            Change::updated(&before, &after),
        )
        .await
}

/// Records a decision on the waiting change (audited).
async fn decide(
    conn: &mut PgConnection,
    caller: &shared::auth::Caller,
    change: PolicyChange,
    status: ApprovalStatus,
) -> Result<(), ApiError> {
    sqlx::query!(
        "UPDATE payment_policy_changes SET status = $3, decided_by = $4, decided_at = now()
         WHERE org_id = $1 AND id = $2 AND status = 'pending'",
        caller.org_id,
        change.id,
        status as ApprovalStatus,
        caller.user_id()
    )
    .execute(&mut *conn)
    .await?;
    let action = match status {
        ApprovalStatus::Approved => Action::PaymentPolicyChangeApproved,
        ApprovalStatus::Rejected => Action::PaymentPolicyChangeRejected,
        ApprovalStatus::Cancelled | ApprovalStatus::Pending => Action::PaymentPolicyChangeCancelled,
    };
    let after = serde_json::json!({ "id": change.id, "status": status });
    caller
        .audit(
            conn,
            action,
            caller.org_id,
            Change::updated(&change, &after),
        )
        .await
}

fn nothing_waits() -> ApiError {
    ApiError::conflict(
        "no_pending_change",
        "no change of the payment policy waits for approval",
    )
}

/// `POST /api/payments/policy/approve`: a second owner approves the change that waits, which
/// applies at once. Not the owner who asked for it; not an owner still in their cooling-off.
#[utoipa::path(post, path = "/api/payments/policy/approve", operation_id = "approve_payment_policy_change", params(shared::http::openapi::StepUpHeader),
    responses((status = 200, description = "Approved and applied", body = Policy),
        (status = 401, description = "`step_up_required`"),
        (status = 403, description = "`own_change`: the owner who asked cannot approve it; `owner_required`; `admin_cooling_off`"),
        (status = 409, description = "`no_pending_change`")))]
pub async fn approve(
    State(state): State<AppState>,
    StepUp(mut admin): StepUp<RequireAdmin>,
) -> Result<Json<Policy>, ApiError> {
    let (caller, user) =
        settled_owner(&state, &mut admin, "approve payment policy changes").await?;
    let org = caller.org_id;
    let tx = &mut *admin.db;
    let change = pending(&mut *tx, org, true)
        .await?
        .ok_or_else(nothing_waits)?;
    if change.requested_by == user {
        return Err(ApiError::forbidden(
            "own_change",
            "a loosening of the payment policy is approved by a second owner, not by the one \
             who asked for it",
        ));
    }
    let next = Threshold {
        amount: change.approval_threshold,
        currency: change.approval_currency.clone(),
    };
    let requested_by = change.requested_by;
    decide(&mut *tx, &caller, change, ApprovalStatus::Approved).await?;
    apply(&mut *tx, &caller, org, &next, requested_by).await?;
    Ok(Json(load(&mut *tx, org).await?))
}

/// `POST /api/payments/policy/reject`: an owner turns the waiting change down (the one who asked
/// withdraws it the same way).
#[utoipa::path(post, path = "/api/payments/policy/reject", operation_id = "reject_payment_policy_change",
    responses((status = 200, description = "Rejected; the policy is unchanged", body = Policy),
        (status = 403, description = "`owner_required`, `admin_required`"),
        (status = 409, description = "`no_pending_change`")))]
pub async fn reject(mut admin: RequireAdmin) -> Result<Json<Policy>, ApiError> {
    let (caller, tx) = admin.parts();
    owner_only(caller)?;
    let org = caller.org_id;
    let change = pending(&mut *tx, org, true)
        .await?
        .ok_or_else(nothing_waits)?;
    decide(&mut *tx, caller, change, ApprovalStatus::Rejected).await?;
    Ok(Json(load(&mut *tx, org).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(amount: Option<&str>, currency: Option<&str>) -> Threshold {
        Threshold {
            amount: amount.map(|a| a.parse().unwrap()),
            currency: currency.map(str::to_owned),
        }
    }

    #[test]
    fn fewer_approvals_is_a_loosening_and_more_is_not() {
        let eur_1000 = t(Some("1000"), Some("EUR"));
        assert!(eur_1000.loosened_by(&t(Some("1000.01"), Some("EUR"))));
        assert!(eur_1000.loosened_by(&t(None, None)));
        assert!(
            eur_1000.loosened_by(&t(Some("10"), Some("USD"))),
            "not comparable"
        );
        assert!(!eur_1000.loosened_by(&t(Some("999"), Some("EUR"))));
        assert!(!eur_1000.loosened_by(&eur_1000.clone()));
        assert!(!t(None, None).loosened_by(&eur_1000));
        assert!(!t(None, None).loosened_by(&t(None, None)));
    }
}
