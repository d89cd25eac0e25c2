//! Named constraint violations turned into API errors where the statement is written.

use super::api::ApiError;

/// Turns named constraint violations into API errors at the call site:
/// `.on_constraint("products_org_sku_key", |_| ApiError::conflict("sku_taken", "..."))`.
pub trait ResultExt<T> {
    fn on_constraint(
        self,
        name: &str,
        map: impl FnOnce(&dyn sqlx::error::DatabaseError) -> ApiError,
    ) -> Result<T, ApiError>;
}

impl<T> ResultExt<T> for Result<T, sqlx::Error> {
    fn on_constraint(
        self,
        name: &str,
        map: impl FnOnce(&dyn sqlx::error::DatabaseError) -> ApiError,
    ) -> Result<T, ApiError> {
        self.map_err(ApiError::from).on_constraint(name, map)
    }
}

/// Chains: `.on_constraint("a", ..).on_constraint("b", ..)`.
impl<T> ResultExt<T> for Result<T, ApiError> {
    fn on_constraint(
        self,
        name: &str,
        map: impl FnOnce(&dyn sqlx::error::DatabaseError) -> ApiError,
    ) -> Result<T, ApiError> {
        self.map_err(|error| {
            let violated = match &error {
                ApiError::Internal(cause) => cause
                    .downcast_ref::<sqlx::Error>()
                    .and_then(sqlx::Error::as_database_error)
                    .filter(|db| db.constraint() == Some(name)),
                _ => None,
            };
            match violated {
                Some(db) => map(db),
                None => error,
            }
        })
    }
}
