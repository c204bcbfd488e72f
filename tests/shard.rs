//! Sharded sweeps: shards of one results folder, their locks, the merged report and the Slurm
//! script, all on a tiny synthetic experiment that needs no dataset download.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::{TINY_RUNS, assert_same_tables, binary, metric_rows, run, stderr, write_tiny};

/// Folder names of the rows of a summary.
fn folders(summary: &Path) -> BTreeSet<String> {
    metric_rows(summary)
        .into_iter()
        .map(|row| row["folder"].clone())
        .collect()
}

fn report(output_dir: &Path) -> std::process::Output {
    binary().arg("report").arg(output_dir).output().unwrap()
}

#[test]
fn sharded_report_equals_unsharded() {
    let dir = tempfile::tempdir().unwrap();
    let experiment = write_tiny(dir.path());
    let unsharded = dir.path().join("unsharded");
    let output = run(&experiment, &unsharded, &[]);
    assert!(output.status.success(), "{}", stderr(&output));

    let sharded = dir.path().join("sharded");
    let output_dir = sharded.join("tiny");
    let mut seen = BTreeSet::new();
    for shard in ["1/3", "2/3", "3/3"] {
        let output = run(&experiment, &sharded, &["--shard", shard]);
        assert!(
            output.status.success(),
            "shard {shard}: {}",
            stderr(&output)
        );
        assert!(
            stderr(&output).contains("2 runs (2 trained now)"),
            "shard {shard}: {}",
            stderr(&output)
        );
        let tables = output_dir
            .join("shards")
            .join(shard.replace('/', "-of-"))
            .join("summary.csv");
        let own = folders(&tables);
        assert_eq!(own.len(), 2, "shard {shard} holds two of six runs");
        assert!(
            own.is_disjoint(&seen),
            "shard {shard} repeats runs of an earlier shard"
        );
        seen.extend(own);
        if shard == "1/3" {
            let status = binary().arg("status").arg(&output_dir).output().unwrap();
            let printed = String::from_utf8_lossy(&status.stdout);
            assert!(
                printed.contains("6 runs: 2 done, 0 failed, 0 running, 0 incomplete, 4 missing"),
                "{printed}"
            );
        }
    }
    assert_eq!(seen.len(), TINY_RUNS, "the shards cover every run");
    assert!(
        !output_dir.join("summary.csv").exists(),
        "shards write only their own tables"
    );

    let merged = report(&output_dir);
    assert!(merged.status.success(), "{}", stderr(&merged));
    assert_same_tables(&unsharded.join("tiny"), &output_dir);
    assert_eq!(folders(&output_dir.join("summary.csv")), seen);

    // A rerun of a shard finds its runs complete.
    let again = run(&experiment, &sharded, &["--shard", "2/3"]);
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(
        stderr(&again).contains("2 runs (0 trained now)"),
        "{}",
        stderr(&again)
    );
}

#[test]
fn concurrent_shards_share_folder() {
    let dir = tempfile::tempdir().unwrap();
    let experiment = write_tiny(dir.path());
    let sharded = dir.path().join("sharded");
    let children: Vec<_> = ["1/3", "2/3", "3/3"]
        .iter()
        .map(|shard| {
            let child = binary()
                .arg("run")
                .arg(&experiment)
                .arg("--results-dir")
                .arg(&sharded)
                .args(["--jobs", "1", "--shard", shard])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            (shard, child)
        })
        .collect();
    for (shard, child) in children {
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "shard {shard}: {}",
            stderr(&output)
        );
    }
    let output_dir = sharded.join("tiny");
    let merged = report(&output_dir);
    assert!(merged.status.success(), "{}", stderr(&merged));

    let unsharded = dir.path().join("unsharded");
    let output = run(&experiment, &unsharded, &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_same_tables(&unsharded.join("tiny"), &output_dir);
    let leftovers: Vec<String> = std::fs::read_dir(&output_dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(".lock") || name.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "left behind: {leftovers:?}");
}

#[test]
fn shard_flag_rejects_bad_values() {
    let dir = tempfile::tempdir().unwrap();
    let experiment = write_tiny(dir.path());
    for (value, expected) in [
        ("4/3", "between 1 and 3"),
        ("0/3", "between 1 and 3"),
        ("1/0", "at least 1"),
        ("2", "expected I/N"),
    ] {
        let output = run(&experiment, dir.path(), &["--shard", value]);
        assert_eq!(output.status.code(), Some(2), "--shard {value}");
        let message = stderr(&output);
        assert!(message.contains(value), "--shard {value}: {message}");
        assert!(message.contains(expected), "--shard {value}: {message}");
    }
}

