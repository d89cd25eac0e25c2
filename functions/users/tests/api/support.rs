//! The users function over a test database, and routes guarded by module permissions to see
//! what a caller can reach. People are seeded with `shared::testing` (`register`, `person`).

use axum::Router;
use axum::routing::get;
use shared::auth::Require;
use shared::auth::caller::{Products, Read, Write};
use shared::testing::TestApp;
use sqlx::PgPool;

pub struct Apps {
    pub users: TestApp,
    /// Routes guarded by module permissions, to see what a caller can reach.
    pub probe: TestApp,
    pub pool: PgPool,
}

pub fn apps(pool: PgPool) -> Apps {
    apps_with(pool, &[])
}

pub fn apps_with(pool: PgPool, settings: &[(&str, &str)]) -> Apps {
    let state = shared::testing::state_as(pool.clone(), shared::db::Login::Tenant, settings);
    let probe = Router::new()
        .route(
            "/probe/products/read",
            get(|_: Require<Products, Read>| async { "ok" }),
        )
        .route(
            "/probe/products/write",
            get(|_: Require<Products, Write>| async { "ok" }),
        )
        .with_state(state.clone());
    Apps {
        users: TestApp::new(users::app(state), pool.clone()),
        probe: TestApp::new(
            shared::http::layers(
                probe,
                &shared::testing::settings(&[]).http,
                utoipa::openapi::OpenApi::default,
            ),
            pool.clone(),
        ),
        pool,
    }
}
