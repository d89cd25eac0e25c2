//! The states of a payment and of its Wise transfer, which the paying side and the webhooks
//! agree on, and the id that makes a transfer's creation idempotent at Wise.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// The status of a purchase order's payment (the `payment_status` enum in the database).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, sqlx::Type, utoipa::ToSchema,
)]
#[sqlx(type_name = "payment_status", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    /// Stockroom is talking to Wise (quote, recipient, transfer, funding), or the transfer
    /// exists and how the run ended is being checked (Wise did not confirm it).
    Pending,
    /// The transfer is funded and on its way.
    Processing,
    /// Wise sent the money out to the supplier's bank.
    Paid,
    /// Wise refused a step (retry with `/pay`), or the money came back (bounced back: `/pay`
    /// waits until Wise refunds or cancels the transfer, since Wise may resend it).
    Failed,
    /// The transfer was cancelled at Wise; `/pay` starts a new one.
    Cancelled,
}

impl PaymentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Processing => "processing",
            Self::Paid => "paid",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    /// The audit action of a payment that reached this status.
    pub fn action(self) -> crate::audit::Action {
        use crate::audit::Action;
        match self {
            Self::Pending => Action::PaymentPending,
            Self::Processing => Action::PaymentProcessing,
            Self::Paid => Action::PaymentPaid,
            Self::Failed => Action::PaymentFailed,
            Self::Cancelled => Action::PaymentCancelled,
        }
    }
}

/// A Wise transfer state (`status` of a transfer, `current_state` of a state-change event).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransferState {
    IncomingPaymentWaiting,
    IncomingPaymentInitiated,
    Processing,
    FundsConverted,
    OutgoingPaymentSent,
    Cancelled,
    FundsRefunded,
    BouncedBack,
    ChargedBack,
}

impl TransferState {
    const ALL: [Self; 9] = [
        Self::IncomingPaymentWaiting,
        Self::IncomingPaymentInitiated,
        Self::Processing,
        Self::FundsConverted,
        Self::OutgoingPaymentSent,
        Self::Cancelled,
        Self::FundsRefunded,
        Self::BouncedBack,
        Self::ChargedBack,
    ];

    /// `None` for a state this code does not know (Wise may add some).
    pub fn parse(state: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == state)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::IncomingPaymentWaiting => "incoming_payment_waiting",
            Self::IncomingPaymentInitiated => "incoming_payment_initiated",
            Self::Processing => "processing",
            Self::FundsConverted => "funds_converted",
            Self::OutgoingPaymentSent => "outgoing_payment_sent",
            Self::Cancelled => "cancelled",
            Self::FundsRefunded => "funds_refunded",
            Self::BouncedBack => "bounced_back",
            Self::ChargedBack => "charged_back",
        }
    }

    /// How far along the transfer's life the state is; orders two states when their times do
    /// not.
    fn rank(self) -> u8 {
        match self {
            Self::IncomingPaymentWaiting => 1,
            Self::IncomingPaymentInitiated => 2,
            Self::Processing => 3,
            Self::FundsConverted => 4,
            Self::OutgoingPaymentSent => 5,
            Self::Cancelled | Self::BouncedBack => 6,
            Self::FundsRefunded => 7,
            Self::ChargedBack => 8,
        }
    }

    /// What the state means for the payment. `None` while the transfer waits for its money:
    /// the payment's own status (pending, or failed after a refused funding) stands.
    pub fn payment_status(self) -> Option<PaymentStatus> {
        match self {
            Self::IncomingPaymentWaiting => None,
            Self::IncomingPaymentInitiated | Self::Processing | Self::FundsConverted => {
                Some(PaymentStatus::Processing)
            }
            Self::OutgoingPaymentSent => Some(PaymentStatus::Paid),
            Self::Cancelled => Some(PaymentStatus::Cancelled),
            Self::FundsRefunded | Self::BouncedBack | Self::ChargedBack => {
                Some(PaymentStatus::Failed)
            }
        }
    }

    /// Closed for good without paying the supplier, so a new transfer cannot pay them twice:
    /// only `cancelled` and `funds_refunded`. Not `bounced_back`: Wise may still resend the
    /// same transfer (its documented path goes `outgoing_payment_sent` ⇒ `bounced_back` ⇒
    /// `processing` ⇒ `cancelled` ⇒ `funds_refunded`, and a resend goes back out). Not
    /// `charged_back` either: Wise settles those with the account holder, not through the API.
    pub fn allows_new_attempt(self) -> bool {
        matches!(self, Self::Cancelled | Self::FundsRefunded)
    }

    /// Not on its way to the supplier now (cancelled, refunded, bounced, charged back): there is
    /// nothing to fund, and the payment is not `processing` or `paid`.
    pub fn is_stopped(self) -> bool {
        matches!(
            self.payment_status(),
            Some(PaymentStatus::Failed | PaymentStatus::Cancelled)
        )
    }

    /// What an event reporting this state does to a payment that is `current`: the new status,
    /// and the failure to record when it fails or cancels it. A state that does not decide the
    /// payment (the transfer waits for its money) leaves the status, and any failure it
    /// records, as they are.
    pub fn on_payment(
        self,
        current: PaymentStatus,
    ) -> (PaymentStatus, Option<(&'static str, &'static str)>) {
        match self.payment_status() {
            Some(status @ (PaymentStatus::Failed | PaymentStatus::Cancelled)) => (
                status,
                self.failure_message()
                    .map(|message| (self.as_str(), message)),
            ),
            Some(status) => (status, None),
            None => (current, None),
        }
    }

    /// Why the payment failed, for a state that fails it.
    pub fn failure_message(self) -> Option<&'static str> {
        match self {
            Self::FundsRefunded => Some("Wise refunded the transfer"),
            Self::BouncedBack => Some("the supplier's bank returned the transfer"),
            Self::ChargedBack => Some("the transfer was charged back"),
            Self::Cancelled => Some("the transfer was cancelled at Wise"),
            _ => None,
        }
    }
}

