//! The audit log: who changed what, written in the same transaction as the change.
//!
//! Every action the log can hold is an [`Action`], named and tied to its entity here once. A
//! tenant handler records one with [`crate::auth::Caller::audit`]; sign-in and webhooks, which
//! act for no tenant caller, build an [`Entry`]. The request id and the client IP come from the
//! request being handled.

use serde::Serialize;
use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::error::ApiError;

/// Who acted.
#[derive(Clone, Copy, Debug)]
pub enum Actor {
    User(Uuid),
    ApiKey(Uuid),
    /// A scheduled job or the platform itself.
    System,
    /// Nobody signed in (a failed login, a password reset by token).
    Anonymous,
}

macro_rules! actions {
    ($($variant:ident => $name:literal on $entity:literal,)*) => {
        /// What happened: the `action` of an audit row, and the `entity` it happened to.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum Action {
            $($variant,)*
        }

        impl Action {
            /// Every action, in the order the log documents them.
            pub const ALL: &[Action] = &[$(Action::$variant,)*];

            /// The `action` column, as the audit-log API filters it.
            pub fn name(self) -> &'static str {
                match self {
                    $(Action::$variant => $name,)*
                }
            }

            /// The `entity` column: what `entity_id` identifies.
            pub fn entity(self) -> &'static str {
                match self {
                    $(Action::$variant => $entity,)*
                }
            }
        }
    };
}

actions! {
    Register => "register" on "organization",
    OrganizationUpdated => "organization_updated" on "organization",
    WiseConnected => "wise_connected" on "organization",
    WiseDisconnected => "wise_disconnected" on "organization",
    PaymentPolicyUpdated => "payment_policy_updated" on "organization",
    PaymentPolicyChangeRequested => "payment_policy_change_requested" on "organization",
    PaymentPolicyChangeApproved => "payment_policy_change_approved" on "organization",
    PaymentPolicyChangeRejected => "payment_policy_change_rejected" on "organization",
    PaymentPolicyChangeCancelled => "payment_policy_change_cancelled" on "organization",
    Login => "login" on "user",
    LoginFailed => "login_failed" on "user",
    Logout => "logout" on "user",
    RefreshReuseDetected => "refresh_reuse_detected" on "user",
    StepUp => "step_up" on "user",
    OrganizationSwitched => "organization_switched" on "user",
    MfaEnabled => "mfa_enabled" on "user",
    MfaDisabled => "mfa_disabled" on "user",
    PasswordChanged => "password_changed" on "user",
    PasswordReset => "password_reset" on "user",
    InvitationAccepted => "invitation_accepted" on "user",
    UserCreated => "user_created" on "user",
    UserInvited => "user_invited" on "user",
    UserUpdated => "user_updated" on "user",
    UserDeactivated => "user_deactivated" on "user",
    UserReactivated => "user_reactivated" on "user",
    ApiKeyCreated => "api_key_created" on "api_key",
    ApiKeyRevoked => "api_key_revoked" on "api_key",
    ProductCreated => "product_created" on "product",
    ProductUpdated => "product_updated" on "product",
    ProductDeleted => "product_deleted" on "product",
    StockMovement => "stock_movement" on "product",
    LocationCreated => "location_created" on "location",
    ReservationCreated => "reservation_created" on "reservation",
    ReservationConfirmed => "reservation_confirmed" on "reservation",
    ReservationCancelled => "reservation_cancelled" on "reservation",
    // Written by the SQL function release_expired_reservations (the scheduler, and stock reads).
    ReservationExpired => "reservation_expired" on "reservation",
    StocktakeCreated => "stocktake_created" on "stocktake",
    StocktakeApplied => "stocktake_applied" on "stocktake",
    StocktakeCancelled => "stocktake_cancelled" on "stocktake",
    SupplierCreated => "supplier_created" on "supplier",
    SupplierUpdated => "supplier_updated" on "supplier",
    SupplierDeactivated => "supplier_deactivated" on "supplier",
    SupplierReactivated => "supplier_reactivated" on "supplier",
    WiseRecipientCreated => "wise_recipient_created" on "supplier",
    WiseRecipientRemoved => "wise_recipient_removed" on "supplier",
    SupplierContactCreated => "supplier_contact_created" on "supplier_contact",
    SupplierContactUpdated => "supplier_contact_updated" on "supplier_contact",
    SupplierContactDeleted => "supplier_contact_deleted" on "supplier_contact",
    PurchaseOrderCreated => "purchase_order_created" on "purchase_order",
    PurchaseOrderUpdated => "purchase_order_updated" on "purchase_order",
    PurchaseOrderSubmitted => "purchase_order_submitted" on "purchase_order",
    PurchaseOrderCancelled => "purchase_order_cancelled" on "purchase_order",
    PurchaseOrderReceived => "purchase_order_received" on "purchase_order",
    PaymentStarted => "purchase_order_payment_started" on "purchase_order",
    PaymentTransferRecorded => "purchase_order_payment_transfer_recorded" on "purchase_order",
    PaymentPending => "purchase_order_payment_pending" on "purchase_order",
    PaymentProcessing => "purchase_order_payment_processing" on "purchase_order",
    PaymentPaid => "purchase_order_payment_paid" on "purchase_order",
    PaymentFailed => "purchase_order_payment_failed" on "purchase_order",
    PaymentCancelled => "purchase_order_payment_cancelled" on "purchase_order",
    PaymentUnconfirmed => "purchase_order_payment_unconfirmed" on "purchase_order",
    ApprovalRequested => "purchase_order_payment_approval_requested" on "purchase_order",
    ApprovalApproved => "purchase_order_payment_approval_approved" on "purchase_order",
    ApprovalRejected => "purchase_order_payment_approval_rejected" on "purchase_order",
    ApprovalCancelled => "purchase_order_payment_approval_cancelled" on "purchase_order",
    TaskCreated => "task_created" on "task",
    TaskUpdated => "task_updated" on "task",
    TaskDeleted => "task_deleted" on "task",
    WebhookEndpointCreated => "webhook_endpoint_created" on "webhook_endpoint",
    WebhookEndpointUpdated => "webhook_endpoint_updated" on "webhook_endpoint",
    WebhookEndpointDeleted => "webhook_endpoint_deleted" on "webhook_endpoint",
    AttachmentAdded => "attachment_added" on "attachment",
    AttachmentRemoved => "attachment_removed" on "attachment",
    WebhookSecretRotated => "webhook_secret_rotated" on "webhook_endpoint",
}

