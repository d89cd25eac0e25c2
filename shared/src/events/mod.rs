//! Events: what changed in an organization, as its webhooks, the event list and realtime
//! updates tell it.
//!
//! The database writes them (migration `20261207000001_events.sql`): in the transaction of
//! each change, from the audit log, the stock ledger and the set of products low on stock. So
//! no handler emits anything, and an event exists exactly when its change committed. This
//! module says what they look like ([`Event`]), which types there are ([`catalogue`]) and, for
//! webhooks, how a delivery is signed ([`signature`]), where it may go ([`outbound`]) and how
//! it is made ([`dispatch`]).

pub mod catalogue;
#[cfg(feature = "webhooks")]
pub mod dispatch;
pub mod document;
#[cfg(feature = "webhooks")]
pub mod outbound;
pub mod queue;
pub mod realtime;
pub mod signature;

use chrono::{DateTime, Utc};

use crate::auth::{Caller, Module, Permissions, Role};
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

/// An event as the API and webhooks show it (the shape Stripe's integrators know).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Event {
    pub id: Uuid,
    /// One of the catalogue's types, such as `purchase_order.received`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// When the change committed (RFC 3339).
    pub created: DateTime<Utc>,
    pub organization_id: Uuid,
    pub data: EventData,
    /// The API request that made the change; empty for changes made by a scheduled job or by
    /// Wise's webhooks.
    pub request: EventRequest,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EventData {
    /// The object after the change (before it, for a deletion), as the API shows it: the
    /// catalogue names its schema for each type.
    #[schema(schema_with = crate::http::openapi::record_schema)]
    pub object: Value,
    /// For a change to an object: the fields that changed, with their values before it.
    #[schema(schema_with = crate::http::openapi::record_schema)]
    pub previous_attributes: Option<Value>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EventRequest {
    /// The request's id (its `x-request-id`).
    pub id: Option<String>,
    /// The `Idempotency-Key` the request was sent with, if any.
    pub idempotency_key: Option<String>,
}

/// An `events` row.
#[derive(Debug, Clone)]
pub struct EventRow {
    pub id: Uuid,
    pub seq: i64,
    pub org_id: Uuid,
    pub event_type: String,
    pub object: Value,
    pub previous_attributes: Option<Value>,
    pub request_id: Option<String>,
    pub idempotency_key: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl From<EventRow> for Event {
    fn from(row: EventRow) -> Self {
        Self {
            id: row.id,
            event_type: row.event_type,
            created: row.created_at,
            organization_id: row.org_id,
            data: EventData {
                object: row.object,
                previous_attributes: row.previous_attributes,
            },
            request: EventRequest {
                id: row.request_id,
                idempotency_key: row.idempotency_key,
            },
        }
    }
}

/// What of an organization's events a member or API key may read: the events of the modules
/// they may read, their own tasks' (owners and admins: everyone's), and members' events only as
/// an owner or admin. The event list and realtime pushes ask it.
#[derive(Debug, Clone)]
pub struct Visible {
    /// Modules whose events are readable (`members` for owners and admins), tasks aside.
    pub modules: Vec<String>,
    /// Every task's events (owners and admins), else only the caller's own.
    pub all_tasks: bool,
    pub me: Option<Uuid>,
}

impl Visible {
    pub fn of(caller: &Caller) -> Self {
        Self::new(&caller.permissions, caller.is_admin(), caller.user_id())
    }

    /// A member's, from their role and stored grants now.
    pub fn of_member(role: Role, grants: &Value, user_id: Uuid) -> Self {
        Self::new(
            &Permissions::effective(role, grants),
            role.is_admin(),
            Some(user_id),
        )
    }

    fn new(permissions: &Permissions, admin: bool, me: Option<Uuid>) -> Self {
        let mut modules: Vec<String> = Module::ALL
            .iter()
            .filter(|m| **m != Module::Tasks && permissions.allows(**m, false))
            .map(|m| m.name().to_owned())
            .collect();
        if admin {
            modules.push("members".to_owned());
        }
        Self {
            modules,
            all_tasks: admin,
            me,
        }
    }

    /// Whether an event of `module` (a task's: of `owner`) is readable: what the list's SQL
    /// says, for one event in hand.
    pub fn sees(&self, module: &str, owner: Option<Uuid>) -> bool {
        if module == Module::Tasks.name() {
            self.all_tasks || (owner.is_some() && owner == self.me)
        } else {
            self.modules.iter().any(|m| m == module)
        }
    }
}
