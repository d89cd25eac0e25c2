//! Every event type, who may read it, and the schema of its object: what the API documents,
//! what a filter or a subscription may name, and what the database's mapping
//! (`stockroom_event_type`, `stockroom_event_module`) must agree with (a test holds them
//! together).

use crate::error::{ApiError, FieldError, Fields};

/// One type of event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventType {
    /// `<object>.<what happened>`.
    pub name: &'static str,
    /// Who may read it: a module's name, or `members` (owners and admins). A task's events
    /// are also the task owner's.
    pub module: &'static str,
    /// The OpenAPI schema of `data.object`.
    pub object: &'static str,
    pub about: &'static str,
}

const fn t(
    name: &'static str,
    module: &'static str,
    object: &'static str,
    about: &'static str,
) -> EventType {
    EventType {
        name,
        module,
        object,
        about,
    }
}

/// The catalogue.
pub const TYPES: &[EventType] = &[
    t(
        "product.created",
        "products",
        "Product",
        "A product was added to the catalogue.",
    ),
    t(
        "product.updated",
        "products",
        "Product",
        "A product's fields changed.",
    ),
    t(
        "product.deleted",
        "products",
        "Product",
        "A product was deleted (soft: it can come back).",
    ),
    t(
        "stock.changed",
        "inventory",
        "StockChange",
        "A line of the stock ledger: a product's stock at a location changed; the object gives the change and the level it left.",
    ),
    t(
        "stock.low",
        "inventory",
        "StockLow",
        "A product's stock available at all locations fell below its reorder point (once per fall: it must rise to the point again before the next).",
    ),
    t(
        "reservation.created",
        "inventory",
        "Reservation",
        "Units were held for an order.",
    ),
    t(
        "reservation.fulfilled",
        "inventory",
        "Reservation",
        "A reservation was confirmed: its units left as a sale.",
    ),
    t(
        "reservation.released",
        "inventory",
        "Reservation",
        "A reservation was cancelled; its units are available again.",
    ),
    t(
        "reservation.expired",
        "inventory",
        "Reservation",
        "A reservation passed its deadline; its units are available again.",
    ),
    t(
        "stocktake.applied",
        "inventory",
        "StocktakeResult",
        "A stocktake was applied: each counted difference is an `adjust` movement (and a `stock.changed`).",
    ),
    t(
        "lot.expiring",
        "inventory",
        "LotExpiring",
        "A lot with units on hand expires within a week, or has expired (once per lot; the daily digest lists it too).",
    ),
    t(
        "purchase_order.created",
        "purchasing",
        "PurchaseOrder",
        "A purchase order was drafted.",
    ),
    t(
        "purchase_order.updated",
        "purchasing",
        "PurchaseOrder",
        "A draft purchase order changed.",
    ),
    t(
        "purchase_order.submitted",
        "purchasing",
        "PurchaseOrder",
        "A purchase order was sent to the supplier.",
    ),
    t(
        "purchase_order.partially_received",
        "purchasing",
        "PurchaseOrder",
        "Some of a purchase order's goods arrived.",
    ),
    t(
        "purchase_order.received",
        "purchasing",
        "PurchaseOrder",
        "Every line of a purchase order arrived in full.",
    ),
    t(
        "purchase_order.cancelled",
        "purchasing",
        "PurchaseOrder",
        "A purchase order was called off.",
    ),
    t(
        "payment.pending",
        "purchasing",
        "Payment",
        "A payment to a supplier started, or is being checked with Wise.",
    ),
    t(
        "payment.processing",
        "purchasing",
        "Payment",
        "The payment's transfer is funded and on its way.",
    ),
    t(
        "payment.paid",
        "purchasing",
        "Payment",
        "Wise sent the money to the supplier's bank.",
    ),
    t(
        "payment.failed",
        "purchasing",
        "Payment",
        "Wise refused a step of the payment, or the money came back.",
    ),
    t(
        "payment.cancelled",
        "purchasing",
        "Payment",
        "The payment's transfer was cancelled at Wise.",
    ),
    t(
        "payment.approval_requested",
        "purchasing",
        "Approval",
        "A payment waits for a second person's approval.",
    ),
    t(
        "payment.approved",
        "purchasing",
        "Approval",
        "A second person approved a payment.",
    ),
    t(
        "payment.rejected",
        "purchasing",
        "Approval",
        "A second person rejected a payment.",
    ),
    t(
        "payment.approval_cancelled",
        "purchasing",
        "Approval",
        "A request for approval was withdrawn (the order was cancelled or changed).",
    ),
    t(
        "supplier.created",
        "suppliers",
        "Supplier",
        "A supplier was added.",
    ),
    t(
        "supplier.updated",
        "suppliers",
        "Supplier",
        "A supplier's fields changed.",
    ),
    t(
        "supplier.deactivated",
        "suppliers",
        "Supplier",
        "A supplier was deactivated.",
    ),
    t(
        "supplier.reactivated",
        "suppliers",
        "Supplier",
        "A supplier was reactivated.",
    ),
    t("task.created", "tasks", "Task", "A to-do was created."),
    t("task.updated", "tasks", "Task", "A to-do changed."),
    t("task.completed", "tasks", "Task", "A to-do was completed."),
    t("task.deleted", "tasks", "Task", "A to-do was deleted."),
    t(
        "member.invited",
        "members",
        "Person",
        "Someone was invited to the organization.",
    ),
    t(
        "member.joined",
        "members",
        "Person",
        "Someone joined the organization.",
    ),
    t(
        "member.role_changed",
        "members",
        "Person",
        "A member's role changed.",
    ),
    t(
        "member.updated",
        "members",
        "Person",
        "A member's name or permissions changed.",
    ),
    t(
        "member.deactivated",
        "members",
        "Person",
        "A member was deactivated.",
    ),
    t(
        "member.reactivated",
        "members",
        "Person",
        "A member was reactivated.",
    ),
];

