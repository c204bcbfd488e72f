//! Bad input is rejected before any training starts, with an error that names the file, the
//! line or index, the value and the fix.
//!
//! Each case writes a small dataset, runs a one-run sweep on it and checks the error message and
//! that no run folder was created.

use std::path::Path;

use sparse_lstm_ad::config::Experiment;
use sparse_lstm_ad::data::npy::encode_f64;
use sparse_lstm_ad::runner::{RunOptions, run_experiment};

const CSV_DATASET: &str = r#"
[data.csv.case]
train = "train.csv"
test = "test.csv"
"#;

const NPY_DATASET: &str = r#"
[data.npy.case]
train = "train.npy"
test = "test.npy"
labels = "labels.npy"
"#;

/// A CSV file with a timestamp, two sensors and labels, `rows` rows long.
fn csv(rows: usize) -> String {
    let mut text = String::from("timestamp,s1,s2,is_anomaly\n");
    for t in 0..rows {
        let label = u8::from(t % 7 == 3);
        text.push_str(&format!("{t},{},{},{label}\n", t % 5, (t * 3) % 4));
    }
    text
}

/// Replaces line `line` (1-based) of a CSV text.
fn with_line(text: &str, line: usize, replacement: &str) -> String {
    let mut lines: Vec<&str> = text.lines().collect();
    lines[line - 1] = replacement;
    lines.join("\n") + "\n"
}

fn npy(rows: usize, cols: usize) -> Vec<u8> {
    let values: Vec<f64> = (0..rows * cols).map(|i| (i % 7) as f64).collect();
    encode_f64(rows, cols, &values)
}

fn labels(values: &[f64]) -> Vec<u8> {
    encode_f64(values.len(), 0, values)
}

struct Case {
    name: &'static str,
    files: Vec<(&'static str, Vec<u8>)>,
    /// Experiment text before `[sweep]`.
    settings: &'static str,
    dataset: &'static str,
    window: usize,
    expected: &'static [&'static str],
}

