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
//!
//! - [`pay`]: the route; [`approvals`]: the second person; [`run`]: one run from start to end,
//!   through [`plan`] (first transaction), [`send`] (Wise) and [`record`] (second transaction).
//! - [`policy`]: the organization's approval threshold; [`wise_account`]: its Wise connection.
//! - What an order's state allows (paid, cancelled, draft) is
//!   [`crate::purchase_orders::order`]'s: this module reads it, never the other way round.

pub mod approvals;
pub mod pay;
mod plan;
pub mod policy;
mod record;
mod run;
mod send;
pub mod wise_account;
