//! The routes of `/api/tasks` and `/api/{user_id}/tasks`.

use axum::Json;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use shared::audit::{Action, Change};
use shared::auth::Caller;
use shared::domain::{self, Patch, TaskStatus, non_null};
use shared::error::{ApiError, Fields};
use shared::http::idempotency::{self, Answer, IdempotencyKey};
use shared::http::pagination::{Page, PageQuery, PageRequest, contains_pattern};
use shared::http::{AppJson, AppQuery};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::owner::Owner;
use crate::task::{Task, from_completed, load, requested_status};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    status: Option<TaskStatus>,
    /// `true`: only completed tasks; `false`: only pending ones.
    completed: Option<bool>,
    /// Text search in title and description.
    q: Option<String>,
}

/// `GET`: the caller's tasks, newest first.
#[utoipa::path(get, path = "/api/tasks", params(ListQuery, PageQuery),
    responses((status = 200, description = "The caller's tasks, newest first", body = Page<Task>)))]
pub async fn list(
    mut owner: Owner,
    AppQuery(query): AppQuery<ListQuery>,
    page: PageRequest<(DateTime<Utc>, Uuid)>,
) -> Result<Json<Page<Task>>, ApiError> {
    // Both filters apply: `status=Pending&completed=true` matches nothing.
    let status = match (query.status, query.completed.map(from_completed)) {
        (Some(a), Some(b)) if a != b => {
            let total = page.include_total.then_some(0);
            return Ok(Json(Page::from_rows(
                Vec::new(),
                page.limit,
                total,
                |t: &Task| (t.created_at, t.id),
            )));
        }
        (a, b) => a.or(b),
    };
    let pattern = query
        .q
        .as_deref()
        .map(str::trim)
        .filter(|q| !q.is_empty())
        .map(contains_pattern);
    let (before_at, before_id) = page.after.unzip();
    let org = owner.tenant.caller.org_id;
    let rows = sqlx::query_as!(
        Task,
        r#"SELECT id, user_id, title, description, status AS "status: TaskStatus", status = 'Completed' AS "completed!", created_by, created_at, updated_at
           FROM tasks
           WHERE user_id = $1 AND org_id = $2
             AND ($3::task_status IS NULL OR status = $3)
             AND ($4::text IS NULL OR title ILIKE $4 OR description ILIKE $4)
             AND ($5::timestamptz IS NULL OR (created_at, id) < ($5, $6))
           ORDER BY created_at DESC, id DESC
           LIMIT $7"#,
        owner.user_id,
        org,
        status as Option<TaskStatus>,
        pattern,
        before_at,
        before_id,
        page.limit + 1
    )
    .fetch_all(&mut *owner.tenant.db)
    .await?;
    let total = page
        .total(
            sqlx::query_scalar!(
                r#"SELECT count(*) AS "count!" FROM tasks
                   WHERE user_id = $1 AND org_id = $2 AND ($3::task_status IS NULL OR status = $3)
                     AND ($4::text IS NULL OR title ILIKE $4 OR description ILIKE $4)"#,
                owner.user_id,
                org,
                status as Option<TaskStatus>,
                pattern
            )
            .fetch_one(&mut *owner.tenant.db),
        )
        .await?;
    Ok(Json(Page::from_rows(rows, page.limit, total, |t| {
        (t.created_at, t.id)
    })))
}

#[derive(Clone, Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTask {
    #[schema(format = "line", min_length = 1, max_length = 200)]
    title: String,
    #[schema(max_length = 1000)]
    description: Option<String>,
    status: Option<TaskStatus>,
    /// Another way to set `status`: `true` is `Completed`, `false` is `Pending`.
    completed: Option<bool>,
}

/// A [`CreateTask`] checked.
pub struct NewTask {
    title: String,
    description: Option<String>,
    status: TaskStatus,
}

impl TryFrom<CreateTask> for NewTask {
    type Error = ApiError;

    /// Every invalid field in one 422.
    fn try_from(body: CreateTask) -> Result<Self, ApiError> {
        let mut fields = Fields::default();
        let title = fields.name(&body.title, "title", 200);
        let description = fields.check(domain::optional_text(
            body.description.as_deref(),
            "description",
            1000,
        ));
        let status = requested_status(body.status, body.completed, &mut fields);
        match title {
            Some(title) if fields.is_empty() => Ok(Self {
                title,
                description: description.flatten(),
                status: status.unwrap_or(TaskStatus::Pending),
            }),
            _ => Err(fields.into_error()),
        }
    }
}

/// `POST`: 201 with the new task (honours `Idempotency-Key`).
#[utoipa::path(post, path = "/api/tasks", params(shared::http::openapi::IdempotencyKeyHeader), request_body = CreateTask,
    responses((status = 201, body = Task)))]
pub async fn create(
    mut owner: Owner,
    key: IdempotencyKey,
    AppJson(body): AppJson<CreateTask>,
) -> Result<Answer, ApiError> {
    let (user, actor) = (owner.user_id, owner.actor);
    idempotency::create_new(&mut owner.tenant, &key, body, async |tx, caller, new| {
        insert(tx, caller, user, actor, new).await
    })
    .await
}

/// Writes a new task and its audit row.
async fn insert(
    tx: &mut PgConnection,
    caller: &Caller,
    user: Uuid,
    actor: Uuid,
    new: NewTask,
) -> Result<(StatusCode, Task), ApiError> {
    let task = sqlx::query_as!(
        Task,
        r#"INSERT INTO tasks (org_id, user_id, title, description, status, created_by)
           VALUES ($1, $2, $3, $4, $5, $6)
           RETURNING id, user_id, title, description, status AS "status: TaskStatus",
                     status = 'Completed' AS "completed!", created_by, created_at, updated_at"#,
        caller.org_id,
        user,
        new.title,
        new.description,
        new.status as TaskStatus,
        actor
    )
    .fetch_one(&mut *tx)
    .await?;
    caller
        .audit(tx, Action::TaskCreated, task.id, Change::created(&task))
        .await?;
    Ok((StatusCode::CREATED, task))
}

