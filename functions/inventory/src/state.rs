//! The inventory function's router state.

use axum::extract::FromRef;
use shared::AppState;

/// The router's state: the shared state and Wise's API (its HTTP client built once per cold
/// start; each organization's own connection supplies the token and profile).
#[derive(Clone, Debug)]
pub struct InventoryState {
    pub app: AppState,
    pub wise: Option<shared::wise::Api>,
}

impl InventoryState {
    /// The deployment's Wise client, or 503 `payments_not_configured` when it could not be
    /// built at cold start.
    pub fn wise_api(&self) -> Result<&shared::wise::Api, shared::ApiError> {
        self.wise
            .as_ref()
            .ok_or_else(|| shared::ApiError::NotConfigured {
                code: "payments_not_configured",
                detail:
                    "paying suppliers through Wise is not available: the Wise client could not \
                     be built (see the function's log)"
                        .into(),
            })
    }
}

impl FromRef<InventoryState> for AppState {
    fn from_ref(state: &InventoryState) -> Self {
        state.app.clone()
    }
}
