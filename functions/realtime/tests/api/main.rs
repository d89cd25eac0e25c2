//! The realtime function's integration tests, through the WebSocket API's stand-in: one test
//! binary, one module per area.

mod browser;
mod connections;
mod support;