/// `GET /{id}`.
#[utoipa::path(get, path = "/api/tasks/{id}", params(("id" = Uuid, Path)),
    responses((status = 200, body = Task)))]
pub async fn get_one(mut owner: Owner) -> Result<Json<Task>, ApiError> {
    let (org, user, id) = (owner.tenant.caller.org_id, owner.user_id, owner.task_id()?);
    Ok(Json(
        load(&mut owner.tenant.db, org, user, id, false).await?,
    ))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTask {
    #[schema(value_type = String, format = "line", min_length = 1, max_length = 200)]
    #[serde(default, deserialize_with = "non_null")]
    title: Option<String>,
    #[schema(value_type = Option<String>, max_length = 1000)]
    #[serde(default)]
    description: Patch<String>,
    #[schema(value_type = TaskStatus)]
    #[serde(default, deserialize_with = "non_null")]
    status: Option<TaskStatus>,
    /// Another way to set `status`: `true` is `Completed`, `false` is `Pending`.
    #[schema(value_type = bool)]
    #[serde(default, deserialize_with = "non_null")]
    completed: Option<bool>,
}

/// A change to a task, checked (`None`/`Keep`: unchanged).
#[derive(Default)]
struct TaskChange {
    title: Option<String>,
    description: Patch<String>,
    status: Option<TaskStatus>,
}

impl TaskChange {
    /// The task with this change made.
    fn apply(self, mut task: Task) -> Task {
        shared::edit!(self => task; title, description, status);
        task.completed = task.status == TaskStatus::Completed;
        task
    }

    /// Makes the change `of` the owner's task `{id}` (locked while it is made), audited.
    async fn save(owner: &mut Owner, of: impl FnOnce(&Task) -> Self) -> Result<Task, ApiError> {
        let (org, user, id) = (owner.tenant.caller.org_id, owner.user_id, owner.task_id()?);
        let (caller, tx) = (&owner.tenant.caller, &mut *owner.tenant.db);
        let before = load(&mut *tx, org, user, id, true).await?;
        let next = of(&before).apply(before.clone());
        let after = sqlx::query_as!(
            Task,
            r#"UPDATE tasks SET title = $4, description = $5, status = $6, updated_at = now()
               WHERE id = $1 AND user_id = $2 AND org_id = $3
               RETURNING id, user_id, title, description, status AS "status: TaskStatus", status = 'Completed' AS "completed!", created_by, created_at, updated_at"#,
            id,
            user,
            org,
            next.title,
            next.description,
            next.status as TaskStatus
        )
        .fetch_one(&mut *tx)
        .await?;
        let change = Change::updated(&before, &after);
        caller.audit(tx, Action::TaskUpdated, id, change).await?;
        Ok(after)
    }
}

impl TryFrom<UpdateTask> for TaskChange {
    type Error = ApiError;

    /// Every invalid field in one 422.
    fn try_from(body: UpdateTask) -> Result<Self, ApiError> {
        let mut fields = Fields::default();
        let change = Self {
            title: fields.new_name(body.title, "title", 200),
            description: fields.patch_text(body.description, "description", 1000),
            status: requested_status(body.status, body.completed, &mut fields),
        };
        fields.finish(change)
    }
}

/// `PUT /{id}`: a partial update; only the fields sent change.
#[utoipa::path(put, path = "/api/tasks/{id}", params(("id" = Uuid, Path)), request_body = UpdateTask,
    responses((status = 200, description = "Only the fields sent change", body = Task)))]
pub async fn update(
    mut owner: Owner,
    AppJson(body): AppJson<UpdateTask>,
) -> Result<Json<Task>, ApiError> {
    let change = TaskChange::try_from(body)?;
    TaskChange::save(&mut owner, |_| change).await.map(Json)
}

/// `DELETE /{id}`: 204.
#[utoipa::path(delete, path = "/api/tasks/{id}", params(("id" = Uuid, Path)),
    responses((status = 204, description = "Deleted")))]
pub async fn delete(mut owner: Owner) -> Result<StatusCode, ApiError> {
    let (org, user, id) = (owner.tenant.caller.org_id, owner.user_id, owner.task_id()?);
    let (caller, tx) = (&owner.tenant.caller, &mut *owner.tenant.db);
    let before = load(&mut *tx, org, user, id, true).await?;
    sqlx::query!(
        "DELETE FROM tasks WHERE id = $1 AND user_id = $2 AND org_id = $3",
        id,
        user,
        org
    )
    .execute(&mut *tx)
    .await?;
    let change = Change::deleted(&before);
    caller.audit(tx, Action::TaskDeleted, id, change).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `PATCH /{id}/complete`: toggles between `Pending` and `Completed`.
#[utoipa::path(patch, path = "/api/tasks/{id}/complete", params(("id" = Uuid, Path)),
    responses((status = 200, description = "Toggled between `Pending` and `Completed`", body = Task)))]
pub async fn toggle(mut owner: Owner) -> Result<Json<Task>, ApiError> {
    let toggled = |task: &Task| TaskChange {
        status: Some(match task.status {
            TaskStatus::Pending => TaskStatus::Completed,
            TaskStatus::Completed => TaskStatus::Pending,
        }),
        ..Default::default()
    };
    TaskChange::save(&mut owner, toggled).await.map(Json)
}
