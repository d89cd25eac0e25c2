//! The states PostgreSQL knows as enums (`po_status`, `reservation_status`, `movement_kind`,
//! `task_status`), as Rust enums: read with `status AS "status: PoStatus"`, bound with
//! `status as PoStatus` (a set with `status = ANY($n)` and `&[PoStatus]`), serialized as the
//! database's labels. `#[derive(sqlx::Type)]` with a `type_name` also gives each its
//! PostgreSQL array type (`_po_status`, ...), which `= ANY($n)` binds.

use serde::{Deserialize, Serialize};

/// The status of a purchase order (the `po_status` enum in the database): draft → submitted →
/// partially received → received, or cancelled.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, sqlx::Type, utoipa::ToSchema,
)]
#[sqlx(type_name = "po_status", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum PoStatus {
    /// Being written; the only status in which the order can be edited.
    Draft,
    /// Sent to the supplier; goods are expected.
    Submitted,
    /// Some of the goods arrived.
    PartiallyReceived,
    /// Every line arrived in full.
    Received,
    /// Called off before anything arrived.
    Cancelled,
}

impl PoStatus {
    /// Orders still in progress (not received, not cancelled): the dashboard's open orders.
    pub const OPEN: [Self; 3] = [Self::Draft, Self::Submitted, Self::PartiallyReceived];
    /// Orders that can be paid: submitted to the supplier, whatever has arrived since.
    pub const PAYABLE: [Self; 3] = [Self::Submitted, Self::PartiallyReceived, Self::Received];
    /// Orders that can still receive goods.
    pub const RECEIVABLE: [Self; 2] = [Self::Submitted, Self::PartiallyReceived];
    /// Orders that can be cancelled: nothing has arrived yet.
    pub const CANCELLABLE: [Self; 2] = [Self::Draft, Self::Submitted];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Submitted => "submitted",
            Self::PartiallyReceived => "partially_received",
            Self::Received => "received",
            Self::Cancelled => "cancelled",
        }
    }
}

/// The status of a stock reservation (the `reservation_status` enum in the database).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, sqlx::Type, utoipa::ToSchema,
)]
#[sqlx(type_name = "reservation_status", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum ReservationStatus {
    /// Holding its units.
    Active,
    /// The units were sold.
    Confirmed,
    /// The units were given back.
    Cancelled,
    /// Its time ran out; the units were given back.
    Expired,
}

impl ReservationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Confirmed => "confirmed",
            Self::Cancelled => "cancelled",
            Self::Expired => "expired",
        }
    }
}

/// The kind of a row of the stock ledger (the `movement_kind` enum in the database); a
/// transfer is two rows, `transfer_out` at the source and `transfer_in` at the destination.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, sqlx::Type, utoipa::ToSchema,
)]
#[sqlx(type_name = "movement_kind", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum MovementKind {
    Receive,
    Sell,
    Adjust,
    TransferOut,
    TransferIn,
}

impl MovementKind {
    /// Both legs of a transfer.
    pub const TRANSFER: [Self; 2] = [Self::TransferOut, Self::TransferIn];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Receive => "receive",
            Self::Sell => "sell",
            Self::Adjust => "adjust",
            Self::TransferOut => "transfer_out",
            Self::TransferIn => "transfer_in",
        }
    }
}

// How a product's units are told apart (the `product_tracking` enum): `none`, `lot` (a lot
// number and expiry date per receipt) or `serial` (each unit its own serial number). No doc
// comment: it would become the description of the `Tracking` schema.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, sqlx::Type, utoipa::ToSchema,
)]
#[sqlx(type_name = "product_tracking", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum Tracking {
    #[default]
    None,
    Lot,
    Serial,
}

impl Tracking {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Lot => "lot",
            Self::Serial => "serial",
        }
    }
}

