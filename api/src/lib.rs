//! The API as a whole, as no single function sees it: the route table that sends each path to
//! its function ([`routes`]) and the OpenAPI document merged from every function's part
//! ([`openapi`], written to `openapi.json` by `make openapi`).

pub mod openapi;
pub mod routes;
