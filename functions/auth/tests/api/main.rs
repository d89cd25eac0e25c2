//! The auth function's integration tests: one test binary, one module per area.

mod invitation;
mod login;
mod mfa;
mod migration;
mod password;
mod register;
mod sessions;
mod support;
