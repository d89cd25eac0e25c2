//! The products function's API tests: one file per route.

mod support;

use http::{Method, StatusCode};
use serde_json::json;
use shared::testing::assert_problem;
use sqlx::PgPool;
use support::*;

mod access;
mod create;
mod delete;
mod image;
mod list;
mod stock;
mod update;
