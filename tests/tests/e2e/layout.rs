//! The code's shape, kept: no source file over 500 lines (tests included), and in each crate no
//! two files that import each other, directly or through others. A module uses the ones below
//! it; docs/architecture.md draws the layers.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const MAX_LINES: usize = 500;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is in the workspace")
        .to_owned()
}

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

/// Every crate's `src/`, and each function's tests.
fn crate_dirs() -> Vec<PathBuf> {
    let root = workspace();
    let mut dirs = vec![
        root.join("shared/src"),
        root.join("api/src"),
        root.join("tests/src"),
    ];
    for entry in std::fs::read_dir(root.join("functions"))
        .expect("functions/")
        .flatten()
    {
        dirs.push(entry.path().join("src"));
    }
    dirs.retain(|d| d.is_dir());
    dirs
}

#[test]
fn no_source_file_is_over_500_lines() {
    let root = workspace();
    let mut files = Vec::new();
    for dir in ["functions", "shared", "api", "tests", "bench"] {
        rust_files(&root.join(dir), &mut files);
    }
    let long: Vec<String> = files
        .iter()
        .filter_map(|file| {
            let lines = std::fs::read_to_string(file).ok()?.lines().count();
            (lines > MAX_LINES).then(|| format!("{} ({lines})", file.display()))
        })
        .collect();
    assert!(
        long.is_empty(),
        "split these by concern (at most {MAX_LINES} lines): {long:#?}"
    );
}

/// The module path of a file below `src` (`purchase_orders/order.rs` is `purchase_orders::order`,
/// `lib.rs` and `main.rs` the root); `None` for binaries under `bin/`.
fn module_of(src: &Path, file: &Path) -> Option<Vec<String>> {
    let relative = file.strip_prefix(src).ok()?.with_extension("");
    let mut parts: Vec<String> = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.first().is_some_and(|p| p == "bin") {
        return None;
    }
    if parts
        .last()
        .is_some_and(|p| ["lib", "main", "mod"].contains(&p.as_str()))
    {
        parts.pop();
    }
    Some(parts)
}

/// The code of a file without its comments and its `#[cfg(test)] mod tests` block.
fn code_of(source: &str) -> String {
    let source = source
        .find("#[cfg(test)]\nmod tests")
        .map_or(source, |at| &source[..at]);
    source
        .lines()
        .map(|line| line.split("//").next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The identifiers after `start` (`crate`, `super`, …) joined by `::`, in every path of `code`
/// that begins with it; a `{` group contributes each of its first names.
fn paths_from(code: &str, start: &str) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    let bytes = code.as_bytes();
    let mut at = 0;
    while let Some(offset) = code[at..].find(start) {
        let begin = at + offset;
        at = begin + start.len();
        let before = begin
            .checked_sub(1)
            .map(|i| bytes[i] as char)
            .unwrap_or(' ');
        if before.is_alphanumeric() || before == '_' || before == ':' {
            continue;
        }
        let mut rest = &code[at..];
        let mut path = Vec::new();
        while let Some(after) = rest.strip_prefix("::") {
            if let Some(group) = after.strip_prefix('{') {
                for item in group.split('}').next().unwrap_or_default().split(',') {
                    let mut with = path.clone();
                    with.extend(
                        item.trim()
                            .split("::")
                            .take(2)
                            .map(|s| s.trim().to_owned())
                            .filter(|s| !s.is_empty()),
                    );
                    found.push(with);
                }
                path.clear();
                break;
            }
            let name: String = after
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if name.is_empty() {
                break;
            }
            rest = &after[name.len()..];
            path.push(name);
        }
        if !path.is_empty() {
            found.push(path);
        }
    }
    found
}

/// The import graph of one crate's files: which file uses which (by `crate::`, `super::` and
/// declared child modules).
fn import_graph(src: &Path) -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let modules: BTreeMap<Vec<String>, String> = files
        .iter()
        .filter_map(|f| Some((module_of(src, f)?, std::fs::read_to_string(f).ok()?)))
        .collect();
    let resolve = |path: &[String]| -> Vec<String> {
        (0..=path.len())
            .rev()
            .map(|n| path[..n].to_vec())
            .find(|prefix| modules.contains_key(prefix))
            .unwrap_or_default()
    };
    let mut graph = BTreeMap::new();
    for (module, source) in &modules {
        let code = code_of(source);
        let parent: Vec<String> = module[..module.len().saturating_sub(1)].to_vec();
        let mut uses = BTreeSet::new();
        for path in paths_from(&code, "crate") {
            uses.insert(resolve(&path));
        }
        for path in paths_from(&code, "super") {
            let (mut base, mut rest) = (parent.clone(), path.as_slice());
            while rest.first().is_some_and(|p| p == "super") {
                base.pop();
                rest = &rest[1..];
            }
            base.extend(rest.iter().cloned());
            uses.insert(resolve(&base));
        }
        for child in modules
            .keys()
            .filter(|m| m.len() == module.len() + 1 && m.starts_with(module))
        {
            let name = child.last().cloned().unwrap_or_default();
            let used = paths_from(&code, &name).iter().any(|p| !p.is_empty());
            if used {
                uses.insert(child.clone());
            }
        }
        uses.remove(module);
        graph.insert(module.clone(), uses);
    }
    graph
}

/// A cycle of `graph`, if it has one.
fn cycle(graph: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>) -> Option<Vec<String>> {
    fn visit(
        node: &Vec<String>,
        graph: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        done: &mut BTreeSet<Vec<String>>,
        stack: &mut Vec<Vec<String>>,
    ) -> Option<Vec<String>> {
        if let Some(at) = stack.iter().position(|n| n == node) {
            return Some(stack[at..].iter().map(|m| m.join("::")).collect());
        }
        if !done.insert(node.clone()) {
            return None;
        }
        stack.push(node.clone());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(found) = visit(next, graph, done, stack) {
                return Some(found);
            }
        }
        stack.pop();
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut done, &mut Vec::new()))
}

#[test]
fn no_two_files_of_a_crate_import_each_other() {
    let cycles: Vec<String> = crate_dirs()
        .iter()
        .filter_map(|src| {
            cycle(&import_graph(src)).map(|c| format!("{}: {}", src.display(), c.join(" → ")))
        })
        .collect();
    assert!(cycles.is_empty(), "import cycles: {cycles:#?}");
}

#[test]
fn the_import_check_sees_a_cycle() {
    let dir = std::env::temp_dir().join(format!("layout-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("lib.rs"), "mod a;\nmod b;\n").unwrap();
    std::fs::write(dir.join("a.rs"), "use crate::b::B;\npub struct A;\n").unwrap();
    std::fs::write(
        dir.join("b.rs"),
        "pub struct B;\nfn f() { let _ = super::a::A; }\n",
    )
    .unwrap();
    assert!(cycle(&import_graph(&dir)).is_some());
    std::fs::write(dir.join("b.rs"), "pub struct B;\n").unwrap();
    assert!(cycle(&import_graph(&dir)).is_none());
    std::fs::remove_dir_all(&dir).unwrap();
}
