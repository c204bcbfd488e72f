//! End-to-end tests of the command-line tool on the smoke experiment.
//!
//! The SMD machine comes from the copy of the dataset that sits beside the repository
//! (`../shared/datasets`, or the folder named by `SPARSE_LSTM_AD_DATA`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn binary() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sparse-lstm-ad"))
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn data_dir() -> PathBuf {
    std::env::var_os("SPARSE_LSTM_AD_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("../shared/datasets"))
}

fn run_smoke(results: &Path, data: &Path, extra: &[&str]) -> Output {
    binary()
        .arg("run")
        .arg(repo().join("experiments/smoke.toml"))
        .arg("--data-dir")
        .arg(data)
        .arg("--results-dir")
        .arg(results)
        .args(["--jobs", "2"])
        .args(extra)
        .output()
        .expect("the binary starts")
}

/// Reads a CSV without quoted fields into one map per row.
fn read_rows(path: &Path) -> Vec<HashMap<String, String>> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines = text.lines();
    let header: Vec<String> = lines.next().unwrap().split(',').map(String::from).collect();
    lines
        .map(|line| {
            header
                .iter()
                .cloned()
                .zip(line.split(',').map(String::from))
                .collect()
        })
        .collect()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn smoke_sweep_writes_tables() {
    let data = data_dir();
    assert!(
        data.join("smd/train/machine-1-5.txt").is_file(),
        "the SMD copy is expected at {}; set SPARSE_LSTM_AD_DATA to a folder holding smd/",
        data.display()
    );
    let results = tempfile::tempdir().unwrap();
    let output = run_smoke(results.path(), &data, &[]);
    assert!(output.status.success(), "run failed: {}", stderr(&output));

    let dir = results.path().join("smoke");
    let rows = read_rows(&dir.join("summary.csv"));
    assert_eq!(rows.len(), 10, "two datasets times five models");
    for row in &rows {
        assert_eq!(row["status"], "done", "{row:?}");
        for metric in ["roc_auc", "pr_auc"] {
            let value: f64 = row[metric].parse().unwrap();
            assert!((0.0..=1.0).contains(&value), "{metric} = {value}");
        }
        let folder = dir.join("runs").join(&row["folder"]);
        let mut files = vec![
            "run.json",
            "settings.json",
            "test_scores.csv",
            "validation_scores.csv",
            "test_contributions.npy",
            "curves.png",
            "curves.svg",
            "score_timeline.png",
            "score_timeline.svg",
        ];
        if !row["model"].starts_with("baseline") {
            files.extend(["history.csv", "model.bpk"]);
        }
        if row["model"].starts_with("sparse") {
            files.extend([
                "sparsity.json",
                "sparsity_mask.csv",
                "sparsity_mask.png",
                "sparsity_mask.svg",
                "sensor_mass.png",
                "sensor_mass.svg",
            ]);
            let kept: usize = row["sensors_kept"].parse().unwrap();
            assert!(kept <= 38, "sensors kept = {kept}");
            // A sensor constant in training (machine-1-5 has 8) never counts as kept.
            let text = std::fs::read_to_string(folder.join("sparsity.json")).unwrap();
            let sparsity: serde_json::Value = serde_json::from_str(&text).unwrap();
            let indices = |key: &str| -> Vec<u64> {
                let values = sparsity[key].as_array().unwrap();
                values.iter().map(|v| v.as_u64().unwrap()).collect()
            };
            let constant = indices("constant_in_training");
            if row["entity"] == "machine-1-5" {
                assert_eq!(constant, vec![4, 7, 16, 17, 26, 28, 36, 37]);
            }
            let kept_indices = indices("kept_indices");
            assert!(kept_indices.iter().all(|j| !constant.contains(j)), "{text}");
        }
        for file in files {
            let path = folder.join(file);
            assert!(path.is_file(), "{} missing", path.display());
        }
        // Both datasets name the sensors behind their anomalies.
        let hit_rate: f64 = row["hit_rate_100"].parse().unwrap();
        assert!((0.0..=1.0).contains(&hit_rate), "HitRate@100% = {hit_rate}");
    }
    let models: Vec<&str> = rows.iter().map(|r| r["model"].as_str()).collect();
    assert!(models.contains(&"standard"));
    assert!(models.contains(&"sparse-elementwise"));
    assert!(models.contains(&"sparse-feedforward"));
    assert!(models.contains(&"baseline-l2"));
    assert!(models.contains(&"baseline-pca"));
    let entities: Vec<&str> = rows.iter().map(|r| r["entity"].as_str()).collect();
    assert!(entities.contains(&"machine-1-5"));
    assert!(dir.join("summary.parquet").is_file());
    for dataset in ["synthetic", "smd-machine-1-5"] {
        for picture in ["sensors_kept", "curves"] {
            let plot = dir.join(format!("plots/{picture}_{dataset}.png"));
            assert!(plot.is_file(), "{} missing", plot.display());
        }
    }

    let table = std::fs::read_to_string(dir.join("table.md")).unwrap();
    assert!(table.contains("| synthetic |"), "{table}");
    assert!(table.contains("| smd:machine-1-5 |"), "{table}");
    assert!(table.contains("standard ROC-AUC"), "{table}");
    assert!(table.contains("sparse-elementwise PR-AUC"), "{table}");
    assert!(table.contains("baseline-pca ROC-AUC"), "{table}");

    // A second invocation finds every run complete and trains nothing.
    let again = run_smoke(results.path(), &data, &[]);
    assert!(again.status.success(), "rerun failed: {}", stderr(&again));
    assert!(
        stderr(&again).contains("10 runs (0 trained now)"),
        "{}",
        stderr(&again)
    );
    assert_eq!(
        read_rows(&dir.join("summary.csv")),
        rows,
        "rerun keeps the same summary"
    );
}

#[test]
fn missing_dataset_stops_before_training() {
    let empty = tempfile::tempdir().unwrap();
    let results = tempfile::tempdir().unwrap();
    let output = run_smoke(results.path(), empty.path(), &[]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let message = stderr(&output);
    assert!(message.contains("smd"), "{message}");
    assert!(message.contains("datasets/README.md"), "{message}");
    assert!(
        !results.path().join("smoke/runs").exists(),
        "nothing may be trained"
    );
}

#[test]
fn missing_datasets_named_together() {
    let empty = tempfile::tempdir().unwrap();
    let output = binary()
        .arg("run")
        .arg(repo().join("experiments/sweep.toml"))
        .arg("--dry-run")
        .arg("--data-dir")
        .arg(empty.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let message = stderr(&output);
    for name in ["smd:machine-2-1", "msl:T-4", "tep:15", "datasets fetch tep"] {
        assert!(message.contains(name), "{name}: {message}");
    }
}

#[test]
fn skip_missing_runs_synthetic_only() {
    let empty = tempfile::tempdir().unwrap();
    let results = tempfile::tempdir().unwrap();
    let output = run_smoke(results.path(), empty.path(), &["--skip-missing"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let rows = read_rows(&results.path().join("smoke/summary.csv"));
    assert_eq!(rows.len(), 5);
    assert!(rows.iter().all(|r| r["dataset"] == "synthetic"));
}

#[test]
fn invalid_experiment_names_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        "name = \"bad\"\n[sweep]\ndataset = [\"synthetic\"]\nmodel = [\"standard\"]\nwindow = [1]\n",
    )
    .unwrap();
    let output = binary().arg("run").arg(&path).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert!(message.contains("sweep.window"), "{message}");
    assert!(message.contains("bad.toml"), "{message}");
}

#[test]
fn every_subcommand_has_help() {
    for args in [
        vec!["--help"],
        vec!["run", "--help"],
        vec!["evaluate", "--help"],
        vec!["report", "--help"],
        vec!["status", "--help"],
        vec!["bench", "--help"],
    ] {
        let output = binary().args(&args).output().unwrap();
        assert!(output.status.success(), "{args:?}");
        assert!(!output.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn bench_rejects_unknown_config() {
    let output = binary()
        .args(["bench", "--config", "huge"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let message = String::from_utf8_lossy(&output.stderr);
    assert!(message.contains("invalid --config \"huge\""), "{message}");
}

/// Thread counts and series sizes that cannot work stop with the option, the value and a fix,
/// before any work starts.
#[test]
fn impossible_sizes_rejected() {
    let smoke = repo().join("experiments/smoke.toml");
    let smoke = smoke.to_str().unwrap();
    let cases: [(&[&str], &str); 5] = [
        (
            &["run", smoke, "--jobs", "100000"],
            "--jobs 100000 is more than 1024 threads",
        ),
        (&["run", smoke, "--jobs", "0"], "--jobs 0: give at least 1"),
        (
            &["bench", "--threads", "5000"],
            "--threads 5000 is more than 1024 threads",
        ),
        (
            &["bench", "--series-stride", "101"],
            "--series-stride 101 must be between 1 and the window length, 100",
        ),
        (
            &["bench", "--series-points", "100000000000"],
            "--series-points 100000000000 is more than 100000000",
        ),
    ];
    for (args, expected) in cases {
        let output = binary().args(args).output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let message = stderr(&output);
        assert!(message.contains(expected), "{args:?}: {message}");
    }
}

#[test]
fn lock_stops_second_invocation() {
    let empty = tempfile::tempdir().unwrap();
    let results = tempfile::tempdir().unwrap();
    let folder = results.path().join("smoke");
    std::fs::create_dir_all(&folder).unwrap();
    // The test process itself is alive, so its id makes the lock current.
    std::fs::write(folder.join(".lock"), std::process::id().to_string()).unwrap();
    let output = run_smoke(results.path(), empty.path(), &["--skip-missing"]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains("in use"), "{}", stderr(&output));
    assert!(
        !folder.join("summary.csv").exists(),
        "nothing may be written"
    );

    // A lock whose process is gone is taken over.
    std::fs::write(folder.join(".lock"), "999999999").unwrap();
    let output = run_smoke(results.path(), empty.path(), &["--skip-missing"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        !folder.join(".lock").exists(),
        "the lock is removed at the end"
    );
}

#[test]
fn evaluate_reference_case() {
    let dir = tempfile::tempdir().unwrap();
    let labels = dir.path().join("labels.txt");
    let scores = dir.path().join("scores.csv");
    let validation = dir.path().join("validation.txt");
    let json = dir.path().join("metrics.json");
    std::fs::write(&labels, "0\n0\n1\n1\n0\n1\n0\n0\n1\n0\n").unwrap();
    std::fs::write(
        &scores,
        "score\n.1\n.4\n.35\n.8\n.4\n.9\n.05\n.2\n.35\n.6\n",
    )
    .unwrap();
    std::fs::write(&validation, "0.1\n0.2\n0.3\n0.4\n0.5\n").unwrap();
    let output = binary()
        .args(["evaluate", "--quantile", "0.5", "--vus-window", "2"])
        .arg("--labels")
        .arg(&labels)
        .arg("--scores")
        .arg(&scores)
        .arg("--validation-scores")
        .arg(&validation)
        .arg("--json")
        .arg(&json)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(printed.contains("roc_auc"), "{printed}");
    assert!(printed.contains("0.750000"), "{printed}");
    assert!(printed.contains("0.785714"), "{printed}");
    let document: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let roc_auc = document["metrics"]["roc_auc"].as_f64().unwrap();
    assert!((roc_auc - 0.75).abs() < 1e-12, "{roc_auc}");
    assert_eq!(document["metrics"]["threshold"].as_f64(), Some(0.3));

    // Labels and scores of different lengths are an error that names both lengths.
    std::fs::write(&labels, "0\n1\n").unwrap();
    let output = binary()
        .arg("evaluate")
        .arg("--labels")
        .arg(&labels)
        .arg("--scores")
        .arg(&scores)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("10"), "{}", stderr(&output));
}

/// Rows of a summary without the timing column, which differs between runs.
fn metric_rows(path: &Path) -> Vec<HashMap<String, String>> {
    let mut rows = read_rows(path);
    for row in &mut rows {
        row.remove("train_seconds");
    }
    rows
}

#[test]
fn jobs_do_not_change_metrics() {
    let data = data_dir();
    let one = tempfile::tempdir().unwrap();
    let two = tempfile::tempdir().unwrap();
    for (dir, jobs) in [(&one, "1"), (&two, "2")] {
        let output = binary()
            .arg("run")
            .arg(repo().join("experiments/smoke.toml"))
            .arg("--data-dir")
            .arg(&data)
            .arg("--results-dir")
            .arg(dir.path())
            .args(["--jobs", jobs])
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "--jobs {jobs}: {}",
            stderr(&output)
        );
    }
    assert_eq!(
        metric_rows(&one.path().join("smoke/summary.csv")),
        metric_rows(&two.path().join("smoke/summary.csv")),
        "the same seeds give the same metrics with one or two jobs"
    );
}

#[test]
fn report_and_status_read_results() {
    let data = data_dir();
    let results = tempfile::tempdir().unwrap();
    let output = run_smoke(results.path(), &data, &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    let dir = results.path().join("smoke");
    let before = std::fs::read_to_string(dir.join("summary.csv")).unwrap();
    std::fs::remove_file(dir.join("table.md")).unwrap();

    let report = binary().arg("report").arg(&dir).output().unwrap();
    assert!(report.status.success(), "{}", stderr(&report));
    assert_eq!(
        std::fs::read_to_string(dir.join("summary.csv")).unwrap(),
        before
    );
    assert!(dir.join("table.md").is_file(), "report rebuilds table.md");

    let status = binary()
        .arg("status")
        .arg(&dir)
        .arg("--data-dir")
        .arg(&data)
        .output()
        .unwrap();
    assert!(status.status.success(), "{}", stderr(&status));
    let printed = String::from_utf8_lossy(&status.stdout);
    assert!(printed.contains("10 runs: 10 done, 0 failed"), "{printed}");

    // Without --data-dir, from another folder, status uses the data folder the run recorded.
    let elsewhere = tempfile::tempdir().unwrap();
    let status_elsewhere = || {
        let output = binary()
            .current_dir(elsewhere.path())
            .arg("status")
            .arg(&dir)
            .output()
            .unwrap();
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let printed = status_elsewhere();
    assert!(printed.contains("10 runs: 10 done, 0 failed"), "{printed}");

    // Without any data folder, the runs that status cannot place are still counted.
    std::fs::remove_file(dir.join("data_dir.txt")).unwrap();
    let printed = status_elsewhere();
    assert!(printed.contains("5 runs: 5 done"), "{printed}");
    assert!(
        printed.contains("5 more run folders are not counted"),
        "{printed}"
    );

    // The folder above a results folder gets pointed at the folders inside it.
    let above = binary().arg("status").arg(results.path()).output().unwrap();
    assert_eq!(above.status.code(), Some(2));
    let message = stderr(&above);
    assert!(message.contains("is not a results folder"), "{message}");
    assert!(message.contains(&dir.display().to_string()), "{message}");
}

/// An experiment of six synthetic runs that each take a moment.
const RESUMABLE: &str = r#"
name = "resume"
[training]
epochs = 4
patience = 4
train_stride = 5
test_stride = 4
[synthetic]
sensors = 10
groups = 2
group_size = 3
train_length = 1500
test_length = 600
anomalies = 3
anomaly_min_length = 10
anomaly_max_length = 40
anomaly_sensors = 2
[sweep]
dataset = ["synthetic"]
model = ["standard", "sparse-elementwise"]
hidden_size = [16]
window = [20]
l1 = [0.001]
seed = [0, 1, 2]
"#;

#[test]
fn killed_sweep_resumes_missing_runs() {
    let dir = tempfile::tempdir().unwrap();
    let experiment = dir.path().join("resume.toml");
    std::fs::write(&experiment, RESUMABLE).unwrap();
    let run = |results: &Path| {
        let mut command = binary();
        command
            .arg("run")
            .arg(&experiment)
            .arg("--results-dir")
            .arg(results)
            .args(["--jobs", "1"]);
        command
    };

    // Reference: one uninterrupted sweep.
    let reference = dir.path().join("reference");
    assert!(run(&reference).output().unwrap().status.success());

    // Kill a second sweep with SIGKILL once its first run is complete.
    let interrupted = dir.path().join("interrupted");
    let mut child = run(&interrupted)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let runs = interrupted.join("resume/runs");
    let started = std::time::Instant::now();
    let complete = || -> usize {
        std::fs::read_dir(&runs)
            .map(|entries| {
                entries
                    .flatten()
                    .filter(|e| e.path().join("run.json").is_file())
                    .count()
            })
            .unwrap_or(0)
    };
    while complete() == 0 && started.elapsed().as_secs() < 120 {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let done_before = complete();
    assert!(done_before >= 1, "one run finished before the kill");
    assert!(
        done_before < 6,
        "the kill came before the end ({done_before} runs done)"
    );

    let resumed = run(&interrupted).output().unwrap();
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    let expected = format!("6 runs ({} trained now)", 6 - done_before);
    assert!(
        stderr(&resumed).contains(&expected),
        "{expected}: {}",
        stderr(&resumed)
    );
    assert_eq!(
        metric_rows(&interrupted.join("resume/summary.csv")),
        metric_rows(&reference.join("resume/summary.csv")),
        "the resumed summary equals the uninterrupted one"
    );
}

#[test]
fn interrupt_keeps_finished_runs() {
    let dir = tempfile::tempdir().unwrap();
    let experiment = dir.path().join("resume.toml");
    std::fs::write(&experiment, RESUMABLE).unwrap();
    let results = dir.path().join("results");
    let mut child = binary()
        .arg("run")
        .arg(&experiment)
        .arg("--results-dir")
        .arg(&results)
        .args(["--jobs", "1"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let first = results.join("resume/runs");
    let started = std::time::Instant::now();
    let any_complete = || {
        std::fs::read_dir(&first)
            .map(|entries| {
                entries
                    .flatten()
                    .any(|e| e.path().join("run.json").is_file())
            })
            .unwrap_or(false)
    };
    while !any_complete() && started.elapsed().as_secs() < 120 {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let signalled = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(signalled.success());
    let status = child.wait().unwrap();
    assert_eq!(
        status.code(),
        Some(130),
        "an interrupted sweep exits with 130"
    );
    let rows = read_rows(&results.join("resume/summary.csv"));
    assert!(!rows.is_empty(), "the finished runs are rows");
    assert!(
        rows.len() < 6,
        "the interrupted runs are not: {} rows",
        rows.len()
    );
    assert!(
        rows.iter().all(|r| r["status"] == "done"),
        "abandoned runs are not rows"
    );
    let table = std::fs::read_to_string(results.join("resume/table.md")).unwrap();
    let note = format!(
        "**Incomplete:** the sweep was interrupted after {} of its 6 runs",
        rows.len()
    );
    assert!(table.contains(&note), "{table}");
    assert!(
        !results.join("resume/.lock").exists(),
        "the lock is released"
    );
}
