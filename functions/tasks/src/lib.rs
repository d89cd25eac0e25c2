//! The `tasks` function: a person's to-dos, at `/api/tasks` (the caller's own) and at
//! `/api/{user_id}/tasks` (the same for one's own id, for frontends built on that contract).
//!
//! Everyone reaches their own tasks (no module grant needed). Owners and admins also reach
//! their staff's at `/api/{user_id}/tasks`: team to-dos they assign, list and follow up. For
//! anyone else another user's `{user_id}` is a 403 (logged), and another user's task id a 404.

mod attachments;
mod owner;
mod routes;
mod task;

use axum::Router;
use axum::routing::{get, patch};
use shared::AppState;

pub fn app(state: AppState) -> Router {
    let http = state.settings.http.clone();
    let routes = || {
        Router::new()
            .route("/", get(routes::list).post(routes::create))
            .route(
                "/{id}",
                get(routes::get_one)
                    .put(routes::update)
                    .delete(routes::delete),
            )
            .route("/{id}/complete", patch(routes::toggle))
            .route(
                "/{id}/attachments",
                get(attachments::list).post(attachments::attach),
            )
            .route(
                "/{id}/attachments/{attachment_id}",
                get(attachments::get).delete(attachments::remove),
            )
    };
    let router = Router::new()
        .nest("/api/tasks", routes())
        .nest("/api/{user_id}/tasks", routes())
        .with_state(state);
    shared::http::layers(router, &http, openapi)
}

/// This function's operations, for the whole API's document: each `/api/tasks` operation again
/// under `/api/{user_id}/tasks`, as the router serves them.
pub fn openapi() -> utoipa::openapi::OpenApi {
    use utoipa::openapi::path::{Parameter, ParameterIn};
    use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
    use utoipa::openapi::{Required, Response};

    #[derive(utoipa::OpenApi)]
    #[openapi(paths(
        routes::list,
        routes::create,
        routes::get_one,
        routes::update,
        routes::delete,
        routes::toggle,
        attachments::list,
        attachments::attach,
        attachments::get,
        attachments::remove
    ))]
    struct Doc;
    let mut doc = shared::http::openapi::function(<Doc as utoipa::OpenApi>::openapi(), "tasks");
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
            for operation in shared::http::openapi::operations_mut(&mut item) {
                operation.operation_id = operation.operation_id.take().map(|id| id + "_for_user");
                operation
                    .parameters
                    .get_or_insert_with(Vec::new)
                    .insert(0, user_id.clone().into());
                operation.responses.responses.insert(
                    "403".into(),
                    Response::new(
                        "`other_user`: the user id is not the caller's and the caller is not an \
                         owner or admin.",
                    )
                    .into(),
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
