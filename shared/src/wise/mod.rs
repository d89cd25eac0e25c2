//! Paying suppliers through Wise: the API client, webhook signature checks, and the transfer
//! states both the paying side (inventory's `/pay`) and the webhooks function agree on.
//!
//! Behind the `wise` feature, so only the functions that talk to Wise link an HTTP client and
//! RSA.

mod client;
pub mod connection;
mod error;
mod model;
mod payment;
mod signature;
mod states;

pub use client::{Api, Client};
pub use error::Error;
pub use model::{Profile, Quote, Transfer};
pub use payment::{Payment, Transition};
pub use signature::{InvalidKey, SignatureVerifier};
pub use states::{PaymentStatus, TransferState, customer_transaction_id, supersedes};
