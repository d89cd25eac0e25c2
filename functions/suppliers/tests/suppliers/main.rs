//! The suppliers function's API tests: one file per source module (`crud` for `suppliers.rs`'s routes).

mod support;

use http::{Method, StatusCode};
use serde_json::json;
use shared::testing::{Registered, TestApp, assert_problem};
use sqlx::PgPool;
use support::*;

mod contacts;
mod crud;
mod payee_change;

/// The sealed details, their summary, and when and by whom they last changed.
type PayeeRow = (
    Option<Vec<u8>>,
    Option<serde_json::Value>,
    Option<chrono::DateTime<chrono::Utc>>,
    Option<uuid::Uuid>,
);
