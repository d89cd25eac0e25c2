//! One payment run, from the order locked to the outcome recorded: decide the attempt and mark
//! the payment pending (first transaction, committed), talk to Wise ([`super::send`]), record
//! the outcome (second transaction). `/pay` and an approval both end here.

use std::time::Duration;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use shared::audit::Action;
use shared::auth::caller::TenantDb;
use shared::auth::{Caller, Tenant};
use shared::error::ApiError;
use shared::http::idempotency::Claimed;
use shared::wise::{self, Payment};

use super::plan::{self, Plan};
use super::record::{self, Outcome, audit_payment};
use super::send::{self, Progress, SendError};
use crate::purchase_orders::order::{self, PurchaseOrder};
use crate::state::InventoryState;

/// The longest a run may talk to Wise (the function's timeout is 30 s). Past it, a run that had
/// no transfer yet is recorded as failed (nothing was funded) and may be retried; once the
/// transfer exists, Wise may have funded it, so the payment stays pending and is checked again.
const WISE_DEADLINE: Duration = Duration::from_secs(25);

/// Pays `order` (locked in `tenant`'s open transaction, its approval settled): decides the
/// attempt, marks the payment pending and commits, talks to Wise, records the outcome. `/pay`
/// and an approval both end here.
pub(super) async fn run(
    state: &InventoryState,
    Tenant { caller, mut db }: Tenant,
    order: PurchaseOrder,
    source_currency: Option<String>,
    claimed: Option<Claimed>,
) -> Result<Response, ApiError> {
    let tx = &mut *db;
    let org = caller.org_id;
    let id = order.id;
    let client =
        wise::connection::client(&mut *tx, &state.app.settings.keys, state.wise_api()?, org)
            .await?;
    let plan = plan::prepare(
        &mut *tx,
        state,
        client.profile_id(),
        org,
        &order,
        source_currency,
    )
    .await?;
    let before = order.payment.clone();
    plan::start(&mut *tx, &plan, client.profile_id()).await?;
    audit_payment(
        &mut *tx,
        &caller,
        id,
        Action::PaymentStarted,
        before.as_ref(),
        None,
    )
    .await?;
    // Committed, and no transaction is held while Wise answers: each step below opens its own.
    db.suspend(true).await?;

    // The key's claim is committed with the `pending` payment, so from here on an error would
    // leave it claimed (retries answered `idempotency_in_progress` for 24 h): every error exit
    // releases it. Errors are never stored for replay in this project; only a response that
    // did the work is (an error before this commit rolls the claim back with its transaction).
    let result = settle(&client, &mut db, &caller, &plan, claimed.as_ref()).await;
    if result.is_err()
        && let Some(claimed) = claimed
    {
        release(&mut db, claimed).await;
    }
    result
}

/// Talks to Wise, then records the outcome and audits it (second transaction): the order, or
/// the problem to answer.
async fn settle(
    client: &wise::Client,
    db: &mut TenantDb,
    caller: &Caller,
    plan: &Plan,
    claimed: Option<&Claimed>,
) -> Result<Response, ApiError> {
    let mut progress = Progress::default();
    let sent = tokio::time::timeout(
        WISE_DEADLINE,
        send::send(client, &mut *db, caller, plan, &mut progress),
    )
    .await;
    let outcome = match sent {
        Ok(Ok(transfer)) => Outcome::Sent(transfer),
        Ok(Err(SendError::Wise { error, state })) => match progress.transfer_id {
            Some(transfer_id) if state.is_none() && !error.is_refusal() => {
                Outcome::Unknown { error, transfer_id }
            }
            _ => Outcome::Refused { error, state },
        },
        Ok(Err(SendError::Api(error))) => return Err(error),
        Err(_) => {
            let error = wise::Error::local("timeout", "Wise did not finish in time");
            match progress.transfer_id {
                Some(transfer_id) => Outcome::Unknown { error, transfer_id },
                // No transfer yet, so nothing funded: a plain failure, retried with `/pay`.
                None => Outcome::Refused { error, state: None },
            }
        }
    };

    // A step cut off by the deadline may have left its transaction open: drop it.
    db.suspend(false).await?;
    db.resume().await?;
    let tx = &mut **db;
    let before = Payment::load(&mut *tx, plan.org, plan.order).await?;
    let status = record::record(&mut *tx, plan, &outcome).await?;
    let action = match outcome {
        Outcome::Unknown { .. } => Action::PaymentUnconfirmed,
        _ => status.action(),
    };
    audit_payment(&mut *tx, caller, plan.order, action, before.as_ref(), None).await?;
    let result = match outcome {
        Outcome::Sent(_) => {
            let order = order::load(&mut *tx, plan.org, plan.order, false).await?;
            if let Some(claimed) = claimed {
                claimed.store(&mut *tx, StatusCode::OK, &order).await?;
            }
            Ok(axum::Json(order).into_response())
        }
        Outcome::Refused { error, .. } => {
            let detail = match error.status {
                Some(_) => format!("Wise refused the payment: {}", error.message),
                None => format!("the payment did not go through: {}", error.message),
            };
            Err(ApiError::Upstream {
                code: "wise_error",
                detail,
            })
        }
        Outcome::Unknown { error, transfer_id } => Err(ApiError::Upstream {
            code: "wise_unreachable",
            detail: format!(
                "Wise did not confirm the payment ({}). Its transfer {transfer_id} exists and \
                 may have been funded, so the payment stays pending while the outcome is \
                 checked: Wise's webhook updates it, and /pay checks it again after 2 minutes. \
                 Do not pay this order another way meanwhile.",
                error.message
            ),
        }),
    };
    // Kept whatever the answer: a refusal is recorded as `failed`, an unknown end as pending.
    db.suspend(true).await?;
    result
}

/// Frees the request's `Idempotency-Key` after an error, in a transaction of its own (what
/// failed since the last commit is dropped first). If even that fails, the key stays claimed
/// until it expires (24 h).
async fn release(db: &mut TenantDb, claimed: Claimed) {
    let released = async {
        db.suspend(false).await?;
        db.resume().await?;
        claimed.release(db).await?;
        db.suspend(true).await?;
        Ok::<_, ApiError>(())
    }
    .await;
    if let Err(error) = released {
        tracing::warn!(%error, "could not release the Idempotency-Key of a failed payment run");
    }
}
