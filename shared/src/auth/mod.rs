//! Authentication pieces every function shares: access tokens, passwords, TOTP, opaque
//! tokens and the extractors that put the caller in a handler's signature.

pub mod caller;
pub mod extract;
pub mod jwt;
pub mod membership;
pub mod password;
pub mod permissions;
pub mod sessions;
pub mod step_up;
pub mod tokens;
pub mod totp;

use serde::{Deserialize, Serialize};

pub use caller::{Caller, CallerKind, Require, RequireAdmin, Tenant};
pub use extract::{AuthUser, ClientIp};
pub use permissions::{Access, Module, Permissions, permissions_schema, scopes_schema};
pub use step_up::StepUp;

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
