//! The events function's integration tests: one test binary, one module per area.

mod deliveries;
mod endpoints;
mod events;
mod support;
