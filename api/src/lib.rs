//! The API as a whole, as no single function sees it: the route table that sends each path to
//! its function ([`routes`]), every HTTP function's router and part of the document
//! ([`FUNCTIONS`]), and the OpenAPI document merged from those parts ([`openapi`], written to
//! `openapi.json` by `make openapi`).

pub mod openapi;
pub mod routes;

/// One HTTP function: its binary's name (as the route table names it), its router (what its
/// Lambda binary runs) and its part of the OpenAPI document.
pub struct Function {
    pub name: &'static str,
    pub app: fn(shared::AppState) -> axum::Router,
    pub openapi: fn() -> utoipa::openapi::OpenApi,
}

/// Every HTTP function; `health` first, as the document is built on its part.
pub const FUNCTIONS: [Function; 11] = [
    Function {
        name: "health",
        app: health::app,
        openapi: health::openapi,
    },
    Function {
        name: "auth",
        app: auth::app,
        openapi: auth::openapi,
    },
    Function {
        name: "users",
        app: users::app,
        openapi: users::openapi,
    },
    Function {
        name: "products",
        app: products::app,
        openapi: products::openapi,
    },
    Function {
        name: "suppliers",
        app: suppliers::app,
        openapi: suppliers::openapi,
    },
    Function {
        name: "inventory",
        app: inventory::app,
        openapi: inventory::openapi,
    },
    Function {
        name: "tasks",
        app: tasks::app,
        openapi: tasks::openapi,
    },
    Function {
        name: "dashboard",
        app: dashboard::app,
        openapi: dashboard::openapi,
    },
    Function {
        name: "events",
        app: events::app,
        openapi: events::openapi,
    },
    Function {
        name: "storage",
        app: storage::app,
        openapi: storage::openapi,
    },
    Function {
        name: "webhooks",
        app: webhooks::app,
        openapi: webhooks::openapi,
    },
];

/// The function named `name`.
pub fn function(name: &str) -> Option<&'static Function> {
    FUNCTIONS.iter().find(|f| f.name == name)
}
