//! Authentication pieces every function shares: access tokens, passwords, TOTP, opaque
//! tokens and the extractors that put the caller in a handler's signature.

pub mod caller;
pub mod extract;
pub mod jwt;
pub mod password;
pub mod step_up;
pub mod tokens;
pub mod totp;

use serde::{Deserialize, Serialize};

pub use caller::{Caller, CallerKind, Require, RequireAdmin, Tenant};
pub use extract::{AuthUser, ClientIp};
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

/// The modules a `user` can be granted `read` or `write` on.
pub const MODULES: [&str; 6] = [
    "products",
    "suppliers",
    "inventory",
    "purchasing",
    "tasks",
    "reports",
];

/// The schema of granted permissions (`schema_with`): `{"<module>": "read" | "write"}`, the
/// modules being [`MODULES`].
pub fn permissions_schema() -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, Type};
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .property_names(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(MODULES)),
        ))
        .additional_properties(Some(AdditionalProperties::RefOr(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(["read", "write"]))
                .into(),
        )))
        .description(Some(
            "Module permissions: `{\"products\": \"read\", \"inventory\": \"write\"}`.",
        ))
        .build()
}

/// The schema of API key scopes (`schema_with`): at least one `module:read` or `module:write`.
pub fn scopes_schema() -> utoipa::openapi::schema::Array {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
    let scopes: Vec<String> = MODULES
        .iter()
        .flat_map(|m| [format!("{m}:read"), format!("{m}:write")])
        .collect();
    ArrayBuilder::new()
        .items(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(scopes)),
        )
        .min_items(Some(1))
        .description(Some("`[\"products:read\", \"inventory:write\"]`."))
        .build()
}

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
