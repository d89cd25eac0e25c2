//! The SAM template passes cfn-lint (which also runs the SAM transform).

use std::path::Path;
use std::process::Command;

#[test]
fn template_passes_cfn_lint() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let output = Command::new("cfn-lint")
        .arg("template.yaml")
        .current_dir(root)
        .output()
        .expect("cfn-lint not found: `pip install cfn-lint` (make test does it)");
    assert!(
        output.status.success(),
        "cfn-lint found problems:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Every function but migrate depends on the migrations resource, so new code goes live only
/// after the schema it needs (and a failed migration stops the deploy before any function
/// changes).
#[test]
fn every_function_waits_for_the_migrations() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let template = std::fs::read_to_string(root.join("template.yaml")).unwrap();
    let resources = &template[template.find("\nResources:").unwrap() + 1..];
    // Each resource is a line `  Name:` followed by its lines indented further.
    let mut blocks: Vec<(&str, Vec<&str>)> = Vec::new();
    for line in resources.lines().skip(1) {
        if !line.is_empty() && !line.starts_with(' ') {
            break; // the next top-level section
        }
        match line.strip_prefix("  ") {
            Some(name) if !name.starts_with(' ') && name.ends_with(':') => {
                blocks.push((name.trim_end_matches(':'), Vec::new()))
            }
            _ => {
                if let Some((_, body)) = blocks.last_mut() {
                    body.push(line.trim());
                }
            }
        }
    }
    let mut functions = 0;
    for (name, body) in &blocks {
        if !body.contains(&"Type: AWS::Serverless::Function") || *name == "MigrateFunction" {
            continue;
        }
        functions += 1;
        assert!(
            body.contains(&"DependsOn: Migrations"),
            "{name} does not depend on Migrations"
        );
    }
    assert_eq!(functions, 10);
}
