//! The `tasks` function: a person's to-dos, at `/api/tasks` (the caller's own) and at
//! `/api/{user_id}/tasks` (the same for one's own id, for frontends built on that contract).
//!
//! Everyone reaches their own tasks (no module grant needed). Owners and admins also reach
//! their staff's at `/api/{user_id}/tasks`: team to-dos they assign, list and follow up. For
//! anyone else another user's `{user_id}` is a 403 (logged), and another user's task id a 404.

use axum::Json;
use axum::Router;
use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::Response;
use axum::routing::{get, patch};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use shared::AppState;
use shared::audit::{Action, Change};
use shared::auth::Tenant;
use shared::domain::{self, Patch, TaskStatus, non_null};
use shared::error::{ApiError, Fields};
use shared::http::{AppJson, AppQuery};
use shared::idempotency::{self, IdempotencyKey};
use shared::pagination::{Page, PageQuery, contains_pattern};
use sqlx::PgConnection;
use uuid::Uuid;

pub fn app(state: AppState) -> Router {
    let http = state.settings.http.clone();
    let routes = || {
        Router::new()
            .route("/", get(list).post(create))
            .route("/{id}", get(get_one).put(update).delete(delete))
            .route("/{id}/complete", patch(toggle))
    };
    let router = Router::new()
        .nest("/api/tasks", routes())
        .nest("/api/{user_id}/tasks", routes())
        .with_state(state);
    shared::http::layers(router, &http, openapi)
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Task {
    id: Uuid,
    user_id: Uuid,
    title: String,
    description: Option<String>,
    status: TaskStatus,
    /// `true` exactly when `status` is `Completed` (for clients that track a boolean).
    completed: bool,
    /// Who made the task: the person themselves, or an owner or admin who assigned it.
    created_by: Option<Uuid>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// The status the `completed` boolean stands for.
fn from_completed(completed: bool) -> TaskStatus {
    if completed {
        TaskStatus::Completed
    } else {
        TaskStatus::Pending
    }
}

/// The status a request asks for with `status` and/or `completed` (which must agree).
fn requested_status(
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

/// Whose tasks a request reaches, after checking the caller: a user (tasks belong to people,
/// not API keys; no module grant is needed for one's own), the `{user_id}` of the path (only
/// owners and admins reach someone else's: team to-dos), and the task `{id}` if the route has
/// one.
struct Owner {
    tenant: Tenant,
    /// The person whose tasks these are.
    user_id: Uuid,
    /// The caller, who is recorded as the one who acted (and who made a task).
    actor: Uuid,
    task_id: Option<Uuid>,
}

impl<S> FromRequestParts<S> for Owner
where
    S: Send + Sync,
    AppState: axum::extract::FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let mut tenant = Tenant::from_request_parts(parts, state).await?;
        let actor = tenant.caller.user_id().ok_or_else(|| {
            ApiError::forbidden("user_required", "tasks belong to users; API keys have none")
        })?;
        let mut user_id = actor;
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::not_found("task"))?;
        let mut task_id = None;
        for (name, value) in &params {
            match name {
                // Not an id at all: no such path (404), as for any malformed id.
                "user_id" if value.parse::<Uuid>().is_err() => {
                    return Err(ApiError::not_found("user"));
                }
                "user_id" => {
                    let requested = value
                        .parse::<Uuid>()
                        .map_err(|_| ApiError::not_found("user"))?;
                    if requested != actor {
                        // Owners and admins manage their organization's members; any other id,
                        // whether or not it is a person anywhere, is one the caller may not
                        // manage: the same 403, which tells nothing about that id.
                        let manages = tenant.caller.is_admin()
                            && {
                                let org = tenant.caller.org_id;
                                sqlx::query_scalar!(
                                r#"SELECT EXISTS (SELECT 1 FROM memberships
                                                  WHERE user_id = $1 AND org_id = $2) AS "member!""#,
                                requested,
                                org
                            )
                            .fetch_one(&mut *tenant.db)
                            .await?
                            };
                        if !manages {
                            tracing::warn!(caller = %actor, requested = value, "tasks of another user requested");
                            return Err(ApiError::forbidden(
                                "other_user",
                                "User ID mismatch: you can only reach your own tasks; owners and \
                                 admins reach their organization's members'",
                            ));
                        }
                    }
                    user_id = requested;
                }
                "id" => {
                    task_id = Some(
                        value
                            .parse::<Uuid>()
                            .map_err(|_| ApiError::not_found("task"))?,
                    )
                }
                _ => {}
            }
        }
        Ok(Self {
            tenant,
            user_id,
            actor,
            task_id,
        })
    }
}

