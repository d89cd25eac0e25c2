//! `POST /api/purchase-orders/{id}/pay`: the route that starts a payment. It checks the order
//! can be paid, asks for a second person's approval when the payment needs one (202), and
//! otherwise runs it ([`super::run`]).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use shared::auth::caller::{Purchasing, Write};
use shared::auth::{Require, StepUp};
use shared::error::ApiError;
use shared::http::idempotency::{self, Claim, IdempotencyKey};
use shared::http::{AppJson, PathId};
use shared::wise;

use super::{approvals, run};
use crate::purchase_orders::order::{self, PurchaseOrder};
use crate::state::InventoryState;

#[derive(Debug, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Pay {
    /// The Wise balance to pay from; the order's currency when absent.
    #[schema(value_type = Option<shared::domain::CurrencyCode>)]
    source_currency: Option<shared::domain::Currency>,
}

/// `POST /api/purchase-orders/{id}/pay` `{source_currency?}`: pays the order's total to its
/// supplier through the organization's own Wise connection (honours `Idempotency-Key`). Needs a
/// step-up; API keys cannot pay. 200 with the order and its payment; 202 when the payment waits
/// for a second owner or admin (see [`crate::approvals`]); 502 `wise_error` with Wise's message
/// when Wise refuses (the payment is then `failed` and may be retried); 502 `wise_unreachable`
/// when the transfer exists but Wise did not say how the run ended (the payment stays `pending`
/// while that is checked); 409 when the order cannot be paid (see the module documentation) or
/// the organization has not connected Wise (`wise_not_connected`).
#[utoipa::path(post, path = "/api/purchase-orders/{id}/pay", operation_id = "pay_purchase_order", params(("id" = Uuid, Path), shared::http::openapi::IdempotencyKeyHeader, shared::http::openapi::StepUpHeader), request_body(content = Option<Pay>, description = "Optional"),
    responses((status = 200, description = "Paid through Wise (or under way); the order with its `payment`", body = PurchaseOrder),
        (status = 202, description = "Waits for approval by a second owner or admin (`approval` on the order says why: the threshold, or payment details changed in the last 24 hours)", body = PurchaseOrder),
        (status = 401, description = "`step_up_required`: confirm with POST /api/auth/step-up first"),
        (status = 403, description = "`step_up_unavailable`: API keys cannot pay; `missing_permission`"),
        (status = 409, description = "`wise_not_connected`; `approval_pending`; not payable in its state; a payment is pending, processing or paid; its transfer bounced back (`payment_bounced`), was charged back, or is open under another Wise profile (`wise_profile_changed`)"),
        (status = 502, description = "`wise_error`: Wise refused; the payment is recorded as failed and can be retried. `wise_unreachable`: the transfer exists but Wise did not confirm the outcome; the payment stays pending while it is checked (webhook, or `/pay` again after 2 minutes)"),
        (status = 503, description = "`payments_not_configured`, or the database did not answer")))]
pub async fn pay(
    StepUp(mut tenant): StepUp<Require<Purchasing, Write>>,
    State(state): State<InventoryState>,
    key: IdempotencyKey,
    PathId(id): PathId,
    body: Option<AppJson<Pay>>,
) -> Result<Response, ApiError> {
    let body = body.map(|AppJson(body)| body).unwrap_or_default();
    // Checked as the body was read (`domain::Currency`).
    let source_currency = body.source_currency.as_deref().map(str::to_owned);
    let (caller, tx) = tenant.parts();
    let org = caller.org_id;

    let claimed = match idempotency::claim(&mut *tx, caller, &key, &body).await? {
        Claim::Replay(response) => return Ok(response),
        Claim::Untracked => None,
        Claim::Fresh(claimed) => Some(claimed),
    };
    let order = order::load(&mut *tx, org, id, true).await?;
    let source = source_currency
        .clone()
        .unwrap_or_else(|| order.currency.clone());
    // Checked before asking for approval, so nobody approves what cannot be paid.
    wise::connection::client(&mut *tx, &state.app.settings.keys, state.wise_api()?, org).await?;
    order::payable(&order)?;
    if approvals::gate(&mut *tx, caller, &order, &source)
        .await?
        .is_some()
    {
        let order = order::load(&mut *tx, org, id, false).await?;
        if let Some(claimed) = claimed {
            claimed
                .store(&mut *tx, StatusCode::ACCEPTED, &order)
                .await?;
        }
        return Ok((StatusCode::ACCEPTED, axum::Json(order)).into_response());
    }
    run::run(&state, tenant.0, order, source_currency, claimed).await
}
