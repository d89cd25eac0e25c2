//! Every operation of `openapi.json` has tests, and a newcomer finds them from the route: a test
//! file names the operations it covers in a `Routes:` line of its header (`` `POST /api/products` ``)
//! and sends requests to their paths. A route added without such a file fails here, by name.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is in the workspace")
        .to_owned()
}

/// Every `.rs` file below `dir`.
fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

/// The test files of the workspace: each function's `tests/`, the end-to-end tests, shared's.
fn test_files() -> Vec<PathBuf> {
    let root = workspace();
    let mut files = Vec::new();
    for entry in std::fs::read_dir(root.join("functions"))
        .expect("functions/")
        .flatten()
    {
        rust_files(&entry.path().join("tests"), &mut files);
    }
    rust_files(&root.join("tests/tests"), &mut files);
    rust_files(&root.join("shared/tests"), &mut files);
    files
}

/// The operations a file's header names: `` `METHOD /path` `` in its `//!` lines.
fn named_operations(source: &str) -> Vec<String> {
    let header: String = source
        .lines()
        .filter_map(|line| line.strip_prefix("//!"))
        .collect::<Vec<_>>()
        .join(" ");
    header
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|quoted| {
            quoted
                .split_once(' ')
                .is_some_and(|(method, path)| METHODS.contains(&method) && path.starts_with('/'))
        })
        .map(str::to_owned)
        .collect()
}

/// The literal parts of a path template (`/api/purchase-orders/{id}/pay` gives
/// `/api/purchase-orders` and `/pay`): what a request to it spells out in the test's code.
fn literal_parts(path: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut rest = path;
    while let Some(open) = rest.find('{') {
        parts.push(rest[..open].trim_end_matches('/').to_owned());
        rest = rest[open..].split_once('}').map_or("", |(_, after)| after);
    }
    parts.push(rest.trim_end_matches('/').to_owned());
    parts.retain(|p| !p.is_empty());
    parts
}

#[test]
fn every_operation_of_the_document_has_a_test_file_that_names_it() {
    let root = workspace();
    let document: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("openapi.json")).expect("openapi.json"),
    )
    .expect("openapi.json is JSON");
    let operations: BTreeSet<String> = document["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, item)| {
            METHODS
                .iter()
                .filter(|m| item.get(m.to_lowercase()).is_some())
                .map(move |m| format!("{m} {path}"))
        })
        .collect();
    assert!(operations.len() > 50, "{operations:?}");

    let mut covered: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut unknown = Vec::new();
    let mut not_requested = Vec::new();
    for file in test_files() {
        let source = std::fs::read_to_string(&file).expect("a test file");
        let code: String = source
            .lines()
            .filter(|line| !line.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        let name = file
            .strip_prefix(&root)
            .unwrap_or(&file)
            .display()
            .to_string();
        for operation in named_operations(&source) {
            if !operations.contains(&operation) {
                unknown.push(format!("{name}: {operation}"));
                continue;
            }
            let path = operation.split_once(' ').map_or("", |(_, p)| p);
            if !literal_parts(path)
                .iter()
                .all(|part| code.contains(part.as_str()))
            {
                not_requested.push(format!("{name}: {operation}"));
            }
            covered.entry(operation).or_default().push(name.clone());
        }
    }
    let missing: Vec<&String> = operations
        .iter()
        .filter(|op| !covered.contains_key(*op))
        .collect();
    assert!(
        missing.is_empty(),
        "operations of openapi.json that no test file names in its `Routes:` line: {missing:#?}"
    );
    assert!(
        unknown.is_empty(),
        "`Routes:` lines naming operations openapi.json does not have: {unknown:#?}"
    );
    assert!(
        not_requested.is_empty(),
        "test files naming operations whose path they never request: {not_requested:#?}"
    );
}

#[test]
fn a_path_template_is_requested_by_its_literal_parts() {
    assert_eq!(
        literal_parts("/api/purchase-orders/{id}/pay/approve"),
        ["/api/purchase-orders", "/pay/approve"]
    );
    assert_eq!(literal_parts("/api/{user_id}/tasks"), ["/api", "/tasks"]);
    assert_eq!(literal_parts("/health"), ["/health"]);
    assert_eq!(
        named_operations(
            "//! Routes: `GET /api/products`, `POST\n//! /api/x` and `PUT`.\nfn x() {}"
        ),
        ["GET /api/products"]
    );
}
