//! The whole API's OpenAPI document, merged from every HTTP function's part.

use utoipa::openapi::OpenApi;

/// Each HTTP function's own part of the document, by function (binary) name.
pub fn parts() -> Vec<(&'static str, OpenApi)> {
    crate::FUNCTIONS
        .iter()
        .map(|f| (f.name, (f.openapi)()))
        .collect()
}

/// Every HTTP function's operations, with the shared schemes and error responses.
pub fn document() -> OpenApi {
    let mut parts = parts().into_iter().map(|(_, part)| part);
    let mut doc = parts.next().expect("the health function's part");
    for part in parts {
        // Two functions' types with one name would overwrite each other's schema silently.
        let ours = doc.components.as_ref().map(|c| &c.schemas);
        if let (Some(ours), Some(theirs)) = (ours, part.components.as_ref()) {
            for (name, schema) in &theirs.schemas {
                if let Some(existing) = ours.get(name) {
                    assert!(
                        existing == schema,
                        "two different schemas are named {name}: rename one with #[schema(as = ...)]"
                    );
                }
            }
        }
        doc.merge(part);
    }
    shared::http::openapi::finish(&mut doc);
    shared::events::document::add_webhooks(&mut doc);
    // Last: the error responses and the webhooks added above are answers too.
    shared::http::openapi::require_sent_members(&mut doc);
    doc
}

/// The document as committed in `openapi.json` (pretty JSON, one trailing newline).
pub fn document_json() -> String {
    let mut json = document()
        .to_pretty_json()
        .expect("the document serialises");
    json.push('\n');
    json
}