#[test]
fn locks_between_shards_and_whole_runs() {
    let dir = tempfile::tempdir().unwrap();
    let experiment = write_tiny(dir.path());
    let results = dir.path().join("results");
    let output_dir = results.join("tiny");
    std::fs::create_dir_all(&output_dir).unwrap();
    // The test process is alive, so a lock holding its id is current.
    let shard_lock = output_dir.join(".lock-shard-1-of-3");
    std::fs::write(&shard_lock, std::process::id().to_string()).unwrap();

    let whole = run(&experiment, &results, &[]);
    assert_eq!(whole.status.code(), Some(2), "{}", stderr(&whole));
    assert!(stderr(&whole).contains("in use"), "{}", stderr(&whole));
    assert!(
        stderr(&whole).contains(".lock-shard-1-of-3"),
        "{}",
        stderr(&whole)
    );

    let other_split = run(&experiment, &results, &["--shard", "1/2"]);
    assert_eq!(
        other_split.status.code(),
        Some(2),
        "{}",
        stderr(&other_split)
    );
    assert!(
        stderr(&other_split).contains("in use"),
        "{}",
        stderr(&other_split)
    );

    let same_split = run(&experiment, &results, &["--shard", "2/3"]);
    assert!(same_split.status.success(), "{}", stderr(&same_split));

    let merged = report(&output_dir);
    assert_eq!(
        merged.status.code(),
        Some(2),
        "report waits for running shards"
    );
    assert!(stderr(&merged).contains("in use"), "{}", stderr(&merged));

    // An unsharded run keeps every shard out.
    std::fs::remove_file(&shard_lock).unwrap();
    std::fs::write(output_dir.join(".lock"), std::process::id().to_string()).unwrap();
    let shard = run(&experiment, &results, &["--shard", "3/3"]);
    assert_eq!(shard.status.code(), Some(2), "{}", stderr(&shard));
    assert!(stderr(&shard).contains("in use"), "{}", stderr(&shard));
    assert!(
        !output_dir.join(".lock-shard-3-of-3").exists(),
        "the rejected shard removes its own lock"
    );
}

#[test]
fn empty_shard_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    let experiment = write_tiny(dir.path());
    let output = run(&experiment, dir.path(), &["--shard", "8/8"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("0 runs (0 trained now)"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn slurm_script_uses_absolute_paths() {
    let dir = tempfile::tempdir().unwrap();
    write_tiny(dir.path());
    // Relative paths, resolved against the working directory.
    let output = binary()
        .current_dir(dir.path())
        .args([
            "slurm",
            "tiny.toml",
            "--shards",
            "3",
            "--results-dir",
            "out",
        ])
        .args(["--partition", "debug", "--time", "10:00"])
        .args(["--cpus-per-task", "2", "--mem", "1G"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));

    let root = dir.path().canonicalize().unwrap();
    let output_dir = root.join("out/tiny");
    let script = output_dir.join("slurm/run.sbatch");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        script.display().to_string(),
        "the script path is printed"
    );
    let text = std::fs::read_to_string(&script).unwrap();
    let logs = output_dir.join("slurm/logs");
    assert!(logs.is_dir(), "Slurm needs the log folder to exist");
    let binary_path = Path::new(env!("CARGO_BIN_EXE_sparse-lstm-ad"))
        .canonicalize()
        .unwrap();
    for line in [
        "#SBATCH --array=1-3".to_owned(),
        "#SBATCH --requeue".to_owned(),
        "#SBATCH --partition=debug".to_owned(),
        "#SBATCH --time=10:00".to_owned(),
        "#SBATCH --cpus-per-task=2".to_owned(),
        "#SBATCH --mem=1G".to_owned(),
        format!("#SBATCH --chdir={}", root.display()),
        format!("#SBATCH --output={}/shard-%a.%A.out", logs.display()),
        format!("#SBATCH --error={}/shard-%a.%A.err", logs.display()),
    ] {
        assert!(text.lines().any(|l| l == line), "{line} missing:\n{text}");
    }
    for fragment in [
        format!(
            "exec '{}' run '{}/tiny.toml'",
            binary_path.display(),
            root.display()
        ),
        "--shard \"${SLURM_ARRAY_TASK_ID}/3\"".to_owned(),
        format!("--results-dir '{}/out'", root.display()),
        format!("--data-dir '{}/datasets'", root.display()),
        "--jobs \"${SLURM_CPUS_PER_TASK:-1}\"".to_owned(),
    ] {
        assert!(text.contains(&fragment), "{fragment} missing:\n{text}");
    }

    let syntax = std::process::Command::new("bash")
        .arg("-n")
        .arg(&script)
        .output()
        .unwrap();
    assert!(syntax.status.success(), "{}", stderr(&syntax));
    let report = std::fs::read_to_string(output_dir.join("slurm/report.sbatch")).unwrap();
    assert!(
        report.contains(&format!("report '{}'", output_dir.display())),
        "{report}"
    );
    assert!(
        output_dir.join("experiment.toml").is_file(),
        "status works before the first task"
    );
}

#[test]
fn slurm_submit_needs_sbatch() {
    let dir = tempfile::tempdir().unwrap();
    let experiment = write_tiny(dir.path());
    let empty_path = dir.path().join("bin");
    std::fs::create_dir(&empty_path).unwrap();
    let output = binary()
        .env("PATH", &empty_path)
        .arg("slurm")
        .arg(&experiment)
        .args(["--shards", "2", "--submit", "--results-dir"])
        .arg(dir.path().join("results"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let message = stderr(&output);
    assert!(message.contains("sbatch not found"), "{message}");
    assert!(message.contains("run.sbatch"), "{message}");

    let zero = binary()
        .arg("slurm")
        .arg(&experiment)
        .args(["--shards", "0"])
        .output()
        .unwrap();
    assert_eq!(zero.status.code(), Some(2));
    assert!(stderr(&zero).contains("--shards"), "{}", stderr(&zero));
}