impl Owner {
    /// The `{id}` of the route (every route that asks for it has one).
    fn task_id(&self) -> Result<Uuid, ApiError> {
        self.task_id.ok_or_else(|| ApiError::not_found("task"))
    }
}

async fn load(
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
async fn list(
    mut owner: Owner,
    AppQuery(query): AppQuery<ListQuery>,
    AppQuery(page): AppQuery<PageQuery>,
) -> Result<Json<Page<Task>>, ApiError> {
    let page = page.parse::<(DateTime<Utc>, Uuid)>()?;
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
    let total = if page.include_total {
        Some(
            sqlx::query_scalar!(
                r#"SELECT count(*) AS "count!" FROM tasks
                   WHERE user_id = $1 AND org_id = $2 AND ($3::task_status IS NULL OR status = $3)
                     AND ($4::text IS NULL OR title ILIKE $4 OR description ILIKE $4)"#,
                owner.user_id,
                org,
                status as Option<TaskStatus>,
                pattern
            )
            .fetch_one(&mut *owner.tenant.db)
            .await?,
        )
    } else {
        None
    };
    Ok(Json(Page::from_rows(rows, page.limit, total, |t| {
        (t.created_at, t.id)
    })))
}

#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
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

/// `POST`: 201 with the new task (honours `Idempotency-Key`).
#[utoipa::path(post, path = "/api/tasks", params(shared::openapi::IdempotencyKeyHeader), request_body = CreateTask,
    responses((status = 201, body = Task)))]
async fn create(
    mut owner: Owner,
    key: IdempotencyKey,
    AppJson(body): AppJson<CreateTask>,
) -> Result<Response, ApiError> {
    let mut fields = Fields::default();
    let title = fields.check(domain::name(&body.title, "title", 200));
    let description = fields.check(domain::optional_text(
        body.description.as_deref(),
        "description",
        1000,
    ));
    let status = requested_status(body.status, body.completed, &mut fields);
    let (Some(title), Some(description)) = (title, description) else {
        return Err(fields.into_error());
    };
    if !fields.is_empty() {
        return Err(fields.into_error());
    }
    let (org, user, actor) = (owner.tenant.caller.org_id, owner.user_id, owner.actor);
    let caller = owner.tenant.caller.clone();
    let tx = &mut *owner.tenant.db;
    let response = idempotency::create(&mut *tx, &caller, &key, &body, async |tx| {
        let task = sqlx::query_as!(
            Task,
            r#"INSERT INTO tasks (org_id, user_id, title, description, status, created_by) VALUES ($1, $2, $3, $4, $5, $6)
               RETURNING id, user_id, title, description, status AS "status: TaskStatus", status = 'Completed' AS "completed!", created_by, created_at, updated_at"#,
            org,
            user,
            title,
            description,
            status.unwrap_or(TaskStatus::Pending) as TaskStatus,
            actor
        )
        .fetch_one(&mut *tx)
        .await?;
        caller.audit(tx, Action::TaskCreated, task.id, Change::created(&task)).await?;
        Ok((StatusCode::CREATED, task))
    })
    .await?;
    Ok(response)
}

/// `GET /{id}`.
#[utoipa::path(get, path = "/api/tasks/{id}", params(("id" = Uuid, Path)),
    responses((status = 200, body = Task)))]
async fn get_one(mut owner: Owner) -> Result<Json<Task>, ApiError> {
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

impl TryFrom<UpdateTask> for TaskChange {
    type Error = ApiError;

    /// Every invalid field in one 422.
    fn try_from(body: UpdateTask) -> Result<Self, ApiError> {
        let mut fields = Fields::default();
        let change = Self {
            title: body
                .title
                .and_then(|t| fields.check(domain::name(&t, "title", 200))),
            description: fields
                .check(domain::patch_text(body.description, "description", 1000))
                .unwrap_or_default(),
            status: requested_status(body.status, body.completed, &mut fields),
        };
        if !fields.is_empty() {
            return Err(fields.into_error());
        }
        Ok(change)
    }
}

impl TaskChange {
    /// The task with this change made.
    fn apply(self, mut task: Task) -> Task {
        task.title = self.title.unwrap_or(task.title);
        task.description = self.description.apply(task.description);
        task.status = self.status.unwrap_or(task.status);
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

/// `PUT /{id}`: a partial update; only the fields sent change.
#[utoipa::path(put, path = "/api/tasks/{id}", params(("id" = Uuid, Path)), request_body = UpdateTask,
    responses((status = 200, description = "Only the fields sent change", body = Task)))]
async fn update(
    mut owner: Owner,
    AppJson(body): AppJson<UpdateTask>,
) -> Result<Json<Task>, ApiError> {
    let change = TaskChange::try_from(body)?;
    TaskChange::save(&mut owner, |_| change).await.map(Json)
}

/// `DELETE /{id}`: 204.
#[utoipa::path(delete, path = "/api/tasks/{id}", params(("id" = Uuid, Path)),
    responses((status = 204, description = "Deleted")))]
