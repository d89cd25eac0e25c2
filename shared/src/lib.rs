//! What two or more Stockroom functions need, one module per concern.

pub mod after_response;
pub mod audit;
pub mod auth;
pub mod config;
pub mod crypto;
pub mod db;
pub mod domain;
pub mod email;
pub mod error;
pub mod events;
pub mod http;
pub mod payment_details;
pub mod request;
#[cfg(feature = "test-util")]
pub mod runtime_api;
pub mod state;
pub mod storage;
pub mod telemetry;
#[cfg(feature = "test-util")]
pub mod testing;
#[cfg(feature = "wise")]
pub mod wise;

pub use config::Settings;
pub use error::ApiError;
pub use state::AppState;

/// The migrations in `migrations/`, embedded in every binary that needs them (migrate, tests).
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");
