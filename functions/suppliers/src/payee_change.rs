//! A change of a supplier's payment details is announced to the organization's owners and
//! admins: the account's old and new last four characters, who and when. A payment to the new
//! details needs a second person for 24 hours (`inventory`'s approvals); this mail is what tells
//! the others to look. It is queued in the change's transaction and sent after the response.

use chrono::{DateTime, Utc};
use shared::auth::Caller;
use shared::email::outbox::{Mail, Outbox, Text};
use shared::error::ApiError;
use shared::payment_details::PaymentSummary;
use sqlx::PgConnection;
use uuid::Uuid;

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
    let recipients = sqlx::query_scalar!(
        "SELECT u.email FROM memberships m JOIN users u ON u.id = m.user_id
         WHERE m.org_id = $1 AND m.is_active AND m.joined_at IS NOT NULL
           AND m.role IN ('owner', 'admin')
         ORDER BY u.email",
        caller.org_id
    )
    .fetch_all(&mut *conn)
    .await?;
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
