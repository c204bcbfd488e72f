//! Helpers shared by the shard and Slurm tests: a tiny synthetic experiment and comparisons of
//! result tables.

// Each test crate that includes this module uses a different part of it.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Six synthetic runs (two models, three seeds) that train in about a second each.
pub const TINY: &str = r#"
name = "tiny"
[training]
epochs = 2
patience = 2
batch_size = 32
train_stride = 5
test_stride = 4
[model]
pca_components = 2
[synthetic]
sensors = 4
groups = 1
group_size = 3
train_length = 400
test_length = 200
anomalies = 2
anomaly_min_length = 5
anomaly_max_length = 20
anomaly_sensors = 2
magnitude = 1.0
[sweep]
dataset = ["synthetic"]
model = ["standard", "sparse-elementwise"]
hidden_size = [4]
window = [10]
l1 = [0.001]
seed = [0, 1, 2]
"#;

/// Runs in [`TINY`].
pub const TINY_RUNS: usize = 6;

/// Summary columns that measure time, which differ between two trainings of the same run.
pub const TIMING_COLUMNS: [&str; 1] = ["train_seconds"];

pub fn binary() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sparse-lstm-ad"))
}

/// Writes [`TINY`] into `dir` and returns its path.
pub fn write_tiny(dir: &Path) -> PathBuf {
    let path = dir.join("tiny.toml");
    std::fs::write(&path, TINY).unwrap();
    path
}

/// `run EXPERIMENT --results-dir RESULTS --jobs 1`, plus `extra`.
pub fn run(experiment: &Path, results: &Path, extra: &[&str]) -> Output {
    binary()
        .arg("run")
        .arg(experiment)
        .arg("--results-dir")
        .arg(results)
        .args(["--jobs", "1"])
        .args(extra)
        .output()
        .expect("the binary starts")
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Splits one CSV line into fields, honouring double-quoted fields with `""` escapes.
fn split_csv_line(line: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => fields.push(std::mem::take(&mut field)),
            _ => field.push(c),
        }
    }
    fields.push(field);
    fields
}

/// Rows of a summary CSV, one map per row, without the timing columns.
pub fn metric_rows(path: &Path) -> Vec<BTreeMap<String, String>> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines = text.lines();
    let header = split_csv_line(lines.next().expect("a header line"));
    lines
        .map(|line| {
            let row: BTreeMap<String, String> =
                header.iter().cloned().zip(split_csv_line(line)).collect();
            row.into_iter()
                .filter(|(column, _)| !TIMING_COLUMNS.contains(&column.as_str()))
                .collect()
        })
        .collect()
}

/// Asserts that two results folders hold the same `table.md` and the same `summary.csv` rows,
/// timing columns aside.
pub fn assert_same_tables(expected: &Path, actual: &Path) {
    let expected_rows = metric_rows(&expected.join("summary.csv"));
    let actual_rows = metric_rows(&actual.join("summary.csv"));
    assert_eq!(
        actual_rows.len(),
        expected_rows.len(),
        "summary rows of {} and {}",
        actual.display(),
        expected.display()
    );
    assert_eq!(actual_rows, expected_rows, "summary.csv differs");
    let expected_table = std::fs::read_to_string(expected.join("table.md")).unwrap();
    let actual_table = std::fs::read_to_string(actual.join("table.md")).unwrap();
    assert_eq!(actual_table, expected_table, "table.md differs");
}
