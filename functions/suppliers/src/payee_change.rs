//! A change of a supplier's payment details is announced to the organization's owners and
//! admins: the account's old and new last four characters, who and when. A payment to the new
//! details needs a second person for 24 hours (`inventory`'s approvals); this mail is what tells
//! the others to look. It is queued in the change's transaction and sent after the response.

use chrono::{DateTime, Utc};
use shared::AppState;
use shared::auth::caller::{Suppliers, Write};
use shared::auth::membership::require_settled_admin;
use shared::auth::{Caller, Require};
use shared::email::outbox::{Mail, Outbox, Text};
use shared::error::ApiError;
use shared::payment_details::{PaymentDetails, PaymentSummary};
use sqlx::PgConnection;
use uuid::Uuid;

/// 403 `admin_cooling_off` for a caller made an owner or admin by someone else too recently to
/// change where the organization's money goes.
pub async fn settled(
    state: &AppState,
    tenant: &mut Require<Suppliers, Write>,
) -> Result<(), ApiError> {
    let (org, user) = (tenant.caller.org_id, tenant.caller.user_id());
    let Some(user) = user else { return Ok(()) };
    let cooling_off = state.settings.admin_cooling_off;
    let what = "change suppliers' bank details";
    require_settled_admin(&mut tenant.db, org, user, cooling_off, what).await
}

/// Seals `payment` for supplier `id` with the current data key, beside its summary (the only
/// part ever shown): what the supplier's row stores.
pub async fn seal(
    state: &AppState,
    id: Uuid,
    payment: Option<(PaymentDetails, PaymentSummary)>,
) -> Result<(Option<Vec<u8>>, Option<serde_json::Value>), ApiError> {
    let Some((details, summary)) = payment else {
        return Ok((None, None));
    };
    let sealed = details.seal(&*state.settings.keys.current().await, id)?;
    let summary = serde_json::to_value(summary).map_err(|e| ApiError::Internal(e.into()))?;
    Ok((Some(sealed), Some(summary)))
}

/// Replaces supplier `id`'s payment details with `payment` (or removes them). Only when the
/// account really changes (sealed values differ on every seal, so the old details are opened
/// and compared) is who and when stamped, which makes payments to it wait for a second person,
/// and the change announced.
pub async fn write(
    tx: &mut PgConnection,
    state: &AppState,
    caller: &Caller,
    id: Uuid,
    before: Option<PaymentSummary>,
    payment: Option<(PaymentDetails, PaymentSummary)>,
) -> Result<(), ApiError> {
    let old = sqlx::query_scalar!(
        "SELECT payment_details FROM suppliers WHERE id = $1 AND org_id = $2",
        id,
        caller.org_id
    )
    .fetch_one(&mut *tx)
    .await?;
    let old = match old {
        Some(sealed) => Some(PaymentDetails::open(&state.settings.keys, id, &sealed).await?),
        None => None,
    };
    let same = |a: &PaymentDetails, b: &PaymentDetails| {
        serde_json::to_value(a).ok() == serde_json::to_value(b).ok()
    };
    let changed = match (&old, &payment) {
        (Some(old), Some((new, _))) => !same(old, new),
        (None, None) => false,
        _ => true,
    };
    let (sealed, summary) = seal(state, id, payment).await?;
    sqlx::query!(
        "UPDATE suppliers SET payment_details = $3, payment_summary = $4,
             payment_details_changed_at =
                 CASE WHEN $5 THEN now() ELSE payment_details_changed_at END,
             payment_details_changed_by =
                 CASE WHEN $5 THEN $6 ELSE payment_details_changed_by END
         WHERE id = $1 AND org_id = $2",
        id,
        caller.org_id,
        sealed,
        summary,
        changed,
        caller.user_id()
    )
    .execute(&mut *tx)
    .await?;
    if changed {
        announce(&mut *tx, &state.outbox, caller, id, before).await?;
    }
    Ok(())
}

/// Queues the announcement of the change of supplier `id`'s payment details (from `before`),
/// inside the change's transaction, to every active owner and admin.
pub async fn announce(
    conn: &mut PgConnection,
    outbox: &Outbox,
    caller: &Caller,
    id: Uuid,
    before: Option<PaymentSummary>,
) -> Result<(), ApiError> {
    let row = sqlx::query!(
        r#"SELECT s.name, s.payment_summary, s.payment_details_changed_at AS "at!",
                  u.name AS "who?", u.email AS "who_email?"
           FROM suppliers s LEFT JOIN users u ON u.id = s.payment_details_changed_by
           WHERE s.org_id = $1 AND s.id = $2"#,
        caller.org_id,
        id
    )
    .fetch_one(&mut *conn)
    .await?;
    let recipients = shared::auth::membership::admin_addresses(&mut *conn, caller.org_id).await?;
    let change = PayeeChange {
        supplier: row.name,
        before,
        after: row
            .payment_summary
            .and_then(|s| serde_json::from_value(s).ok()),
        who: match (row.who, row.who_email) {
            (Some(name), Some(email)) => format!("{name} <{email}>"),
            _ => "someone".to_owned(),
        },
        at: row.at,
    };
    let text = Text::new(
        format!("Payment details of {} changed", change.supplier),
        change.text(),
    );
    for to in recipients {
        let mail = Mail::to("payee_changed", to, text.clone());
        outbox.queue(&mut *conn, Some(caller.org_id), mail).await?;
    }
    Ok(())
}

/// What changed, as the mail tells it.
struct PayeeChange {
    supplier: String,
    before: Option<PaymentSummary>,
    after: Option<PaymentSummary>,
    who: String,
    at: DateTime<Utc>,
}

impl PayeeChange {
    fn text(&self) -> String {
        let ending = |s: &Option<PaymentSummary>| match s {
            Some(s) => format!(
                "account ending {} ({}, {})",
                s.account_ending, s.currency, s.account_holder_name
            ),
            None => "none".to_owned(),
        };
        format!(
            "The payment details of supplier {} were changed.\n\n\
             Before: {}\nAfter:  {}\nBy:     {}\nAt:     {} UTC\n\n\
             For the next 24 hours a payment to this supplier needs the approval of a second \
             owner or admin. If you did not expect this change, check it with the person who \
             made it before approving any payment, and put the old details back.\n",
            self.supplier,
            ending(&self.before),
            ending(&self.after),
            self.who,
            self.at.format("%Y-%m-%d %H:%M"),
        )
    }
}
