//! What a caller may reach: the modules, defined once, and a grant of `read` or `write` on
//! each. Users' grants (`{"products": "read"}`) and API keys' scopes (`["products:read"]`) are
//! parsed into [`Permissions`] at the edge; handlers ask it, never the JSON.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::role::Role;
use crate::error::{FieldError, Fields};

macro_rules! modules {
    ($($variant:ident => $name:literal,)*) => {
        /// A module a `user` or an API key can be granted.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Module {
            $($variant,)*
        }

        impl Module {
            /// Every module, in the order the API lists them.
            pub const ALL: &[Module] = &[$(Module::$variant,)*];

            pub fn name(self) -> &'static str {
                match self {
                    $(Module::$variant => $name,)*
                }
            }
        }
    };
}

modules! {
    Products => "products",
    Suppliers => "suppliers",
    Inventory => "inventory",
    Purchasing => "purchasing",
    Tasks => "tasks",
    Reports => "reports",
}

impl Module {
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|m| m.name() == name)
    }

    /// The names, for messages: "products, suppliers, …".
    pub fn list() -> String {
        Self::ALL
            .iter()
            .map(|m| m.name())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// How far a grant reaches: `write` includes `read`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    Read,
    Write,
}

impl Access {
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "read" => Some(Self::Read),
            "write" => Some(Self::Write),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Write => "write",
        }
    }
}

/// Grants by module. As JSON, `{"products": "read", "inventory": "write"}`, in module order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Permissions(BTreeMap<Module, Access>);

impl Permissions {
    /// Everything, writable (what owners and admins reach).
    pub fn all() -> Self {
        Self(Module::ALL.iter().map(|m| (*m, Access::Write)).collect())
    }

    /// What a person reaches: owners and admins everything, a `user` the grants stored on
    /// their row (a `users.permissions` value).
    pub fn effective(role: Role, stored_grants: &serde_json::Value) -> Self {
        if role.is_admin() {
            Self::all()
        } else {
            Self::from_json(stored_grants)
        }
    }

    /// Whether `module` may be read (or, with `write`, changed).
    pub fn allows(&self, module: Module, write: bool) -> bool {
        match self.0.get(&module) {
            Some(Access::Write) => true,
            Some(Access::Read) => !write,
            None => false,
        }
    }

    /// Grants `access` on `module`; of two grants on one module the higher stands.
    pub fn grant(&mut self, module: Module, access: Access) {
        let held = self.0.entry(module).or_insert(access);
        *held = (*held).max(access);
    }

    /// A stored grant (a user's `permissions` or a key's `scopes` column, both written by
    /// [`Permissions::to_json`]): entries that name no module or level are ignored.
    pub fn from_json(value: &serde_json::Value) -> Self {
        let mut permissions = Self::default();
        if let Some(map) = value.as_object() {
            for (module, access) in map {
                let access = access.as_str().and_then(Access::parse);
                if let (Some(module), Some(access)) = (Module::parse(module), access) {
                    permissions.grant(module, access);
                }
            }
        }
        permissions
    }

    pub fn to_json(&self) -> serde_json::Value {
        let map = Module::ALL
            .iter()
            .filter_map(|m| Some((m.name().to_owned(), self.0.get(m)?.name().into())))
            .collect();
        serde_json::Value::Object(map)
    }

    /// A user's grants as sent (`{"products": "read"}`); each bad entry is a field error on
    /// `permissions.<module>`.
    pub fn parse_grants(raw: &BTreeMap<String, String>, fields: &mut Fields) -> Self {
        let mut permissions = Self::default();
        for (module, access) in raw {
            let field = || format!("permissions.{module}");
            match (Module::parse(module), Access::parse(access)) {
                (None, _) => fields.add(FieldError::new(
                    field(),
                    "unknown_module",
                    format!("modules are {}", Module::list()),
                )),
                (Some(_), None) => {
                    fields.add(FieldError::new(field(), "invalid", "must be read or write"))
                }
                (Some(module), Some(access)) => permissions.grant(module, access),
            }
        }
        permissions
    }

    /// An API key's scopes as sent (`["products:read"]`); each bad entry is a field error on
    /// `scopes[i]`. Asking for both levels of a module grants the higher one.
    pub fn parse_scopes(scopes: &[String], fields: &mut Fields) -> Self {
        let mut permissions = Self::default();
        for (i, scope) in scopes.iter().enumerate() {
            let parsed = scope.split_once(':').and_then(|(module, access)| {
                Some((Module::parse(module)?, Access::parse(access)?))
            });
            match parsed {
                Some((module, access)) => permissions.grant(module, access),
                None => fields.add(FieldError::new(
                    format!("scopes[{i}]"),
                    "invalid",
                    format!(
                        "must be module:read or module:write with a module among {}",
                        Module::list()
                    ),
                )),
            }
        }
        permissions
    }
}

/// The schema of granted permissions (`schema_with`): `{"<module>": "read" | "write"}`.
pub fn permissions_schema() -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, Type};
    let names: Vec<&str> = Module::ALL.iter().map(|m| m.name()).collect();
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .property_names(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(names)),
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
    let scopes: Vec<String> = Module::ALL
        .iter()
        .flat_map(|m| [format!("{}:read", m.name()), format!("{}:write", m.name())])
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_higher_grant_stands_and_write_includes_read() {
        let mut fields = Fields::default();
        let scopes = ["products:read", "products:write", "tasks:read"].map(String::from);
        let p = Permissions::parse_scopes(&scopes, &mut fields);
        assert!(fields.is_empty());
        assert!(p.allows(Module::Products, true));
        assert!(p.allows(Module::Tasks, false) && !p.allows(Module::Tasks, true));
        assert!(!p.allows(Module::Reports, false));
        assert_eq!(
            p.to_json(),
            serde_json::json!({"products": "write", "tasks": "read"})
        );
    }

    #[test]
    fn bad_entries_are_field_errors_and_stored_ones_are_read_leniently() {
        let mut fields = Fields::default();
        let raw = BTreeMap::from([
            ("products".to_owned(), "admin".to_owned()),
            ("garden".to_owned(), "read".to_owned()),
        ]);
        assert_eq!(
            Permissions::parse_grants(&raw, &mut fields),
            Permissions::default()
        );
        assert!(!fields.is_empty());
        let stored = serde_json::json!({"inventory": "write", "garden": "read", "tasks": 1});
        assert_eq!(
            Permissions::from_json(&stored).to_json(),
            serde_json::json!({"inventory": "write"})
        );
    }

    #[test]
    fn owners_and_admins_reach_every_module() {
        let all = Permissions::effective(Role::Admin, &serde_json::json!({}));
        assert!(Module::ALL.iter().all(|m| all.allows(*m, true)));
        let granted = serde_json::json!({"tasks": "read"});
        assert_eq!(
            Permissions::effective(Role::User, &granted).to_json(),
            granted
        );
    }
}
