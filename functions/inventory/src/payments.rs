//! Paying a purchase order's supplier through Wise: `POST /api/purchase-orders/{id}/pay`.
//!
//! Payable orders are `submitted`, `partially_received` or `received` (the order is agreed with
//! the supplier); drafts are still being edited and cancelled orders are off. An order is paid
//! once: while its payment is pending, processing or paid, or its transfer bounced back (Wise
//! may resend it), `/pay` answers 409.
//!
//! A run has three steps. First, one transaction locks the order, checks it, marks its payment
//! `pending` and audits that. Then Stockroom talks to Wise: a quote for the order's total in its
//! currency (paid from the `source_currency` balance), the supplier's recipient account (created
//! once per version of its bank details), a transfer carrying the attempt's customer transaction
//! id, and the funding from the Wise balance. Each id Wise gives (recipient, transfer) is written
//! at once in a small audited transaction, so webhooks can find the order and nothing is lost if
//! the run stops. Last, a second transaction records the outcome and audits it.
//!
//! - Wise refuses a step (a 4xx, a `REJECTED` funding): the payment is `failed` with Wise's
//!   message and `/pay` may be called again. The retry sends the same customer transaction id
//!   (Wise's idempotency key), so it finds the transfer already made instead of making another.
//! - The transfer exists but the outcome is unknown (the deadline cut the run off, Wise could not
//!   be reached, answered 5xx or unreadably): Wise may have funded it, so the payment stays
//!   `pending` and `/pay` answers 502 `wise_unreachable`. A webhook settles it, or a `/pay` after
//!   2 minutes takes the run over and looks at the transfer before funding anything.
//! - Only after Wise closed a transfer for good unpaid (`cancelled`, `funds_refunded`) does a
//!   new `/pay` start a new attempt with a new id; likewise after the Wise profile changed, only
//!   when the old transfer is known closed (or none was recorded, so none was funded).

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use shared::audit::{Action, Change};
use shared::auth::caller::{Purchasing, TenantDb, Write};
use shared::auth::{Caller, Require, StepUp, Tenant};
use shared::domain::{self, PoStatus};
use shared::error::ApiError;
use shared::http::{AppJson, PathId};
use shared::idempotency::{self, Claim, Claimed, IdempotencyKey};
use shared::payment_details::PaymentDetails;
use shared::wise::{self, Payment, PaymentStatus, Transfer, TransferState, Transition};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::purchase_orders::{self, PurchaseOrder};
use crate::{InventoryState, approvals};

/// The longest a run may talk to Wise (the function's timeout is 30 s). Past it, a run that had
/// no transfer yet is recorded as failed (nothing was funded) and may be retried; once the
/// transfer exists, Wise may have funded it, so the payment stays pending and is checked again.
const WISE_DEADLINE: Duration = Duration::from_secs(25);

/// A 409 while a payment is under way or done, or while its money may still move: the order
/// must not be changed (cancelled) or paid again. `None` when there is no payment, or it failed
/// or was cancelled — except a transfer that bounced back: Wise may still resend it until it
/// refunds or cancels it.
pub fn blocking(payment: Option<&Payment>, action: &str) -> Option<ApiError> {
    let payment = payment?;
    match payment.status {
        PaymentStatus::Paid => Some(ApiError::conflict(
            "already_paid",
            format!("cannot {action} a purchase order that is paid"),
        )),
        PaymentStatus::Pending | PaymentStatus::Processing => Some(ApiError::conflict(
            "payment_in_progress",
            format!("cannot {action} a purchase order while its payment is in progress"),
        )),
        PaymentStatus::Failed | PaymentStatus::Cancelled => {
            let state = payment.wise_state.as_deref().and_then(TransferState::parse);
            (state == Some(TransferState::BouncedBack)).then(|| {
                ApiError::conflict(
                    "payment_bounced",
                    format!(
                        "cannot {action} a purchase order while its transfer is bounced back: \
                         Wise may still resend it; once Wise refunds or cancels it, try again"
                    ),
                )
            })
        }
    }
}

#[derive(Debug, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Pay {
    /// The Wise balance to pay from; the order's currency when absent.
    #[schema(value_type = Option<shared::domain::CurrencyCode>)]
    source_currency: Option<String>,
}

/// Everything the Wise step needs, decided in the first transaction.
struct Plan {
    order: Uuid,
    org: Uuid,
    supplier: Uuid,
    attempt: i32,
    customer_transaction_id: Uuid,
    amount: Decimal,
    currency: String,
    source_currency: String,
    /// The transfer this attempt already made, if Wise gave one.
    transfer_id: Option<i64>,
    payee: PaymentDetails,
    details_digest: Vec<u8>,
    /// The supplier's recipient account for these details, if already created.
    recipient_id: Option<i64>,
}