async fn delete(mut owner: Owner) -> Result<StatusCode, ApiError> {
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
async fn toggle(mut owner: Owner) -> Result<Json<Task>, ApiError> {
    let toggled = |task: &Task| TaskChange {
        status: Some(match task.status {
            TaskStatus::Pending => TaskStatus::Completed,
            TaskStatus::Completed => TaskStatus::Pending,
        }),
        ..Default::default()
    };
    TaskChange::save(&mut owner, toggled).await.map(Json)
}

/// This function's operations, for the whole API's document: each `/api/tasks` operation again
/// under `/api/{user_id}/tasks`, as the router serves them.
pub fn openapi() -> utoipa::openapi::OpenApi {
    use utoipa::openapi::path::{Parameter, ParameterIn};
    use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
    use utoipa::openapi::{Required, Response};

    #[derive(utoipa::OpenApi)]
    #[openapi(paths(list, create, get_one, update, delete, toggle))]
    struct Doc;
    let mut doc = shared::openapi::function(<Doc as utoipa::OpenApi>::openapi(), "tasks");
    let user_id = Parameter::builder()
        .name("user_id")
        .parameter_in(ParameterIn::Path)
        .required(Required::True)
        .description(Some(
            "The caller's own user id; an owner or admin may name someone of their \
             organization (team to-dos); anyone else naming another user gets a 403.",
        ))
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::Uuid))),
        ))
        .build();
    let scoped: Vec<_> = doc
        .paths
        .paths
        .iter()
        .filter_map(|(path, item)| {
            let rest = path.strip_prefix("/api/tasks")?;
            let mut item = item.clone();
            for operation in shared::openapi::operations_mut(&mut item) {
                operation.operation_id = operation.operation_id.take().map(|id| id + "_for_user");
                operation
                    .parameters
                    .get_or_insert_with(Vec::new)
                    .insert(0, user_id.clone().into());
                operation.responses.responses.insert(
                    "403".into(),
                    Response::new("`other_user`: the user id is not the caller's and the caller is not an owner or admin.").into(),
                );
            }
            Some((format!("/api/{{user_id}}/tasks{rest}"), item))
        })
        .collect();
    doc.paths.paths.extend(scoped);
    let schemas = &mut doc.components.get_or_insert_with(Default::default).schemas;
    for name in ["CreateTask", "UpdateTask"] {
        let schema = schemas.get_mut(name).expect("tasks' request schemas");
        status_and_completed_agree(schema);
    }
    doc
}

/// Rewrites a task request schema as "any of" two shapes, one per status, so the document says
/// that `status` and `completed`, when both are sent, must agree.
fn status_and_completed_agree(
    schema: &mut utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
) {
    use utoipa::openapi::RefOr;
    use utoipa::openapi::schema::{AnyOf, ObjectBuilder, Schema, Type};
    let RefOr::T(Schema::Object(object)) = schema else {
        panic!("task request schemas are objects");
    };
    let shape = |status: &str, completed: bool| {
        let mut object = object.clone();
        object.description = None;
        object.properties.insert(
            "status".into(),
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some([status]))
                .into(),
        );
        object.properties.insert(
            "completed".into(),
            ObjectBuilder::new()
                .schema_type(Type::Boolean)
                .enum_values(Some([completed]))
                .into(),
        );
        Schema::Object(object)
    };
    let mut any_of = AnyOf::new();
    any_of.description = Some(
        object
            .description
            .clone()
            .map(|d| d + " ")
            .unwrap_or_default()
            + "`status` and `completed`, when both are sent, must agree.",
    );
    any_of.items = vec![
        shape("Pending", false).into(),
        shape("Completed", true).into(),
    ];
    *schema = RefOr::T(Schema::AnyOf(any_of));
}
