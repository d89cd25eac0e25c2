//! Operation-level rewrites of a function's part of the document.

use utoipa::openapi::OpenApi;
use utoipa::openapi::path::{Operation, PathItem};

/// The operations of a path item, for documents that rewrite them.
pub fn operations_mut(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.patch,
    ]
    .into_iter()
    .flatten()
}

/// One function's part of the document: every operation tagged with the function's name and
/// its operation id prefixed by it (handler names such as `list` repeat across functions).
pub fn function(mut doc: OpenApi, name: &str) -> OpenApi {
    for item in doc.paths.paths.values_mut() {
        for operation in operations_mut(item) {
            operation.tags = Some(vec![name.to_owned()]);
            if let Some(id) = &operation.operation_id {
                operation.operation_id = Some(format!("{name}_{id}"));
            }
        }
    }
    doc
}

/// Documents `PUT path` as the `PATCH` operation of the same path (only the fields sent
/// change), for clients that update with PUT; its operation id ends in `_put`.
pub fn put_like_patch(doc: &mut OpenApi, path: &str) {
    let Some(item) = doc.paths.paths.get_mut(path) else {
        panic!("{path} is not documented");
    };
    let Some(mut put) = item.patch.clone() else {
        panic!("{path} has no PATCH to document PUT from");
    };
    put.operation_id = put.operation_id.map(|id| format!("{id}_put"));
    put.summary = Some("The same as PATCH: only the fields sent change.".to_owned());
    item.put = Some(put);
}