impl Plan {
    /// The reference the supplier sees on their statement. Wise's length limit depends on the
    /// currency route; ten characters stay within the usual ones.
    fn reference(&self) -> String {
        format!("PO-{}", &self.order.simple().to_string()[..7]).to_uppercase()
    }
}

/// How the Wise step ended.
enum Outcome {
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

/// `POST /api/purchase-orders/{id}/pay` `{source_currency?}`: pays the order's total to its
/// supplier through the organization's own Wise connection (honours `Idempotency-Key`). Needs a
/// step-up; API keys cannot pay. 200 with the order and its payment; 202 when the payment waits
/// for a second owner or admin (see [`crate::approvals`]); 502 `wise_error` with Wise's message
/// when Wise refuses (the payment is then `failed` and may be retried); 502 `wise_unreachable`
/// when the transfer exists but Wise did not say how the run ended (the payment stays `pending`
/// while that is checked); 409 when the order cannot be paid (see the module documentation) or
/// the organization has not connected Wise (`wise_not_connected`).
#[utoipa::path(post, path = "/api/purchase-orders/{id}/pay", operation_id = "pay_purchase_order", params(("id" = Uuid, Path), shared::openapi::IdempotencyKeyHeader, shared::openapi::StepUpHeader), request_body(content = Option<Pay>, description = "Optional"),
    responses((status = 200, description = "Paid through Wise (or under way); the order with its `payment`", body = PurchaseOrder),
        (status = 202, description = "Waits for approval by a second owner or admin (`approval` on the order says why: the threshold, or payment details changed in the last 24 hours)", body = PurchaseOrder),
        (status = 401, description = "`step_up_required`: confirm with POST /api/auth/step-up first"),
        (status = 403, description = "`step_up_unavailable`: API keys cannot pay; `missing_permission`"),
        (status = 409, description = "`wise_not_connected`; `approval_pending`; not payable in its state; a payment is pending, processing or paid; its transfer bounced back (`payment_bounced`), was charged back, or is open under another Wise profile (`wise_profile_changed`)"),
        (status = 502, description = "`wise_error`: Wise refused; the payment is recorded as failed and can be retried. `wise_unreachable`: the transfer exists but Wise did not confirm the outcome; the payment stays pending while it is checked (webhook, or `/pay` again after 2 minutes)"),
        (status = 503, description = "`payments_not_configured`, or the database did not answer")))]
pub async fn pay(
    StepUp(mut tenant): StepUp<Require<Purchasing, Write>>,
    State(state): State<InventoryState>,
    key: IdempotencyKey,
    PathId(id): PathId,
    body: Option<AppJson<Pay>>,
) -> Result<Response, ApiError> {
    let body = body.map(|AppJson(body)| body).unwrap_or_default();
    let source_currency = body
        .source_currency
        .as_deref()
        .map(|c| domain::currency(c, "source_currency"))
        .transpose()?;
    let caller = tenant.caller.clone();
    let org = caller.org_id;

    let tx = &mut *tenant.db;
    let claimed = match idempotency::claim(&mut *tx, &caller, &key, &body).await? {
        Claim::Replay(response) => return Ok(response),
        Claim::Untracked => None,
        Claim::Fresh(claimed) => Some(claimed),
    };
    let order = purchase_orders::load(&mut *tx, org, id, true).await?;
    let source = source_currency
        .clone()
        .unwrap_or_else(|| order.currency.clone());
    // Checked before asking for approval, so nobody approves what cannot be paid.
    wise::connection::client(&mut *tx, &state.app.settings.keys, state.wise_api()?, org).await?;
    payable(&order)?;
    if approvals::gate(&mut *tx, &caller, &order, &source)
        .await?
        .is_some()
    {
        let order = purchase_orders::load(&mut *tx, org, id, false).await?;
        if let Some(claimed) = claimed {
            claimed
                .store(&mut *tx, StatusCode::ACCEPTED, &order)
                .await?;
        }
        return Ok((StatusCode::ACCEPTED, axum::Json(order)).into_response());
    }
    run(&state, tenant.0, order, source_currency, claimed).await
}

