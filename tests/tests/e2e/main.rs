//! The end-to-end tests, one test binary (`e2e`) with a module per subject; a test's full name
//! is `<module>::<test>` (e.g. `local_api::health_answers_at_the_base_url`), which is how
//! `scripts/test.sh` picks the ones its extra passes run again.
//!
//! `make test` runs them with cargo-nextest, one process per test: tests that set process
//! environment variables (`key_rotation`) set them for themselves alone.

mod accounts;
mod contracts;
mod demo_data;
mod fuzz;
mod key_rotation;
mod layout;
mod local_api;
mod openapi;
mod routes_tested;
mod storage;
mod template;
mod typed_client;
