//! The SAM template and the database stack pass cfn-lint, informational checks included (the
//! SAM transform runs first), and expand to what production needs.

use std::path::Path;
use std::process::Command;

mod database_stack;
mod deploy;
mod edge;
mod expanded;
mod storage;

/// The template as `sam deploy` submits it, expanded offline by the SAM translator
/// (`scripts/expand-template.py`, in the project's virtualenv).
fn expanded() -> serde_json::Value {
    expanded_from("template.yaml")
}

fn expanded_from(template: &str) -> serde_json::Value {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let output = Command::new("python")
        .args(["scripts/expand-template.py", template])
        .current_dir(root)
        .output()
        .expect("python not found: make test puts the project's virtualenv first on PATH");
    assert!(
        output.status.success(),
        "the SAM translator refused the template:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}
