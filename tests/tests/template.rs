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