fn cases() -> Vec<Case> {
    let good = csv(40);
    let mut short_labels = vec![0.0; 39];
    short_labels[5] = 1.0;
    let mut odd_labels = vec![0.0; 40];
    odd_labels[3] = 2.0;
    let mut nan_test: Vec<f64> = (0..80).map(|i| i as f64).collect();
    nan_test[3] = f64::NAN;
    let mut huge_test: Vec<f64> = (0..80).map(|i| i as f64).collect();
    huge_test[5] = 1e39;
    vec![
        Case {
            name: "nan in csv",
            files: vec![
                ("train.csv", good.clone().into_bytes()),
                ("test.csv", with_line(&good, 3, "1,2,NaN,0").into_bytes()),
            ],
            settings: CSV_DATASET,
            dataset: "csv:case",
            window: 4,
            expected: &["test.csv", "line 3", "\"s2\" holds NaN", "forward-fill"],
        },
        Case {
            name: "infinity in csv",
            files: vec![
                ("train.csv", with_line(&good, 5, "3,inf,1,0").into_bytes()),
                ("test.csv", good.clone().into_bytes()),
            ],
            settings: CSV_DATASET,
            dataset: "csv:case",
            window: 4,
            expected: &["train.csv", "line 5", "holds inf"],
        },
        Case {
            name: "value beyond f32 in csv",
            files: vec![
                ("train.csv", good.clone().into_bytes()),
                ("test.csv", with_line(&good, 6, "4,1e39,1,0").into_bytes()),
            ],
            settings: CSV_DATASET,
            dataset: "csv:case",
            window: 4,
            expected: &[
                "test.csv",
                "line 6",
                "\"s1\" holds 1e39",
                "beyond the range of f32",
            ],
        },
        Case {
            name: "empty field in csv",
            files: vec![
                ("train.csv", with_line(&good, 4, "2,,1,0").into_bytes()),
                ("test.csv", good.clone().into_bytes()),
            ],
            settings: CSV_DATASET,
            dataset: "csv:case",
            window: 4,
            expected: &["train.csv", "line 4", "\"s1\" holds an empty field"],
        },
        Case {
            name: "ragged row",
            files: vec![
                ("train.csv", good.clone().into_bytes()),
                ("test.csv", with_line(&good, 6, "4,1,2,3,0").into_bytes()),
            ],
            settings: CSV_DATASET,
            dataset: "csv:case",
            window: 4,
            expected: &[
                "test.csv",
                "line 6",
                "5 fields where the header has 4",
                "delimiter",
            ],
        },
        Case {
            name: "text in a sensor column",
            files: vec![
                ("train.csv", with_line(&good, 9, "7,abc,1,0").into_bytes()),
                ("test.csv", good.clone().into_bytes()),
            ],
            settings: CSV_DATASET,
            dataset: "csv:case",
            window: 4,
            expected: &["train.csv", "line 9", "\"abc\"", "not a number"],
        },
        Case {
            name: "timestamp column absent",
            files: vec![
                (
                    "train.csv",
                    good.replace("timestamp,", "time,").into_bytes(),
                ),
                ("test.csv", good.clone().into_bytes()),
            ],
            settings: CSV_DATASET,
            dataset: "csv:case",
            window: 4,
            expected: &[
                "train.csv",
                "line 1",
                "no timestamp column \"timestamp\"",
                "time, s1",
            ],
        },
        Case {
            name: "blank line inside csv",
            files: vec![
                ("train.csv", with_line(&good, 7, "").into_bytes()),
                ("test.csv", good.clone().into_bytes()),
            ],
            settings: CSV_DATASET,
            dataset: "csv:case",
            window: 4,
            expected: &["train.csv", "line 7", "the line is empty"],
        },
        Case {
            name: "duplicate column name",
            files: vec![
                ("train.csv", good.replace("s1,s2", "s1,s1").into_bytes()),
                ("test.csv", good.clone().into_bytes()),
            ],
            settings: CSV_DATASET,
            dataset: "csv:case",
            window: 4,
            expected: &["train.csv", "line 1", "\"s1\" appears twice"],
        },
        Case {
            name: "semicolons with the default delimiter",
            files: vec![
                ("train.csv", good.replace(',', ";").into_bytes()),
                ("test.csv", good.clone().into_bytes()),
            ],
            settings: CSV_DATASET,
            dataset: "csv:case",
            window: 4,
            expected: &["train.csv", "line 1", "contains ';'", "`delimiter`"],
        },
        Case {
            name: "train and test sensors differ",
            files: vec![
                ("train.csv", good.clone().into_bytes()),
                (
                    "test.csv",
                    good.replace("timestamp,s1,s2", "timestamp,s1,s3")
                        .into_bytes(),
                ),
            ],
            settings: CSV_DATASET,
            dataset: "csv:case",
            window: 4,
            expected: &["test.csv", "line 1", "[s1, s3]", "[s1, s2]", "same sensors"],
        },
        Case {
            name: "label other than 0 or 1",
            files: vec![
                ("train.csv", good.clone().into_bytes()),
                ("test.csv", with_line(&good, 2, "0,1,1,2").into_bytes()),
            ],
            settings: CSV_DATASET,
            dataset: "csv:case",
            window: 4,
            expected: &["test.csv", "line 2", "holds \"2\"", "0 or 1"],
        },
        Case {
            name: "no label column",
            files: vec![
                ("train.csv", good.clone().into_bytes()),
                ("test.csv", good.replace("is_anomaly", "label").into_bytes()),
            ],
            settings: CSV_DATASET,
            dataset: "csv:case",
            window: 4,
            expected: &["test.csv", "no label column \"is_anomaly\"", "`label`"],
        },
        Case {
            name: "series shorter than the window",
            files: vec![
                ("train.csv", good.clone().into_bytes()),
                ("test.csv", csv(6).into_bytes()),
            ],
            settings: CSV_DATASET,
            dataset: "csv:case",
            window: 8,
            expected: &["csv:case", "test series has 6 rows", "window of 8"],
        },
        Case {
            name: "undeclared csv dataset",
            files: vec![],
            settings: CSV_DATASET,
            dataset: "csv:other",
            window: 4,
            expected: &[
                "csv:other",
                "no [data.csv.other] table",
                "declared csv datasets: case",
            ],
        },
        Case {
            name: "declared file missing",
            files: vec![("train.csv", good.clone().into_bytes())],
            settings: CSV_DATASET,
            dataset: "csv:case",
            window: 4,
            expected: &["csv:case", "test.csv", "relative to the data root"],
        },
        Case {
            name: "entity that does not exist",
            files: vec![],
            settings: "",
            dataset: "smd:machine-9-9",
            window: 4,
            expected: &["smd:machine-9-9", "smd"],
        },
        Case {
            name: "npy labels shorter than the test series",
            files: vec![
                ("train.npy", npy(40, 2)),
                ("test.npy", npy(40, 2)),
                ("labels.npy", labels(&short_labels)),
            ],
            settings: NPY_DATASET,
            dataset: "npy:case",
            window: 4,
            expected: &["labels.npy", "[39]", "40 time steps", "(40,)"],
        },
        Case {
            name: "npy label other than 0 or 1",
            files: vec![
                ("train.npy", npy(40, 2)),
                ("test.npy", npy(40, 2)),
                ("labels.npy", labels(&odd_labels)),
            ],
            settings: NPY_DATASET,
            dataset: "npy:case",
            window: 4,
            expected: &["labels.npy", "index 3 holds 2", "0 or 1"],
        },
        Case {
            name: "npy sensor counts differ",
            files: vec![
                ("train.npy", npy(40, 2)),
                ("test.npy", npy(40, 3)),
                ("labels.npy", labels(&[0.0; 40])),
            ],
            settings: NPY_DATASET,
            dataset: "npy:case",
            window: 4,
            expected: &["test.npy", "test has 3 sensors but train", "has 2"],
        },
        Case {
            name: "npy NaN",
            files: vec![
                ("train.npy", npy(40, 2)),
                ("test.npy", encode_f64(40, 2, &nan_test)),
                ("labels.npy", labels(&[0.0; 40])),
            ],
            settings: NPY_DATASET,
            dataset: "npy:case",
            window: 4,
            expected: &[
                "test.npy",
                "row 1, column 1 (both counting from 0) holds NaN",
                "forward-fill",
            ],
        },
        Case {
            name: "npy value beyond f32",
            files: vec![
                ("train.npy", npy(40, 2)),
                ("test.npy", encode_f64(40, 2, &huge_test)),
                ("labels.npy", labels(&[0.0; 40])),
            ],
            settings: NPY_DATASET,
            dataset: "npy:case",
            window: 4,
            expected: &[
                "test.npy",
                "row 2, column 1 (both counting from 0) holds 1e39",
                "rescale the column",
            ],
        },
        Case {
            name: "npy file that is not npy",
            files: vec![
                ("train.npy", b"1,2\n3,4\n".to_vec()),
                ("test.npy", npy(40, 2)),
                ("labels.npy", labels(&[0.0; 40])),
            ],
            settings: NPY_DATASET,
            dataset: "npy:case",
            window: 4,
            expected: &["train.npy", "numpy.save"],
        },
    ]
}

