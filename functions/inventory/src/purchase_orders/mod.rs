//! Purchase orders: draft → submitted → partially received → received, or cancelled.
//! Receiving adds stock through the ledger; a line never receives more than was ordered, and a
//! retried receipt with the same `Idempotency-Key` adds nothing.
//!
//! - [`order`]: the order as the API shows it, with what it embeds (lines, payment, latest
//!   approval), how it is loaded, and the rules of its state (what may be edited, paid, cancelled).
//! - [`input`]: the bodies the routes take, checked into values.
//! - [`crud`]: create, read, list and edit drafts.
//! - [`status`]: submit and cancel.
//! - [`receive`]: goods arriving into stock.
//!
//! Paying an order is [`crate::payments`]'s, which sits above this module: nothing here calls it
//! except cancelling, which withdraws a pending approval.

pub mod attachments;
pub mod crud;
pub mod input;
pub mod order;
pub mod receipts;
pub mod receive;
pub mod status;
