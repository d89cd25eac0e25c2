//! Ids that travel side by side (a token names a user, their organization and their session):
//! each its own type, so two cannot be swapped without the compiler noticing. As JSON and in
//! SQL they are plain UUIDs.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! ids {
    ($($(#[$doc:meta])* $name:ident,)*) => {
        $(
            $(#[$doc])*
            #[derive(
                Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
                sqlx::Type,
            )]
            #[serde(transparent)]
            #[sqlx(transparent)]
            pub struct $name(pub Uuid);

            impl From<Uuid> for $name {
                fn from(id: Uuid) -> Self {
                    Self(id)
                }
            }

            impl std::str::FromStr for $name {
                type Err = uuid::Error;
                fn from_str(text: &str) -> Result<Self, Self::Err> {
                    text.parse().map(Self)
                }
            }

            impl std::fmt::Display for $name {
                fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    self.0.fmt(f)
                }
            }
        )*
    };
}

ids! {
    /// An organization (a tenant).
    OrgId,
    /// A person's account.
    UserId,
    /// A session: the refresh-token family a sign-in starts; its access tokens die with it.
    SessionId,
}