fn experiment(dir: &Path, case: &Case) -> Experiment {
    let text = format!(
        "name = \"validation\"\n{}\n[sweep]\ndataset = [\"{}\"]\nmodel = [\"standard\"]\n\
         hidden_size = [2]\nwindow = [{}]\n",
        case.settings, case.dataset, case.window
    );
    let mut experiment =
        Experiment::from_toml(&text, &dir.join("exp.toml")).expect("case experiments parse");
    experiment.data_dir = dir.join("data");
    experiment.results_dir = dir.join("results");
    experiment
}

#[test]
fn bad_input_is_rejected_before_training() {
    let options = RunOptions {
        jobs: 1,
        force: false,
        skip_missing: false,
        shard: None,
    };
    let mut failures = Vec::new();
    for case in cases() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data).unwrap();
        for (name, bytes) in &case.files {
            std::fs::write(data.join(name), bytes).unwrap();
        }
        let experiment = experiment(dir.path(), &case);
        let message = match run_experiment(&experiment, &options) {
            Ok(_) => {
                failures.push(format!("{}: the sweep ran", case.name));
                continue;
            }
            Err(e) => e.to_string(),
        };
        for expected in case.expected {
            if !message.contains(expected) {
                failures.push(format!(
                    "{}: {expected:?} missing from {message:?}",
                    case.name
                ));
            }
        }
        let runs = dir.path().join("results/validation/runs");
        let trained = std::fs::read_dir(&runs).map_or(0, |entries| entries.count());
        if trained > 0 {
            failures.push(format!("{}: {trained} run folders were created", case.name));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn forward_fill_imputes_and_loads() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let good = csv(40);
    std::fs::write(data.join("train.csv"), with_line(&good, 3, "1,,NaN,0")).unwrap();
    std::fs::write(data.join("test.csv"), &good).unwrap();
    let text = format!(
        "name = \"fill\"\n[data]\nmissing = \"forward-fill\"\n{CSV_DATASET}\n[sweep]\n\
         dataset = [\"csv:case\"]\nmodel = [\"standard\"]\n"
    );
    let experiment = Experiment::from_toml(&text, Path::new("exp.toml")).unwrap();
    let spec = sparse_lstm_ad::data::DatasetSpec {
        kind: sparse_lstm_ad::data::DatasetKind::Csv,
        entity: Some("case".into()),
    };
    let dataset =
        sparse_lstm_ad::data::load(&spec, &data, &experiment.data, None, 0).expect("filled");
    // Line 3 is row 1: both sensors take row 0's values (0 and 0).
    assert_eq!(dataset.train.row(1), &[0.0, 0.0]);
    assert_eq!(dataset.sensor_names, vec!["s1", "s2"]);
    assert_eq!(dataset.test_labels.iter().filter(|&&a| a).count(), 6);
}
