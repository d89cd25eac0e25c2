//! The function binaries, found from the workspace (`cargo metadata`): every `bin` target of a
//! package under `functions/`, so a function added later is measured without touching the bench.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::fixture::Fixture;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Built on `lambda_http`: gets API Gateway requests.
    Http,
    /// Built on `lambda_runtime` alone: gets other events (schedules, CloudFormation).
    Event,
}

#[derive(Clone, Debug)]
pub struct Function {
    pub name: String,
    pub kind: Kind,
    pub binary: PathBuf,
}

pub struct Workspace {
    pub root: PathBuf,
    /// `target/bench`: the JSON results and the functions' logs.
    pub out_dir: PathBuf,
    pub functions: Vec<Function>,
}

#[derive(Deserialize)]
struct Metadata {
    workspace_root: PathBuf,
    target_directory: PathBuf,
    packages: Vec<Package>,
}

#[derive(Deserialize)]
struct Package {
    manifest_path: PathBuf,
    targets: Vec<Target>,
    dependencies: Vec<Dependency>,
}

#[derive(Deserialize)]
struct Target {
    name: String,
    kind: Vec<String>,
}

#[derive(Deserialize)]
struct Dependency {
    name: String,
    /// `null` for a normal dependency, `dev` or `build` otherwise.
    kind: Option<String>,
}

impl Workspace {
    /// Reads the workspace layout; the binaries are expected in `target/release`.
    pub fn discover() -> anyhow::Result<Self> {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let output = std::process::Command::new(cargo)
            .args([
                "metadata",
                "--format-version",
                "1",
                "--no-deps",
                "--offline",
            ])
            .output()?;
        anyhow::ensure!(
            output.status.success(),
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let metadata: Metadata = serde_json::from_slice(&output.stdout)?;
        let functions_dir = metadata.workspace_root.join("functions");
        let release = metadata.target_directory.join("release");
        let release = &release;
        let mut functions: Vec<Function> = metadata
            .packages
            .iter()
            .filter(|p| p.manifest_path.starts_with(&functions_dir))
            .flat_map(|package| {
                let http = package
                    .dependencies
                    .iter()
                    .any(|d| d.name == "lambda_http" && d.kind.is_none());
                package
                    .targets
                    .iter()
                    .filter(|t| t.kind.iter().any(|k| k == "bin"))
                    .map(move |t| Function {
                        name: t.name.clone(),
                        kind: if http { Kind::Http } else { Kind::Event },
                        binary: release.join(&t.name),
                    })
            })
            .collect();
        functions.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(Self {
            root: metadata.workspace_root,
            out_dir: metadata.target_directory.join("bench"),
            functions,
        })
    }

    /// Every function's release binary is built (the parts that run them need it).
    pub fn check_binaries(&self) -> anyhow::Result<()> {
        if let Some(missing) = self.functions.iter().find(|f| !f.binary.exists()) {
            anyhow::bail!(
                "{} is missing: build first (`cargo build --release --workspace --bins`, as scripts/bench.sh does)",
                missing.binary.display()
            );
        }
        Ok(())
    }

    pub fn function(&self, name: &str) -> anyhow::Result<&Function> {
        self.functions
            .iter()
            .find(|f| f.name == name)
            .ok_or_else(|| anyhow::anyhow!("no function named {name} in functions/"))
    }
}

impl Function {
    /// The binary as Lambda starts it: only Lambda's variables plus the fixture's settings
    /// (`env_clear`), outside the workspace so no `.env` is read, logs appended to `log`.
    pub fn lambda_command(
        &self,
        runtime_api: &str,
        fixture: &Fixture,
        log: &Path,
    ) -> anyhow::Result<tokio::process::Command> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)?;
        let mut command = tokio::process::Command::new(&self.binary);
        command
            .env_clear()
            .current_dir(std::env::temp_dir())
            .env("AWS_LAMBDA_RUNTIME_API", runtime_api)
            .env("AWS_LAMBDA_FUNCTION_NAME", &self.name)
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .envs(fixture.function_env())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true);
        Ok(command)
    }
}

/// Size on disk of a (stripped) release binary, in bytes.
pub fn binary_size(binary: &Path) -> anyhow::Result<u64> {
    Ok(std::fs::metadata(binary)?.len())
}
