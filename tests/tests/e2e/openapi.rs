//! The OpenAPI document: generated from the code, committed, and served by `health`.

use std::collections::BTreeSet;

use serde_json::Value;

fn document() -> Value {
    serde_json::from_str(&api::openapi::document_json()).expect("the document is JSON")
}

#[test]
fn the_committed_openapi_json_is_up_to_date() {
    let committed = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi.json"));
    assert!(
        committed == api::openapi::document_json(),
        "openapi.json is out of date: run `make openapi` and commit it"
    );
    assert_eq!(
        committed,
        health::OPENAPI_JSON,
        "health serves the committed file"
    );
}

/// Every route the watch router (like API Gateway) sends to a function is in the document.
#[test]
fn every_route_of_every_function_is_documented() {
    let doc = document();
    let paths: BTreeSet<&str> = doc["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for expected in [
        "/health",
        "/health/db",
        "/openapi.json",
        "/docs",
        "/api/auth/login",
        "/api/users/{id}",
        "/api/api-keys/{id}",
        "/api/audit-log",
        "/api/products/{id}/price-history",
        "/api/tasks/{id}/complete",
        "/api/{user_id}/tasks/{id}/complete",
        "/api/dashboard/export/{file}",
        "/api/purchase-orders/{id}/pay",
        "/api/suppliers/{id}/contacts/{contact_id}",
        "/api/inventory/low-stock",
        "/webhooks/wise",
    ] {
        assert!(paths.contains(expected), "{expected} is not documented");
    }
    assert_eq!(doc["openapi"], "3.1.0");
}

#[test]
fn every_operation_has_an_id_a_tag_responses_and_security() {
    let doc = document();
    let mut ids = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let id = operation["operationId"].as_str().unwrap_or_default();
            assert!(
                ids.insert(id.to_owned()),
                "{method} {path}: operationId {id:?} repeats"
            );
            assert!(operation["tags"][0].is_string(), "{method} {path}: no tag");
            let responses = operation["responses"].as_object().unwrap();
            assert!(
                responses.keys().any(|s| s.starts_with('2')),
                "{method} {path}: no success response"
            );
            assert!(responses.contains_key("default"), "{method} {path}");
            assert!(
                operation["security"].is_array(),
                "{method} {path}: no security"
            );
            if path.contains('{') {
                assert!(responses.contains_key("404"), "{method} {path}: no 404");
            }
        }
    }
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(schemes["api_key"]["name"], "X-API-Key");
}