// The status of a task (the `task_status` enum in the database, capitalised labels). No doc
// comment: it would become the description of the `TaskStatus` schema.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, sqlx::Type, utoipa::ToSchema,
)]
#[sqlx(type_name = "task_status", rename_all = "PascalCase")]
#[serde(rename_all = "PascalCase")]
pub enum TaskStatus {
    Pending,
    Completed,
}

impl TaskStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "Pending",
            Self::Completed => "Completed",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ApiError;
    use crate::http::AppQuery;
    use axum::extract::FromRequestParts;

    /// The one field error (field, code, message) `AppQuery` makes of `?status=<status>`, or
    /// what it read.
    async fn status_filter<T: serde::de::DeserializeOwned>(
        status: &str,
    ) -> Result<Option<T>, (String, String, String)> {
        #[derive(serde::Deserialize)]
        struct Filter<T> {
            status: Option<T>,
        }
        let request = http::Request::get(format!("/?status={status}"))
            .body(())
            .unwrap();
        let (mut parts, ()) = request.into_parts();
        match AppQuery::<Filter<T>>::from_request_parts(&mut parts, &()).await {
            Ok(AppQuery(filter)) => Ok(filter.status),
            Err(ApiError::Validation { errors }) => {
                let [error] = &errors[..] else {
                    panic!("one error: {errors:?}")
                };
                Err((
                    error.field.clone(),
                    error.code.to_string(),
                    error.message.clone(),
                ))
            }
            Err(other) => panic!("a validation error: {other:?}"),
        }
    }

    fn invalid(message: &str) -> Result<(), (String, String, String)> {
        Err(("status".into(), "invalid".into(), message.into()))
    }

    /// A query parameter of one of these types takes exactly the labels, and refuses anything
    /// else as a 422 naming the parameter and listing them (what the `status` checks of
    /// inventory's lists said before they took the enums).
    #[tokio::test]
    async fn query_filters_take_the_labels_and_list_them_when_refused() {
        assert_eq!(
            status_filter("partially_received").await,
            Ok(Some(PoStatus::PartiallyReceived))
        );
        assert_eq!(status_filter::<PoStatus>("").await, Ok(None));
        for refused in ["Draft", "open", "draft%20"] {
            assert_eq!(
                status_filter::<PoStatus>(refused).await.map(|_| ()),
                invalid("must be one of draft, submitted, partially_received, received, cancelled")
            );
        }
        assert_eq!(
            status_filter("expired").await,
            Ok(Some(ReservationStatus::Expired))
        );
        assert_eq!(
            status_filter::<ReservationStatus>("Active")
                .await
                .map(|_| ()),
            invalid("must be one of active, confirmed, cancelled, expired")
        );
        assert_eq!(
            status_filter::<TaskStatus>("pending").await.map(|_| ()),
            invalid("must be one of Pending, Completed")
        );
    }

    /// `as_str` is the label serde writes (and the database holds).
    fn labels<T: Serialize + Copy>(all: &[T], as_str: fn(T) -> &'static str) {
        for &state in all {
            assert_eq!(
                serde_json::to_value(state).unwrap(),
                serde_json::Value::from(as_str(state))
            );
        }
    }

    #[test]
    fn names_are_the_database_labels() {
        use PoStatus::*;
        labels(
            &[Draft, Submitted, PartiallyReceived, Received, Cancelled],
            PoStatus::as_str,
        );
        labels(
            &[
                ReservationStatus::Active,
                ReservationStatus::Confirmed,
                ReservationStatus::Cancelled,
                ReservationStatus::Expired,
            ],
            ReservationStatus::as_str,
        );
        use MovementKind::*;
        labels(
            &[Receive, Sell, Adjust, TransferOut, TransferIn],
            MovementKind::as_str,
        );
        labels(
            &[Tracking::None, Tracking::Lot, Tracking::Serial],
            Tracking::as_str,
        );
        labels(
            &[TaskStatus::Pending, TaskStatus::Completed],
            TaskStatus::as_str,
        );
    }
}
