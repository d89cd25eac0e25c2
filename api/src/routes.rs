//! The route table: which function serves which path. It is kept once, in the workspace
//! Cargo.toml (`[workspace.metadata.lambda.watch.router]`, which `cargo lambda watch` reads);
//! the local router and the list of HTTP functions come from it here, and a test checks the
//! SAM template's routes, the OpenAPI operations and the dev script's probes against it.

use std::sync::LazyLock;

/// The workspace manifest, as built.
const MANIFEST: &str = include_str!("../../Cargo.toml");
const SECTION: &str = "[workspace.metadata.lambda.watch.router]";

/// One entry: a path pattern in the watch router's syntax (`{name}` is one segment, `{*name}`
/// the rest of the path, at least one segment) and the function (binary) that serves it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    pub pattern: String,
    pub function: String,
}

static TABLE: LazyLock<Vec<Route>> = LazyLock::new(|| parse(MANIFEST));

/// The table, in the manifest's order.
pub fn table() -> &'static [Route] {
    &TABLE
}

/// Every function the table names, sorted (the HTTP functions).
pub fn functions() -> Vec<&'static str> {
    let mut names: Vec<&str> = table().iter().map(|r| r.function.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    names
}

/// The function that serves `path`, as the watch router picks it: of the patterns that match,
/// the most specific (a literal segment over `{name}`, `{name}` over `{*rest}`).
pub fn function_for(path: &str) -> Option<&'static str> {
    let routes = table()
        .iter()
        .map(|r| (r.pattern.as_str(), r.function.as_str()));
    most_specific(routes, path)
}

/// Of `routes` (pattern, target), the target of the most specific pattern that matches `path`.
/// API Gateway picks among its resources the same way (`{proxy+}` is a `{*rest}`).
pub fn most_specific<'a>(
    routes: impl IntoIterator<Item = (&'a str, &'a str)>,
    path: &str,
) -> Option<&'a str> {
    let path = path.split('?').next().unwrap_or_default();
    routes
        .into_iter()
        .filter_map(|(pattern, target)| {
            let pattern = pattern.replace("{proxy+}", "{*proxy}");
            specificity(&pattern, path).map(|rank| (rank, target))
        })
        .max_by(|(a, _), (b, _)| a.cmp(b))
        .map(|(_, target)| target)
}

/// A concrete path that `pattern` matches (each parameter filled in), to ask which route
/// serves it.
pub fn example(pattern: &str) -> String {
    pattern
        .split('/')
        .map(|segment| match segment {
            s if s.starts_with("{*") || s == "{proxy+}" => "rest",
            s if s.starts_with('{') => "00000000-0000-4000-8000-000000000001",
            s => s,
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// How specifically `pattern` matches `path` (segment by segment: 2 literal, 1 parameter,
/// 0 the rest), or `None` when it does not.
fn specificity(pattern: &str, path: &str) -> Option<Vec<u8>> {
    let wanted: Vec<&str> = pattern.trim_start_matches('/').split('/').collect();
    let given: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let mut rank = Vec::with_capacity(wanted.len());
    for (i, segment) in wanted.iter().enumerate() {
        if segment.starts_with("{*") {
            let rest = &given[i.min(given.len())..];
            return (!rest.is_empty() && rest.iter().any(|s| !s.is_empty())).then(|| {
                rank.push(0);
                rank
            });
        }
        let given = given.get(i)?;
        if segment.starts_with('{') {
            if given.is_empty() {
                return None;
            }
            rank.push(1);
        } else if segment == given {
            rank.push(2);
        } else {
            return None;
        }
    }
    (given.len() == wanted.len()).then_some(rank)
}

/// The entries of the router section: `"pattern" = "function"` lines, comments skipped.
fn parse(manifest: &str) -> Vec<Route> {
    let section = manifest
        .split_once(SECTION)
        .map(|(_, rest)| rest)
        .expect("the workspace Cargo.toml has the watch router table");
    section
        .lines()
        .map(str::trim)
        .take_while(|line| !line.starts_with('['))
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| {
            let (pattern, function) = line
                .split_once('=')
                .unwrap_or_else(|| panic!("a router entry is \"pattern\" = \"function\": {line}"));
            let unquote = |s: &str| s.trim().trim_matches('"').to_owned();
            Route {
                pattern: unquote(pattern),
                function: unquote(function),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_most_specific_pattern_wins() {
        assert_eq!(function_for("/api/auth/login"), Some("auth"));
        assert_eq!(function_for("/api/users"), Some("users"));
        assert_eq!(function_for("/api/users/1/tasks"), Some("users"));
        assert_eq!(function_for("/api/0b8e/tasks"), Some("tasks"));
        assert_eq!(function_for("/api/0b8e/tasks/1"), Some("tasks"));
        assert_eq!(function_for("/api/tasks?page=2"), Some("tasks"));
        assert_eq!(function_for("/health/db"), Some("health"));
        assert_eq!(function_for("/nowhere"), Some("health"));
        assert_eq!(function_for("/api/auth"), Some("health"));
    }

    #[test]
    fn the_table_names_every_http_function() {
        let mut known: Vec<&str> = crate::FUNCTIONS.iter().map(|f| f.name).collect();
        known.sort_unstable();
        assert_eq!(functions(), known);
    }
}
