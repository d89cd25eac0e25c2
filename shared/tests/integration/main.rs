//! The shared crate's integration tests, one test binary (`integration`) with a module per
//! subject; a test's full name is `<module>::<test>`.
//!
//! `make test` runs them with cargo-nextest, one process per test: the test that sets process
//! environment variables (`secrets_manager`) sets them for itself alone.

mod cors_defaults;
mod http_layers;
mod secrets_manager;
