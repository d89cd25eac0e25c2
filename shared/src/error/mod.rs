//! The one error type of the API, rendered once as RFC 9457 `application/problem+json`.
//!
//! Every body carries `type`, `title`, `status`, `detail`, a stable machine `code`, the
//! `request_id` and, for validation failures, field `errors`. Internal causes are logged with
//! their chain and never sent to the client.
//!
//! [`api`] holds the type and its field errors, [`problem`] renders it, [`constraint`] turns
//! constraint violations into it. Nothing here uses any other module of the crate but the
//! request's id: every other module may use this one.

pub mod api;
pub mod constraint;
pub mod problem;

pub use api::{ApiError, FieldError, Fields, PROBLEM_JSON, watch_database_errors};
pub use constraint::ResultExt;
pub use problem::problem_for_status;

#[cfg(test)]
mod tests {
    use super::*;
    use axum::response::IntoResponse;
    use axum::response::Response;
    use http::{StatusCode, header};
    use http_body_util::BodyExt;

    async fn body(response: Response) -> serde_json::Value {
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn validation_errors_list_their_fields() {
        let response =
            ApiError::invalid_field("name", "required", "must not be empty").into_response();
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(response.headers()[header::CONTENT_TYPE], PROBLEM_JSON);
        let body = body(response).await;
        assert_eq!(body["code"], "validation_failed");
        assert_eq!(body["type"], "urn:stockroom:problem:validation_failed");
        assert_eq!(body["title"], "Unprocessable Entity");
        assert_eq!(body["errors"][0]["field"], "name");
        assert_eq!(body["errors"][0]["code"], "required");
    }

    #[tokio::test]
    async fn internal_errors_hide_their_cause() {
        let response =
            ApiError::Internal(anyhow::anyhow!("password=hunter2 in SELECT")).into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let text = body(response).await.to_string();
        assert!(
            !text.contains("hunter2") && !text.contains("SELECT"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn rate_limited_sets_retry_after() {
        let response = ApiError::RateLimited {
            retry_after_secs: 42,
        }
        .into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[header::RETRY_AFTER], "42");
    }

    #[tokio::test]
    async fn conflict_extras_become_members() {
        let mut error = ApiError::conflict("insufficient_stock", "only 3 available");
        if let ApiError::Conflict { extra, .. } = &mut error {
            extra.insert("available".into(), 3.into());
        }
        let body = body(error.into_response()).await;
        assert_eq!(body["available"], 3);
        assert_eq!(body["code"], "insufficient_stock");
    }

    #[tokio::test]
    async fn upstream_and_unconfigured_errors_keep_their_code() {
        let response = ApiError::Upstream {
            code: "wise_error",
            detail: "Wise refused the payment: insufficient funds".into(),
        }
        .into_response();
        assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
        let body = body(response).await;
        assert_eq!(body["code"], "wise_error");
        assert!(
            body["detail"]
                .as_str()
                .unwrap()
                .contains("insufficient funds")
        );
        let response = ApiError::NotConfigured {
            code: "payments_not_configured",
            detail: "set WISE_WEBHOOK_PUBLIC_KEY".into(),
        }
        .into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body_code(response).await, "payments_not_configured");
    }

    async fn body_code(response: Response) -> String {
        body(response).await["code"].as_str().unwrap().to_owned()
    }

    #[test]
    fn pool_timeouts_are_unavailable() {
        assert_eq!(
            ApiError::from(sqlx::Error::PoolTimedOut).status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            ApiError::from(sqlx::Error::RowNotFound).status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }
}