/// Every pattern a filter or subscription may name: each type, each `<object>.*`, and `*`.
pub fn patterns() -> Vec<String> {
    let mut patterns = vec!["*".to_owned()];
    for t in TYPES {
        let prefix = format!("{}.*", t.name.split_once('.').map_or(t.name, |(p, _)| p));
        if !patterns.contains(&prefix) {
            patterns.push(prefix);
        }
    }
    patterns.extend(TYPES.iter().map(|t| t.name.to_owned()));
    patterns
}

/// The schema of one pattern ([`patterns`]), for the API document.
pub fn pattern_schema() -> utoipa::openapi::schema::Object {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(patterns()))
        .description(Some(
            "An event type, every type of an object (`<object>.*`) or `*`",
        ))
        .build()
}

/// The schema of a list of patterns.
pub fn patterns_schema() -> utoipa::openapi::schema::Array {
    utoipa::openapi::schema::ArrayBuilder::new()
        .items(pattern_schema())
        .min_items(Some(1))
        .max_items(Some(100))
        .build()
}

/// The type named `name`.
pub fn find(name: &str) -> Option<&'static EventType> {
    TYPES.iter().find(|t| t.name == name)
}

/// Whether an event of type `name` matches `pattern`: the type itself, `prefix.*` or `*`.
pub fn matches(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix(".*") {
        _ if pattern == "*" => true,
        Some(prefix) => name.split_once('.').is_some_and(|(p, _)| p == prefix),
        None => pattern == name,
    }
}

/// Whether `pattern` names at least one type: a type, `prefix.*` of a known prefix, or `*`.
pub fn is_known(pattern: &str) -> bool {
    TYPES.iter().any(|t| matches(pattern, t.name))
}

/// The patterns of `field` checked: each must name a type (422 naming the unknown ones,
/// listed under `field[i]`); duplicates go.
pub fn check_patterns(patterns: &[String], field: &str, fields: &mut Fields) -> Vec<String> {
    let mut kept: Vec<String> = Vec::new();
    for (i, pattern) in patterns.iter().enumerate() {
        let pattern = pattern.trim();
        if !is_known(pattern) {
            fields.add(FieldError::new(
                format!("{field}[{i}]"),
                "unknown_event_type",
                format!("`{pattern}` is no event type, `<prefix>.*` of one, or `*`"),
            ));
        } else if !kept.iter().any(|k| k == pattern) {
            kept.push(pattern.to_owned());
        }
    }
    kept
}

/// A single pattern (a query's `type`), checked as [`check_patterns`] does.
pub fn check_pattern(pattern: &str, field: &str) -> Result<String, ApiError> {
    if is_known(pattern) {
        Ok(pattern.to_owned())
    } else {
        Err(ApiError::invalid_field(
            field,
            "unknown_event_type",
            format!("`{pattern}` is no event type, `<prefix>.*` of one, or `*`"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_types_prefixes_and_everything() {
        assert!(matches("*", "stock.low"));
        assert!(matches("stock.*", "stock.low"));
        assert!(matches("stock.low", "stock.low"));
        assert!(!matches("stock.*", "stocktake.done"));
        assert!(!matches("stock.low", "stock.changed"));
        assert!(is_known("purchase_order.*"));
        assert!(!is_known("purchase.*"));
        assert!(!is_known("product.exploded"));
    }

    #[test]
    fn every_type_is_named_once_and_shaped_as_the_table_requires() {
        let mut names: Vec<_> = TYPES.iter().map(|t| t.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), TYPES.len());
        for t in TYPES {
            let (object, what) = t.name.split_once('.').expect("a dot");
            assert!(!object.is_empty() && !what.is_empty() && !what.contains('.'));
            assert!(
                t.name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b"._".contains(&b))
            );
        }
    }
}
