//! Authentication pieces every function shares: access tokens, passwords, TOTP, opaque
//! tokens and the extractors that put the caller in a handler's signature.

pub mod caller;
pub mod extract;
pub mod jwt;
pub mod password;
pub mod tokens;
pub mod totp;

use serde::{Deserialize, Serialize};

pub use caller::{Caller, CallerKind, Require, RequireAdmin, Tenant};
pub use extract::{AuthUser, ClientIp};

/// A user's role in their organization. Owners and admins manage users and bypass module
/// permissions; a `user` reaches only the modules granted to them.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, sqlx::Type, utoipa::ToSchema,
)]
#[sqlx(type_name = "user_role", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Owner,
    Admin,
    User,
}

impl Role {
    pub fn is_admin(self) -> bool {
        matches!(self, Role::Owner | Role::Admin)
    }
}

/// The modules a `user` can be granted `read` or `write` on.
pub const MODULES: [&str; 6] = [
    "products",
    "suppliers",
    "inventory",
    "purchasing",
    "tasks",
    "reports",
];

/// What a user can reach: owners and admins everything, a `user` what was granted.
pub fn effective_permissions(role: Role, granted: &serde_json::Value) -> serde_json::Value {
    let map = MODULES
        .iter()
        .filter_map(|module| {
            let level = if role.is_admin() {
                Some("write")
            } else {
                granted
                    .get(*module)
                    .and_then(|v| v.as_str())
                    .filter(|l| matches!(*l, "read" | "write"))
            };
            level.map(|l| ((*module).to_owned(), serde_json::Value::from(l)))
        })
        .collect();
    serde_json::Value::Object(map)
}
