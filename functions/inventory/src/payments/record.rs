//! The second transaction of a run: how the Wise step ended, written onto the payment unless a
//! webhook moved it meanwhile, and the audit row of each step.

use shared::audit::{Action, Change};
use shared::auth::Caller;
use shared::error::ApiError;
use shared::wise::{self, Payment, PaymentStatus, Transfer, TransferState, Transition};
use sqlx::PgConnection;
use uuid::Uuid;

use super::plan::Plan;

/// How the Wise step ended.
pub(super) enum Outcome {
    /// The transfer is funded (now or before) and on its way, or already paid out.
    Sent(Transfer),
    /// Wise refused a step (or the transfer is stopped); `state` is the transfer's state when
    /// one is known. Nothing was funded that the payment's state does not show.
    Refused {
        error: wise::Error,
        state: Option<TransferState>,
    },
    /// The transfer exists but how the run ended is not known: the deadline cut it off, Wise
    /// could not be reached, answered 5xx or could not be read. Wise may have funded it, so the
    /// payment stays `pending` (blocking a cancel or a second payment) until a webhook or the
    /// takeover's look at the transfer settles it.
    Unknown {
        error: wise::Error,
        transfer_id: i64,
    },
}

/// Records how the Wise step ended (second transaction); returns the payment's status. A
/// webhook that moved the payment meanwhile wins: only a `pending` payment of this attempt
/// takes the outcome's status.
pub(super) async fn record(
    tx: &mut PgConnection,
    plan: &Plan,
    outcome: &Outcome,
) -> Result<PaymentStatus, ApiError> {
    let current = sqlx::query!(
        r#"SELECT status AS "status: PaymentStatus", customer_transaction_id, wise_state, wise_state_at
           FROM purchase_order_payments WHERE org_id = $1 AND purchase_order_id = $2 FOR UPDATE"#,
        plan.org,
        plan.order
    )
    .fetch_one(&mut *tx)
    .await?;
    if current.customer_transaction_id != plan.customer_transaction_id {
        return Ok(current.status);
    }
    let reported = match outcome {
        Outcome::Sent(transfer) => TransferState::parse(&transfer.status),
        Outcome::Refused { state, .. } => *state,
        Outcome::Unknown { .. } => None,
    };
    let recorded = current.wise_state.as_deref().and_then(TransferState::parse);
    // A state read from an API answer has no event time: it replaces the recorded state (and
    // its time, now meaningless) with NULL, so a late webhook is ordered by state against it.
    let replaced =
        reported.filter(|state| wise::supersedes(*state, None, recorded, current.wise_state_at));
    let (status, failure) = match (current.status, outcome) {
        (PaymentStatus::Pending, Outcome::Sent(_)) => (
            reported
                .and_then(TransferState::payment_status)
                .unwrap_or(PaymentStatus::Processing),
            None,
        ),
        (PaymentStatus::Pending, Outcome::Refused { error, state }) => (
            state
                .and_then(TransferState::payment_status)
                .unwrap_or(PaymentStatus::Failed),
            Some(error),
        ),
        // An unknown outcome leaves the payment as it is: `pending` unless a webhook moved it.
        (status, _) => (status, None),
    };
    let failure = failure.map(|e| (e.code.as_str(), e.message.as_str()));
    Payment::transition(
        tx,
        plan.org,
        plan.order,
        Transition {
            status,
            // A state read from an API answer has no event time.
            state: replaced.map(|state| (state, None)),
            failure,
        },
    )
    .await?;
    Ok(status)
}

/// Audits a step of the payment: the payment before and after (plus `extra` fields in `after`,
/// for ids the payment does not show).
pub(super) async fn audit_payment(
    tx: &mut PgConnection,
    caller: &Caller,
    order: Uuid,
    action: Action,
    before: Option<&Payment>,
    extra: Option<serde_json::Value>,
) -> Result<(), ApiError> {
    let after = Payment::load(&mut *tx, caller.org_id, order).await?;
    let mut change = Change::between(before, after.as_ref());
    if let Some(extra) = extra {
        change = change.with_after_fields(extra);
    }
    caller.audit(tx, action, order, change).await
}
