//! Authentication pieces every function shares: access tokens, passwords, TOTP, opaque
//! tokens and the extractors that put the caller in a handler's signature.

pub mod bearer;
pub mod caller;
pub mod extract;
pub mod jwt;
pub mod membership;
pub mod password;
pub mod permissions;
pub mod role;
pub mod sessions;
pub mod step_up;
pub mod tokens;
pub mod totp;

pub use caller::{Caller, CallerKind, Require, RequireAdmin, Tenant};
pub use extract::{AuthUser, ClientIp};
pub use permissions::{Access, Module, Permissions, permissions_schema, scopes_schema};
pub use role::Role;
pub use step_up::StepUp;
