//! Tenant isolation and least privilege, tested through the users function and straight on the
//! database: what one organization can never reach of another, and what each login role can do.

use axum::extract::FromRequestParts;
use http::{Method, StatusCode};
use serde_json::{Value, json};
use shared::auth::Tenant;
use shared::testing::{Registered, assert_problem};
use sqlx::PgPool;

use crate::support::*;

mod login_roles;
mod tenants;

/// A tenant connection exactly as a handler gets it, for org `member`.
async fn tenant_for(apps: &Apps, member: &Registered) -> Tenant {
    let request = http::Request::get("/")
        .header("authorization", format!("Bearer {}", member.token))
        .body(())
        .unwrap();
    let (mut parts, ()) = request.into_parts();
    // What the transaction layer of shared::http::layers gives every request.
    parts.extensions.insert(shared::db::TxSlot::default());
    let state = shared::testing::state_as(apps.pool.clone(), shared::db::Login::Tenant, &[]);
    Tenant::from_request_parts(&mut parts, &state)
        .await
        .expect("a tenant")
}

struct PoolerCounters {
    clients: i64,
    servers: i64,
    transactions: i64,
}

/// The SQLSTATE `conn` gets for `sql` (`None`: it ran).
async fn sqlstate(conn: &mut sqlx::PgConnection, sql: &str) -> Option<String> {
    sqlx::Executor::execute(&mut *conn, sql)
        .await
        .err()
        .and_then(|e| e.into_database_error())
        .and_then(|e| e.code().map(|c| c.into_owned()))
}