/// The record's JSON around the change. A value that cannot be serialised is a bug, reported
/// as a 500 when the entry is written.
#[derive(Debug, Default)]
pub struct Change {
    before: Option<Value>,
    after: Option<Value>,
    error: Option<serde_json::Error>,
}

impl Change {
    /// Nothing to show (a sign-in, a revocation that the action says all of).
    pub fn none() -> Self {
        Self::default()
    }

    /// A new record.
    pub fn created(after: &impl Serialize) -> Self {
        Self::default().after(after)
    }

    /// A record before and after.
    pub fn updated(before: &impl Serialize, after: &impl Serialize) -> Self {
        Self::default().before(before).after(after)
    }

    /// A record removed.
    pub fn deleted(before: &impl Serialize) -> Self {
        Self::default().before(before)
    }

    /// Either side, where it may be missing.
    pub fn between<B: Serialize, A: Serialize>(before: Option<&B>, after: Option<&A>) -> Self {
        let mut change = Self::default();
        if let Some(before) = before {
            change = change.before(before);
        }
        if let Some(after) = after {
            change = change.after(after);
        }
        change
    }

    /// Sets what the record was.
    pub fn before(mut self, value: &impl Serialize) -> Self {
        self.before = self.json(value);
        self
    }

    /// Sets what the record is now.
    pub fn after(mut self, value: &impl Serialize) -> Self {
        self.after = self.json(value);
        self
    }

    /// Adds `fields` (an object) to `after`, for ids the record itself does not show.
    pub fn with_after_fields(mut self, fields: Value) -> Self {
        if let (Some(Value::Object(after)), Value::Object(fields)) = (self.after.as_mut(), fields) {
            after.extend(fields);
        }
        self
    }

    fn json(&mut self, value: &impl Serialize) -> Option<Value> {
        match serde_json::to_value(value) {
            Ok(value) => Some(value),
            Err(error) => {
                self.error.get_or_insert(error);
                None
            }
        }
    }
}

/// One audit row.
#[derive(Debug)]
pub struct Entry {
    pub org_id: Option<Uuid>,
    pub actor: Actor,
    pub action: Action,
    pub entity_id: Option<Uuid>,
    pub change: Change,
}

impl Entry {
    /// `action` on `entity_id` by nobody in particular, in no organization: set what applies.
    pub fn new(action: Action, entity_id: impl Into<Option<Uuid>>) -> Self {
        Self {
            org_id: None,
            actor: Actor::Anonymous,
            action,
            entity_id: entity_id.into(),
            change: Change::none(),
        }
    }

    pub fn in_org(mut self, org_id: Uuid) -> Self {
        self.org_id = Some(org_id);
        self
    }

    pub fn by(mut self, actor: Actor) -> Self {
        self.actor = actor;
        self
    }

    pub fn change(mut self, change: Change) -> Self {
        self.change = change;
        self
    }

    /// Writes the row on `conn`: pass the transaction that makes the change.
    pub async fn record(self, conn: &mut PgConnection) -> Result<(), ApiError> {
        if let Some(error) = self.change.error {
            return Err(ApiError::Internal(error.into()));
        }
        let (user, api_key) = match self.actor {
            Actor::User(id) => (Some(id), None),
            Actor::ApiKey(id) => (None, Some(id)),
            Actor::System | Actor::Anonymous => (None, None),
        };
        sqlx::query!(
            r#"INSERT INTO audit_log
                 (org_id, actor_user_id, actor_api_key_id, action, entity, entity_id, before, after, request_id, ip)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"#,
            self.org_id,
            user,
            api_key,
            self.action.name(),
            self.action.entity(),
            self.entity_id,
            self.change.before,
            self.change.after,
            crate::request::current_request_id(),
            crate::request::current_client_ip(),
        )
        .execute(conn)
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_has_its_own_name() {
        let mut names: Vec<_> = Action::ALL.iter().map(|a| a.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Action::ALL.len());
    }

    #[test]
    fn a_change_keeps_both_sides_and_added_fields() {
        let change = Change::updated(&serde_json::json!({"a": 1}), &serde_json::json!({"a": 2}))
            .with_after_fields(serde_json::json!({"id": "x"}));
        assert_eq!(change.before, Some(serde_json::json!({"a": 1})));
        assert_eq!(change.after, Some(serde_json::json!({"a": 2, "id": "x"})));
        assert!(change.error.is_none());
    }
}
