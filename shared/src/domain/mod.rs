//! Input types parsed at the edge: past a handler's first lines, invalid values cannot exist.
//!
//! [`text`] (emails, names, free text), [`money`] (amounts, currencies), [`patch`] (PATCH
//! fields), [`ids`] (ids that must not be swapped) and [`states`] (the state enums).

pub mod ids;
pub mod money;
pub mod money_text;
pub mod patch;
pub mod states;
pub mod text;

pub use ids::{OrgId, SessionId, UserId};
pub use money::{Currency, CurrencyCode, currency};
pub use patch::{Edit, Patch, non_null};
pub use states::{MovementKind, PoStatus, ReservationStatus, TaskStatus, Tracking};
pub use text::{Email, name, optional_email, optional_text, patch_email, patch_text};

#[cfg(test)]
mod tests;
