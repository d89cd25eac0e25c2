//! Talking to Wise: quote, recipient, transfer, funding. Each id Wise gives is written at once
//! in a small audited transaction of its own, so webhooks can find the order and nothing is lost
//! if the run stops.

use shared::audit::{Action, Change};
use shared::auth::Caller;
use shared::auth::caller::TenantDb;
use shared::error::ApiError;
use shared::wise::{self, Payment, Transfer, TransferState};

use super::plan::Plan;
use super::record::audit_payment;

pub(super) enum SendError {
    Wise {
        error: wise::Error,
        state: Option<TransferState>,
    },
    Api(ApiError),
}

impl From<wise::Error> for SendError {
    fn from(error: wise::Error) -> Self {
        Self::Wise { error, state: None }
    }
}

impl From<ApiError> for SendError {
    fn from(error: ApiError) -> Self {
        Self::Api(error)
    }
}

impl From<sqlx::Error> for SendError {
    fn from(error: sqlx::Error) -> Self {
        Self::Api(error.into())
    }
}

/// How far a run got, readable even after the deadline dropped it.
#[derive(Default)]
pub(super) struct Progress {
    /// The transfer, once it is known to exist.
    pub(super) transfer_id: Option<i64>,
}

/// Talks to Wise: quote, recipient, transfer (or the attempt's known transfer), funding. Each
/// id Wise gives is written at once, in a small audited transaction of its own, so nothing is
/// lost if the run stops.
pub(super) async fn send(
    client: &wise::Client,
    db: &mut TenantDb,
    caller: &Caller,
    plan: &Plan,
    progress: &mut Progress,
) -> Result<Transfer, SendError> {
    progress.transfer_id = plan.transfer_id;
    let transfer = match plan.transfer_id {
        Some(transfer_id) => client.transfer(transfer_id).await?,
        None => {
            let quote = client
                .create_quote(&plan.source_currency, &plan.currency, plan.amount)
                .await?;
            let (recipient_id, reused) = match plan.recipient_id {
                Some(recipient_id) => (recipient_id, true),
                None => {
                    let recipient_id = client.create_recipient(&plan.payee).await?;
                    remember_recipient(db, caller, plan, client.profile_id(), recipient_id).await?;
                    (recipient_id, false)
                }
            };
            let transfer = match client
                .create_transfer(
                    recipient_id,
                    quote.id,
                    plan.customer_transaction_id,
                    &plan.reference(),
                )
                .await
            {
                Ok(transfer) => transfer,
                Err(error) => {
                    if reused && error.concerns_recipient() {
                        // Wise no longer takes the stored recipient (removed or deactivated
                        // there): the next run creates a fresh one. Any other refusal (limits,
                        // the quote, a Wise outage) keeps it.
                        forget_recipient(
                            db,
                            caller,
                            plan,
                            client.profile_id(),
                            recipient_id,
                            &error,
                        )
                        .await?;
                    }
                    return Err(error.into());
                }
            };
            progress.transfer_id = Some(transfer.id);
            record_transfer(db, caller, plan, &quote, recipient_id, &transfer).await?;
            transfer
        }
    };
    match TransferState::parse(&transfer.status) {
        Some(TransferState::IncomingPaymentWaiting) => {
            client.fund(transfer.id).await?;
        }
        Some(state) if state.is_stopped() => {
            return Err(SendError::Wise {
                error: wise::Error::local(
                    "transfer_closed",
                    format!(
                        "the transfer for this order is {}{}",
                        state.as_str(),
                        if state.allows_new_attempt() {
                            "; pay again to send a new one"
                        } else {
                            ""
                        }
                    ),
                ),
                state: Some(state),
            });
        }
        // Already funded and on its way, or paid out (or a state this code does not know).
        _ => {}
    }
    Ok(transfer)
}

/// Stores the supplier's new recipient account (with its audit row).
async fn remember_recipient(
    db: &mut TenantDb,
    caller: &Caller,
    plan: &Plan,
    profile_id: i64,
    recipient_id: i64,
) -> Result<(), ApiError> {
    db.resume().await?;
    let tx = &mut **db;
    let inserted = sqlx::query!(
        "INSERT INTO wise_recipients (org_id, supplier_id, wise_profile_id, details_digest, wise_recipient_id)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        plan.org,
        plan.supplier,
        profile_id,
        plan.details_digest,
        recipient_id
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if inserted > 0 {
        let after =
            serde_json::json!({"wise_profile_id": profile_id, "wise_recipient_id": recipient_id});
        caller
            .audit(
                &mut *tx,
                Action::WiseRecipientCreated,
                plan.supplier,
                Change::created(&after),
            )
            .await?;
    }
    db.suspend(true).await?;
    Ok(())
}

/// Forgets a recipient account Wise refused (with its audit row).
async fn forget_recipient(
    db: &mut TenantDb,
    caller: &Caller,
    plan: &Plan,
    profile_id: i64,
    recipient_id: i64,
    error: &wise::Error,
) -> Result<(), ApiError> {
    db.resume().await?;
    let tx = &mut **db;
    let deleted = sqlx::query!(
        "DELETE FROM wise_recipients WHERE org_id = $1 AND supplier_id = $2 AND wise_recipient_id = $3",
        plan.org,
        plan.supplier,
        recipient_id
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if deleted > 0 {
        let before = serde_json::json!({
            "wise_profile_id": profile_id,
            "wise_recipient_id": recipient_id,
            "wise_error": {"code": error.code, "message": error.message},
        });
        caller
            .audit(
                &mut *tx,
                Action::WiseRecipientRemoved,
                plan.supplier,
                Change::deleted(&before),
            )
            .await?;
    }
    db.suspend(true).await?;
    Ok(())
}

/// Writes the transfer Wise made onto the payment (with its audit row). The quote, recipient
/// and cost come from Wise's answer: a repeated `create_transfer` returns the transfer made the
/// first time, with that time's quote and recipient, not the ones this run sent.
async fn record_transfer(
    db: &mut TenantDb,
    caller: &Caller,
    plan: &Plan,
    quote: &wise::Quote,
    recipient_id: i64,
    transfer: &Transfer,
) -> Result<(), ApiError> {
    // Made by this very request when it carries this run's quote; then what was sent holds
    // for anything the answer leaves out.
    let made_now = transfer.quote_uuid == Some(quote.id);
    let recipient = transfer.target_account.or(made_now.then_some(recipient_id));
    let source_amount = transfer
        .source_amount()
        .or(quote.source_amount.filter(|_| made_now));
    db.resume().await?;
    let tx = &mut **db;
    let before = Payment::load(&mut *tx, plan.org, plan.order).await?;
    sqlx::query!(
        "UPDATE purchase_order_payments
         SET wise_quote_id = $4, source_amount = $5, wise_recipient_id = $6, wise_transfer_id = $7,
             wise_state = coalesce(wise_state, $8), updated_at = now()
         WHERE org_id = $1 AND purchase_order_id = $2 AND customer_transaction_id = $3",
        plan.org,
        plan.order,
        plan.customer_transaction_id,
        transfer.quote_uuid,
        source_amount,
        recipient,
        transfer.id,
        transfer.status
    )
    .execute(&mut *tx)
    .await?;
    let ids =
        serde_json::json!({"wise_quote_id": transfer.quote_uuid, "wise_recipient_id": recipient});
    audit_payment(
        &mut *tx,
        caller,
        plan.order,
        Action::PaymentTransferRecorded,
        before.as_ref(),
        Some(ids),
    )
    .await?;
    db.suspend(true).await?;
    Ok(())
}
