//! A task as the API shows it, how one is loaded, and how `status` and `completed` agree.

use chrono::{DateTime, Utc};
use serde::Serialize;
use shared::domain::TaskStatus;
use shared::error::{ApiError, Fields};
use sqlx::PgConnection;
use uuid::Uuid;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Task {
    pub(crate) id: Uuid,
    pub(crate) user_id: Uuid,
    pub(crate) title: String,
    pub(crate) description: Option<String>,
    pub(crate) status: TaskStatus,
    /// `true` exactly when `status` is `Completed` (for clients that track a boolean).
    pub(crate) completed: bool,
    /// Who made the task: the person themselves, or an owner or admin who assigned it.
    pub(crate) created_by: Option<Uuid>,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) updated_at: DateTime<Utc>,
}

/// The status the `completed` boolean stands for.
pub fn from_completed(completed: bool) -> TaskStatus {
    if completed {
        TaskStatus::Completed
    } else {
        TaskStatus::Pending
    }
}

/// The status a request asks for with `status` and/or `completed` (which must agree).
pub fn requested_status(
    status: Option<TaskStatus>,
    completed: Option<bool>,
    fields: &mut Fields,
) -> Option<TaskStatus> {
    match (status, completed.map(from_completed)) {
        (Some(a), Some(b)) if a != b => {
            fields.add(shared::error::FieldError::new(
                "completed",
                "conflict",
                "contradicts `status`; send one of them, or both agreeing",
            ));
            None
        }
        (status, from_completed) => status.or(from_completed),
    }
}

/// The task `id` of `user` in `org`; `lock` locks its row for the rest of the transaction.
pub async fn load(
    conn: &mut PgConnection,
    org: Uuid,
    user: Uuid,
    id: Uuid,
    lock: bool,
) -> Result<Task, ApiError> {
    let task = if lock {
        sqlx::query_as!(
            Task,
            r#"SELECT id, user_id, title, description, status AS "status: TaskStatus", status = 'Completed' AS "completed!", created_by, created_at, updated_at
               FROM tasks WHERE id = $1 AND user_id = $2 AND org_id = $3 FOR UPDATE"#,
            id,
            user,
            org
        )
        .fetch_optional(conn)
        .await?
    } else {
        sqlx::query_as!(
            Task,
            r#"SELECT id, user_id, title, description, status AS "status: TaskStatus", status = 'Completed' AS "completed!", created_by, created_at, updated_at
               FROM tasks WHERE id = $1 AND user_id = $2 AND org_id = $3"#,
            id,
            user,
            org
        )
        .fetch_optional(conn)
        .await?
    };
    task.ok_or_else(|| ApiError::not_found("task"))
}
