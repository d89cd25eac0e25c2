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

/// A schema of the document, following a `$ref`.
pub(crate) fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(reference) => {
            let name = reference.trim_start_matches("#/components/schemas/");
            &doc["components"]["schemas"][name]
        }
        None => schema,
    }
}

/// The top-level members of a body as `docs/api.md` writes it (`{sku, name, price: "12.50",
/// currency?}`): each name and whether it is marked optional; members written as alternatives
/// (`password \| code`) are left out.
fn written_members(body: &str) -> Vec<(String, bool)> {
    let inner = &body[1..body.len() - 1];
    let (mut depth, mut start, mut parts) = (0, 0, Vec::new());
    for (i, c) in inner.char_indices() {
        match c {
            '{' | '[' | '(' => depth += 1,
            '}' | ']' | ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[start..]);
    parts
        .into_iter()
        .map(str::trim)
        .filter(|part| !part.contains("\\|") && !part.is_empty())
        .map(|part| {
            let name: String = part
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            let optional = part[name.len()..].starts_with('?');
            (name, optional)
        })
        .collect()
}

/// `docs/api.md` names the query parameters and body members of each route as the document
/// has them: every parameter listed exists (and every one the document has is listed), every
/// body member exists, and a member is marked `?` exactly when it is optional.
#[test]
fn docs_api_md_lists_the_parameters_and_members_the_document_has() {
    let doc = document();
    let text = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/api.md"));
    let (mut checked, mut wrong) = (0, Vec::new());
    for line in text.lines() {
        // `| `METHOD /path` `?query` `{body}` | function | answer |`: the first cell.
        let Some(cell) = line.strip_prefix("| `").and_then(|l| l.split(" | ").next()) else {
            continue;
        };
        let mut written = cell.split('`').map(str::trim).filter(|w| !w.is_empty());
        let Some((method, path)) = written.next().and_then(|r| r.split_once(' ')) else {
            continue;
        };
        let method = method.to_lowercase();
        if !["get", "post", "put", "patch", "delete"].contains(&method.as_str())
            || path.contains(' ')
            || path.contains("\\|")
        {
            continue;
        }
        let operation = &doc["paths"][path][&method];
        if !operation.is_object() {
            wrong.push(format!("{method} {path} is not in the document"));
            continue;
        }
        for written in written {
            if let Some(names) = written.strip_prefix('?') {
                let listed: BTreeSet<&str> = names.split('&').collect();
                let documented: BTreeSet<&str> = operation["parameters"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|p| p["in"] == "query")
                    .filter_map(|p| p["name"].as_str())
                    .collect();
                if listed != documented {
                    let names = Vec::from_iter(documented).join("&");
                    wrong.push(format!("{method} {path}: `?{names}`"));
                }
            } else if written.starts_with('{') {
                let schema = resolve(
                    &doc,
                    &operation["requestBody"]["content"]["application/json"]["schema"],
                );
                // A body of alternatives (`oneOf`): its members are those of every variant.
                let variants: Vec<&Value> = match schema["oneOf"].as_array() {
                    Some(variants) => variants.iter().map(|v| resolve(&doc, v)).collect(),
                    None => vec![schema],
                };
                for (name, optional) in written_members(written) {
                    let holders: Vec<&Value> = variants
                        .iter()
                        .copied()
                        .filter(|v| v["properties"][&name].is_object())
                        .collect();
                    if holders.is_empty() {
                        wrong.push(format!("{method} {path}: no body member {name}"));
                        continue;
                    }
                    // Required: to be sent whatever the variant.
                    let required = variants.iter().all(|v| {
                        v["required"]
                            .as_array()
                            .is_some_and(|r| r.iter().any(|n| n == name.as_str()))
                    });
                    if optional == required {
                        wrong.push(format!(
                            "{method} {path}: `{name}` is {} in the document",
                            if required { "required" } else { "optional" }
                        ));
                    }
                }
            }
        }
        checked += 1;
    }
    assert!(checked > 40, "only {checked} routes read from docs/api.md");
    assert!(
        wrong.is_empty(),
        "docs/api.md differs from the document:\n{}",
        wrong.join("\n")
    );
}
