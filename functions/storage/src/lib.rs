//! The `storage` function: files go straight to S3, never through a function.
//!
//! `POST /api/uploads` records a pending upload (counted against the organization's quota) and
//! answers a pre-signed POST whose policy fixes the key, the type and the exact size; the client
//! sends the file to S3 itself; `POST /api/uploads/{id}/complete` checks what arrived (there,
//! that size, its first bytes the declared type, an image within the pixel limit) and keeps it,
//! or refuses it and deletes it. A completed upload then becomes a product's image or an
//! attachment, in the functions that own those.

mod upload;
mod uploads;

use axum::Router;
use axum::routing::{get, post};
use shared::AppState;

pub fn app(state: AppState) -> Router {
    let http = state.settings.http.clone();
    let router = Router::new()
        .route("/api/uploads", post(uploads::create))
        .route(
            "/api/uploads/{id}",
            get(uploads::get).delete(uploads::delete),
        )
        .route("/api/uploads/{id}/complete", post(uploads::complete))
        .with_state(state);
    shared::http::layers(router, &http, openapi)
}

/// This function's operations, for the whole API's document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    #[derive(utoipa::OpenApi)]
    #[openapi(paths(uploads::create, uploads::get, uploads::complete, uploads::delete))]
    struct Doc;
    let mut doc = shared::http::openapi::function(<Doc as utoipa::OpenApi>::openapi(), "storage");
    one_shape_per_purpose(&mut doc);
    doc
}

/// `CreateUpload` as one shape per purpose, so the document carries the rule a product image
/// follows (an image type) and a client generated from it never asks for a PDF image.
fn one_shape_per_purpose(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::RefOr;
    use utoipa::openapi::schema::{OneOf, Schema};
    let schemas = &mut doc.components.get_or_insert_with(Default::default).schemas;
    let Some(RefOr::T(Schema::Object(object))) = schemas.get("CreateUpload").cloned() else {
        panic!("CreateUpload is an object schema of the storage document");
    };
    let text = |values: &[&str]| shared::http::openapi::text_enum(values);
    let mut one_of = OneOf::new();
    one_of.description = object.description.clone();
    for (purpose, types) in [
        (
            "product_image",
            Some(["image/jpeg", "image/png", "image/webp"]),
        ),
        ("attachment", None),
    ] {
        let mut variant = object.clone();
        variant.description = None;
        variant
            .properties
            .insert("purpose".into(), text(&[purpose]).into());
        if let Some(types) = types {
            let mut content_type = text(&types);
            content_type.description = Some("An image type.".into());
            variant
                .properties
                .insert("content_type".into(), content_type.into());
        }
        one_of.items.push(Schema::Object(variant).into());
    }
    schemas.insert("CreateUpload".into(), Schema::OneOf(one_of).into());
}
