//! The users function's integration tests: one test binary, one module per area.

mod api_keys;
mod invitations;
mod isolation;
mod organization;
mod people;
mod support;