/// Pays `order` (locked in `tenant`'s open transaction, its approval settled): decides the
/// attempt, marks the payment pending and commits, talks to Wise, records the outcome. `/pay`
/// and an approval both end here.
pub async fn run(
    state: &InventoryState,
    mut tenant: Tenant,
    order: PurchaseOrder,
    source_currency: Option<String>,
    claimed: Option<Claimed>,
) -> Result<Response, ApiError> {
    let caller = tenant.caller.clone();
    let org = caller.org_id;
    let id = order.id;
    let tx = &mut *tenant.db;
    let client =
        wise::connection::client(&mut *tx, &state.app.settings.keys, state.wise_api()?, org)
            .await?;
    let plan = prepare(
        &mut *tx,
        state,
        client.profile_id(),
        org,
        &order,
        source_currency,
    )
    .await?;
    let before = order.payment.clone();
    start(&mut *tx, &plan, client.profile_id()).await?;
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
    tenant.db.suspend(true).await?;

    // The key's claim is committed with the `pending` payment, so from here on an error would
    // leave it claimed (retries answered `idempotency_in_progress` for 24 h): every error exit
    // releases it. Errors are never stored for replay in this project; only a response that
    // did the work is (an error before this commit rolls the claim back with its transaction).
    let result = settle(&client, &mut tenant.db, &caller, &plan, claimed.as_ref()).await;
    if result.is_err()
        && let Some(claimed) = claimed
    {
        release(&mut tenant.db, claimed).await;
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
        send(client, &mut *db, caller, plan, &mut progress),
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
    let status = record(&mut *tx, plan, &outcome).await?;
    let action = match outcome {
        Outcome::Unknown { .. } => Action::PaymentUnconfirmed,
        _ => status.action(),
    };
    audit_payment(&mut *tx, caller, plan.order, action, before.as_ref(), None).await?;
    let result = match outcome {
        Outcome::Sent(_) => {
            let order = purchase_orders::load(&mut *tx, plan.org, plan.order, false).await?;
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

/// 409 unless the order's status and total allow paying it.
fn payable(order: &PurchaseOrder) -> Result<(), ApiError> {
    if !PoStatus::PAYABLE.contains(&order.status) {
        return Err(ApiError::conflict(
            "invalid_status",
            format!(
                "cannot pay a purchase order that is {}",
                order.status.as_str()
            ),
        ));
    }
    if order.total <= Decimal::ZERO {
        return Err(ApiError::conflict(
            "nothing_to_pay",
            "the purchase order's total is zero",
        ));
    }
    Ok(())
}

/// Checks that the order can be paid now and decides the attempt (first transaction).
async fn prepare(
    tx: &mut PgConnection,
    state: &InventoryState,
    profile_id: i64,
    org: Uuid,
    order: &PurchaseOrder,
    source_currency: Option<String>,
) -> Result<Plan, ApiError> {
    let id = order.id;
    payable(order)?;
    let previous = sqlx::query!(
        r#"SELECT status AS "status: PaymentStatus", attempt, wise_profile_id, wise_transfer_id,
                  wise_state, source_currency,
                  -- A run takes at most WISE_DEADLINE; a pending payment older than this was
                  -- interrupted (the function was stopped) and may be taken over.
                  started_at > now() - interval '2 minutes' AS "running!"
           FROM purchase_order_payments WHERE org_id = $1 AND purchase_order_id = $2"#,
        org,
        id
    )
    .fetch_optional(&mut *tx)
    .await?;
    let (attempt, transfer_id, kept_source) = match previous {
        None => (1, None, None),
        Some(p) => {
            let interrupted = p.status == PaymentStatus::Pending && !p.running;
            if !interrupted && let Some(error) = blocking(order.payment.as_ref(), "pay") {
                return Err(error);
            }
            let state = p.wise_state.as_deref().and_then(TransferState::parse);
            if state == Some(TransferState::ChargedBack) {
                return Err(ApiError::conflict(
                    "payment_charged_back",
                    "the order's transfer was charged back at Wise; settle it with Wise \
                     before paying this order again",
                ));
            }
            if state.is_some_and(TransferState::allows_new_attempt) {
                // Closed for good at Wise: a new transfer cannot pay the supplier twice.
                (p.attempt + 1, None, None)
            } else if p.wise_profile_id != profile_id {
                // The old transfer lives under another profile (this client cannot even look
                // at it). Funding needs the transfer id, which is recorded before any funding,
                // so without one nothing was funded there; with one, it may still pay out.
                if let Some(transfer) = p.wise_transfer_id {
                    return Err(ApiError::conflict(
                        "wise_profile_changed",
                        format!(
                            "the order's Wise transfer {transfer} was made from Wise profile {} \
                             and is not known to be closed; cancel it at Wise (its webhook then \
                             records it) before paying from profile {profile_id}",
                            p.wise_profile_id
                        ),
                    ));
                }
                (p.attempt + 1, None, None)
            } else {
                // The same attempt: its transfer (if any) fixes the source currency.
                let kept = p.wise_transfer_id.map(|_| p.source_currency);
                (p.attempt, p.wise_transfer_id, kept)
            }
        }
    };

    let sealed = sqlx::query_scalar!(
        "SELECT payment_details FROM suppliers WHERE org_id = $1 AND id = $2",
        org,
        order.supplier_id
    )
    .fetch_one(&mut *tx)
    .await?
    .ok_or_else(|| {
        ApiError::conflict(
            "missing_payment_details",
            "the supplier has no payment details; add them to the supplier first",
        )
    })?;
    let payee = PaymentDetails::open(&state.app.settings.keys, order.supplier_id, &sealed).await?;
    if payee.currency != order.currency {
        return Err(ApiError::conflict(
            "currency_mismatch",
            format!(
                "the supplier's bank account is in {} but the purchase order is in {}",
                payee.currency, order.currency
            ),
        ));
    }
    let details_digest = Sha256::digest(&sealed).to_vec();
    let recipient_id = sqlx::query_scalar!(
        "SELECT wise_recipient_id FROM wise_recipients
         WHERE org_id = $1 AND supplier_id = $2 AND wise_profile_id = $3 AND details_digest = $4",
        org,
        order.supplier_id,
        profile_id,
        details_digest
    )
    .fetch_optional(&mut *tx)
    .await?;
    Ok(Plan {
        order: id,
        org,
        supplier: order.supplier_id,
        attempt,
        customer_transaction_id: wise::customer_transaction_id(id, attempt),
        amount: order.total,
        currency: order.currency.clone(),
        source_currency: kept_source
            .or(source_currency)
            .unwrap_or_else(|| order.currency.clone()),
        transfer_id,
        payee,
        details_digest,
        recipient_id,
    })
}

/// Marks the payment pending for `plan`'s attempt; a new attempt forgets the old transfer.
async fn start(tx: &mut PgConnection, plan: &Plan, profile_id: i64) -> Result<(), ApiError> {
    sqlx::query!(
        r#"INSERT INTO purchase_order_payments
               (purchase_order_id, org_id, status, attempt, customer_transaction_id, amount, currency,
                source_currency, wise_profile_id)
           VALUES ($1, $2, 'pending', $3, $4, $5, $6, $7, $8)
           ON CONFLICT (purchase_order_id) DO UPDATE SET
               status = 'pending', started_at = now(), updated_at = now(),
               failure_code = NULL, failure_message = NULL,
               amount = EXCLUDED.amount, currency = EXCLUDED.currency,
               source_currency = EXCLUDED.source_currency, wise_profile_id = EXCLUDED.wise_profile_id,
               attempt = EXCLUDED.attempt, customer_transaction_id = EXCLUDED.customer_transaction_id,
               source_amount = CASE WHEN $9 THEN purchase_order_payments.source_amount END,
               wise_quote_id = CASE WHEN $9 THEN purchase_order_payments.wise_quote_id END,
               wise_recipient_id = CASE WHEN $9 THEN purchase_order_payments.wise_recipient_id END,
               wise_transfer_id = CASE WHEN $9 THEN purchase_order_payments.wise_transfer_id END,
               wise_state = CASE WHEN $9 THEN purchase_order_payments.wise_state END,
               wise_state_at = CASE WHEN $9 THEN purchase_order_payments.wise_state_at END,
               paid_at = NULL"#,
        plan.order,
        plan.org,
        plan.attempt,
        plan.customer_transaction_id,
        plan.amount,
        plan.currency,
        plan.source_currency,
        profile_id,
        plan.transfer_id.is_some()
    )
    .execute(tx)
    .await?;
    Ok(())
}

enum SendError {
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
struct Progress {
    /// The transfer, once it is known to exist.
    transfer_id: Option<i64>,
}

/// Talks to Wise: quote, recipient, transfer (or the attempt's known transfer), funding. Each
/// id Wise gives is written at once, in a small audited transaction of its own, so nothing is
/// lost if the run stops.
async fn send(
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

/// Records how the Wise step ended (second transaction); returns the payment's status. A
/// webhook that moved the payment meanwhile wins: only a `pending` payment of this attempt
/// takes the outcome's status.
async fn record(
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
async fn audit_payment(
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
