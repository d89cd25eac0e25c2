//! The results: a table on stdout and the same rows, with their raw numbers, as JSON.

use std::path::Path;

use serde::Serialize;
use serde_json::Value;

/// A target a figure is held to, and whether it met it.
#[derive(Clone, Debug, Serialize)]
pub struct Target {
    pub text: String,
    pub pass: bool,
}

impl Target {
    pub fn below(value: f64, bound: f64, text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            pass: value < bound,
        }
    }

    pub fn at_least(value: f64, bound: f64, text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            pass: value >= bound,
        }
    }

    /// Both targets; passes when both pass.
    pub fn and(self, other: Self) -> Self {
        Self {
            text: format!("{}, {}", self.text, other.text),
            pass: self.pass && other.pass,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Row {
    pub part: &'static str,
    pub figure: String,
    pub value: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<Target>,
    /// The raw numbers behind `value`.
    pub data: Value,
}

impl Row {
    pub fn new(part: &'static str, figure: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            part,
            figure: figure.into(),
            value: value.into(),
            target: None,
            data: Value::Null,
        }
    }

    pub fn target(mut self, target: Target) -> Self {
        self.target = Some(target);
        self
    }

    pub fn data(mut self, data: Value) -> Self {
        self.data = data;
        self
    }
}

#[derive(Default, Serialize)]
pub struct Report {
    pub rows: Vec<Row>,
    /// Facts about the run (machine, options, durations), as JSON.
    pub run: serde_json::Map<String, Value>,
}

impl Report {
    pub fn extend(&mut self, rows: impl IntoIterator<Item = Row>) {
        self.rows.extend(rows);
    }

    /// A Markdown table: figure, value, target and a pass/MISS mark.
    pub fn print(&self) {
        let cell = |s: &str| s.replace('|', "\\|");
        println!("| part | figure | value | target |");
        println!("|---|---|---|---|");
        for row in &self.rows {
            let target = row.target.as_ref().map_or(String::new(), |t| {
                format!("{} {}", t.text, if t.pass { "pass" } else { "**MISS**" })
            });
            println!(
                "| {} | {} | {} | {} |",
                row.part,
                cell(&row.figure),
                cell(&row.value),
                cell(&target)
            );
        }
        let missed: Vec<&str> = self
            .rows
            .iter()
            .filter(|r| r.target.as_ref().is_some_and(|t| !t.pass))
            .map(|r| r.figure.as_str())
            .collect();
        if missed.is_empty() {
            println!("\nEvery target met.");
        } else {
            println!("\nTargets missed: {}.", missed.join("; "));
        }
    }

    pub fn write_json(&self, path: &Path) -> anyhow::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, serde_json::to_vec_pretty(self)?)?;
        Ok(())
    }
}