/// Whether `state`, which happened at `at`, should replace the recorded state (which
/// happened at `recorded_at`). Wise does not deliver events in order: the later `occurred_at`
/// wins; when a time is missing (a state read from an API answer) or both are equal, the state
/// further along the transfer's life wins. An unknown recorded state is always replaced.
pub fn supersedes(
    state: TransferState,
    at: Option<DateTime<Utc>>,
    recorded: Option<TransferState>,
    recorded_at: Option<DateTime<Utc>>,
) -> bool {
    let Some(recorded) = recorded else {
        return true;
    };
    match (at, recorded_at) {
        (Some(at), Some(recorded_at)) if at != recorded_at => at > recorded_at,
        _ => state.rank() > recorded.rank(),
    }
}

/// Wise's idempotency key (`customerTransactionId`) for one attempt at paying a purchase order.
/// Derived rather than random, so every retry of the attempt sends the same key and Wise
/// answers with the transfer it already made instead of making a second one.
pub fn customer_transaction_id(purchase_order_id: Uuid, attempt: i32) -> Uuid {
    let digest = Sha256::new()
        .chain_update(b"stockroom/wise-customer-transaction-id/v1\0")
        .chain_update(purchase_order_id.as_bytes())
        .chain_update(attempt.to_be_bytes())
        .finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes).into_uuid()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Option<DateTime<Utc>> {
        Some(text.parse().unwrap())
    }

    #[test]
    fn every_state_round_trips_and_unknown_ones_are_none() {
        for state in TransferState::ALL {
            assert_eq!(TransferState::parse(state.as_str()), Some(state));
        }
        assert_eq!(
            TransferState::parse("waiting_recipient_input_to_proceed"),
            None
        );
    }

    #[test]
    fn the_later_event_wins_whatever_its_state() {
        use TransferState::*;
        let t1 = at("2026-01-01T10:00:00Z");
        let t2 = at("2026-01-01T11:00:00Z");
        assert!(!supersedes(Processing, t1, Some(OutgoingPaymentSent), t2));
        assert!(supersedes(OutgoingPaymentSent, t2, Some(Processing), t1));
        // A bounce after the payout is later in time and wins.
        assert!(supersedes(BouncedBack, t2, Some(OutgoingPaymentSent), t1));
    }

    #[test]
    fn without_times_or_at_the_same_time_the_state_further_along_wins() {
        use TransferState::*;
        let t = at("2026-01-01T10:00:00Z");
        assert!(supersedes(
            Processing,
            t,
            Some(IncomingPaymentWaiting),
            None
        ));
        assert!(!supersedes(
            IncomingPaymentWaiting,
            t,
            Some(Processing),
            None
        ));
        assert!(supersedes(FundsConverted, t, Some(Processing), t));
        assert!(!supersedes(Processing, t, Some(Processing), t));
        assert!(supersedes(Processing, None, None, None));
    }

    #[test]
    fn states_map_to_payment_statuses() {
        use TransferState::*;
        assert_eq!(IncomingPaymentWaiting.payment_status(), None);
        assert_eq!(
            FundsConverted.payment_status(),
            Some(PaymentStatus::Processing)
        );
        assert_eq!(
            OutgoingPaymentSent.payment_status(),
            Some(PaymentStatus::Paid)
        );
        assert_eq!(Cancelled.payment_status(), Some(PaymentStatus::Cancelled));
        assert_eq!(BouncedBack.payment_status(), Some(PaymentStatus::Failed));
        assert!(Cancelled.allows_new_attempt() && FundsRefunded.allows_new_attempt());
        // Wise may resend a bounced transfer: no new attempt while it could.
        for state in [BouncedBack, ChargedBack, OutgoingPaymentSent, Processing] {
            assert!(!state.allows_new_attempt(), "{state:?}");
        }
        assert!(BouncedBack.is_stopped() && Cancelled.is_stopped());
        assert!(!OutgoingPaymentSent.is_stopped() && !IncomingPaymentWaiting.is_stopped());
    }

    #[test]
    fn the_customer_transaction_id_is_stable_per_attempt() {
        let po = Uuid::new_v4();
        assert_eq!(
            customer_transaction_id(po, 1),
            customer_transaction_id(po, 1)
        );
        assert_ne!(
            customer_transaction_id(po, 1),
            customer_transaction_id(po, 2)
        );
        assert_ne!(
            customer_transaction_id(po, 1),
            customer_transaction_id(Uuid::new_v4(), 1)
        );
        assert_eq!(customer_transaction_id(po, 1).get_version_num(), 8);
    }
}
