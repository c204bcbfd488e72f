//! Slurm batch scripts that run the shards of a sweep as one array job.
//!
//! [`write_scripts`] writes two scripts into `<results>/<name>/slurm/`: `run.sbatch`, an array
//! job whose task `I` runs `run --shard I/N`, and `report.sbatch`, which merges the tables of
//! every run folder. [`submit`] submits the array job with `sbatch`, then the report job with a
//! dependency on the whole array, so the report starts once every task has ended, whether it
//! succeeded or not. Every path in the scripts is absolute, and the scripts call the binary that
//! wrote them, so the results folder, the data folder and that binary must be reachable at the
//! same paths from every node. A requeued or resubmitted task skips the runs that are complete.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::config::{Experiment, setting};
use crate::error::{Error, Result};
use crate::report::write_atomic;
use crate::tracking::EXPERIMENT_COPY;

/// Folder of the scripts inside the results folder of an experiment.
pub const SLURM_DIR: &str = "slurm";
/// File name of the array job script.
pub const RUN_SCRIPT: &str = "run.sbatch";
/// File name of the merging job script.
pub const REPORT_SCRIPT: &str = "report.sbatch";

/// Resources requested per array task; `None` leaves the cluster's default.
#[derive(Debug, Clone, Default)]
pub struct SlurmOptions {
    /// Number of shards, one array task each.
    pub shards: usize,
    /// `--partition`.
    pub partition: Option<String>,
    /// `--time`, in a Slurm time format such as `2:00:00`.
    pub time: Option<String>,
    /// `--cpus-per-task`; each task trains this many runs at once.
    pub cpus_per_task: Option<usize>,
    /// `--mem`, such as `8G`.
    pub mem: Option<String>,
}

/// Paths of the scripts written for an experiment.
#[derive(Debug, Clone)]
pub struct Scripts {
    /// `<results_dir>/<name>`, absolute.
    pub output_dir: PathBuf,
    /// The array job script.
    pub run: PathBuf,
    /// The merging job script.
    pub report: PathBuf,
    /// Folder of the task logs; Slurm does not create it, so it is created here.
    pub logs_dir: PathBuf,
}

/// Job ids returned by `sbatch`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submitted {
    /// Id of the array job; task `I` is `<id>_<I>`.
    pub array_job: String,
    /// Id of the job that merges the tables after the array.
    pub report_job: String,
}

/// Counts the runs that the sweep of `experiment` expands to, resolving dataset names against
/// its data folder without loading any data. A missing dataset is an error, because every task
/// would fail on it.
pub fn count_runs(experiment: &Experiment) -> Result<usize> {
    let entities = crate::data::resolve(
        &experiment.datasets,
        &experiment.data_dir,
        &experiment.data,
        false,
    )?;
    Ok(experiment.expand(&entities).len())
}

/// Writes the array job and the merging job scripts of `experiment` into its results folder,
/// creating the folder and its log folder, and copies the experiment file there so that
/// `status` works before the first task starts.
///
/// `binary` is the executable that the tasks run, normally [`std::env::current_exe`];
/// `working_dir` becomes the tasks' working directory, against which any relative path that the
/// experiment file contains is resolved.
pub fn write_scripts(
    experiment: &Experiment,
    options: &SlurmOptions,
    binary: &Path,
    working_dir: &Path,
) -> Result<Scripts> {
    validate(options)?;
    let absolute = |path: &Path| std::path::absolute(path).map_err(|e| Error::io(path, e));
    let results_dir = absolute(&experiment.results_dir)?;
    let data_dir = absolute(&experiment.data_dir)?;
    let experiment_path = absolute(&experiment.path)?;
    let binary = absolute(binary)?;
    let working_dir = absolute(working_dir)?;
    let output_dir = results_dir.join(&experiment.name);
    let slurm_dir = output_dir.join(SLURM_DIR);
    let logs_dir = slurm_dir.join("logs");
    for (option, path) in [("--chdir", &working_dir), ("--output", &logs_dir)] {
        directive_path(option, path)?;
    }
    std::fs::create_dir_all(&logs_dir).map_err(|e| Error::io(&logs_dir, e))?;

    let text = std::fs::read(&experiment.path).map_err(|e| Error::io(&experiment.path, e))?;
    write_atomic(&output_dir.join(EXPERIMENT_COPY), &text)?;

    let shards = options.shards;
    let mut run = header(&experiment.name, &working_dir, options);
    let _ = writeln!(run, "#SBATCH --array=1-{shards}");
    let log = |stream: &str| logs_dir.join(format!("shard-%a.%A.{stream}"));
    let _ = writeln!(run, "#SBATCH --output={}", log("out").display());
    let _ = writeln!(run, "#SBATCH --error={}", log("err").display());
    // A requeued task appends to its logs instead of truncating them.
    let _ = writeln!(run, "#SBATCH --open-mode=append");
    let _ = writeln!(run, "#SBATCH --requeue");
    if let Some(cpus) = options.cpus_per_task {
        let _ = writeln!(run, "#SBATCH --cpus-per-task={cpus}");
    }
    if let Some(mem) = &options.mem {
        let _ = writeln!(run, "#SBATCH --mem={mem}");
    }
    let _ = writeln!(run, "\nset -euo pipefail");
    let _ = writeln!(
        run,
        "# Task I trains shard I/{shards}; runs that are complete already are skipped, so a \
         requeued\n# task goes on where it stopped. One run trains per allocated CPU."
    );
    let _ = writeln!(
        run,
        "exec {} run {} --shard \"${{SLURM_ARRAY_TASK_ID}}/{shards}\" \\\n    --results-dir {} \
         --data-dir {} \\\n    --jobs \"${{SLURM_CPUS_PER_TASK:-1}}\"",
        shell_quote(&binary),
        shell_quote(&experiment_path),
        shell_quote(&results_dir),
        shell_quote(&data_dir),
    );

    let mut report = header(
        &format!("{}-report", experiment.name),
        &working_dir,
        options,
    );
    let _ = writeln!(
        report,
        "#SBATCH --output={}",
        logs_dir.join("report.%j.out").display()
    );
    let _ = writeln!(
        report,
        "#SBATCH --error={}",
        logs_dir.join("report.%j.err").display()
    );
    let _ = writeln!(report, "#SBATCH --open-mode=append");
    let _ = writeln!(report, "\nset -euo pipefail");
    let _ = writeln!(
        report,
        "# Merges the tables of every run folder, once every shard has ended."
    );
    let _ = writeln!(
        report,
        "exec {} report {}",
        shell_quote(&binary),
        shell_quote(&output_dir)
    );

    let scripts = Scripts {
        run: slurm_dir.join(RUN_SCRIPT),
        report: slurm_dir.join(REPORT_SCRIPT),
        output_dir,
        logs_dir,
    };
    write_script(&scripts.run, &run)?;
    write_script(&scripts.report, &report)?;
    Ok(scripts)
}

/// Builds the first lines of both scripts: interpreter, job name, working directory, partition
/// and time limit.
fn header(job_name: &str, working_dir: &Path, options: &SlurmOptions) -> String {
    let mut text = String::from("#!/bin/bash\n");
    text.push_str("# Written by `sparse-lstm-ad slurm`; submit it with sbatch.\n");
    let _ = writeln!(text, "#SBATCH --job-name={job_name}");
    let _ = writeln!(text, "#SBATCH --chdir={}", working_dir.display());
    if let Some(partition) = &options.partition {
        let _ = writeln!(text, "#SBATCH --partition={partition}");
    }
    if let Some(time) = &options.time {
        let _ = writeln!(text, "#SBATCH --time={time}");
    }
    text
}

fn write_script(path: &Path, text: &str) -> Result<()> {
    write_atomic(path, text.as_bytes())?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
            .map_err(|e| Error::io(path, e))?;
    }
    Ok(())
}

/// Checks the options that go into `#SBATCH` lines, which sbatch splits at white space.
fn validate(options: &SlurmOptions) -> Result<()> {
    if options.shards == 0 {
        return Err(setting(
            "--shards",
            0,
            "must be at least 1, the number of array tasks",
        ));
    }
    if options.cpus_per_task == Some(0) {
        return Err(setting("--cpus-per-task", 0, "must be at least 1"));
    }
    let values = [
        ("--partition", &options.partition),
        ("--time", &options.time),
        ("--mem", &options.mem),
    ];
    for (option, value) in values {
        let Some(value) = value else {
            continue;
        };
        if value.is_empty() || !value.chars().all(is_directive_char) {
            return Err(setting(
                option,
                format!("{value:?}"),
                "must be a non-empty Slurm value without spaces, quotes or control characters",
            ));
        }
    }
    Ok(())
}

/// Rejects a path that an `#SBATCH` line cannot hold: white space splits it, and `%` starts a
/// Slurm file name pattern.
fn directive_path(option: &str, path: &Path) -> Result<()> {
    let text = path.to_string_lossy();
    if text.chars().all(|c| is_directive_char(c) && c != '%') {
        return Ok(());
    }
    Err(setting(
        option,
        path.display(),
        "an #SBATCH path must not contain spaces, quotes, % or control characters; choose a \
         results folder with --results-dir or a working directory without them",
    ))
}

fn is_directive_char(c: char) -> bool {
    !(c.is_whitespace() || c.is_control() || c == '"' || c == '\'')
}

/// Quotes a path for a POSIX shell: single quotes, with each `'` written as `'\''`.
fn shell_quote(path: &Path) -> String {
    format!("'{}'", path.to_string_lossy().replace('\'', r"'\''"))
}

/// A failed submission.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// `sbatch` is not on `PATH`.
    #[error(
        "sbatch not found on PATH: run this on a machine with the Slurm client commands \
         (Debian package slurm-client), or submit {script} there with `sbatch {script}`"
    )]
    SbatchMissing { script: PathBuf },

    /// `sbatch` could not be started or returned an error.
    #[error("sbatch {script} failed: {message}")]
    Failed { script: PathBuf, message: String },
}

/// Submits the array job, then the merging job with a dependency on every task of the array
/// (`afterany`), and returns both job ids.
pub fn submit(scripts: &Scripts) -> Result<Submitted, SubmitError> {
    let array_job = sbatch(&scripts.run, &[])?;
    let dependency = format!("--dependency=afterany:{array_job}");
    let report_job = sbatch(&scripts.report, &[&dependency])?;
    Ok(Submitted {
        array_job,
        report_job,
    })
}

/// Runs `sbatch --parsable ARGS SCRIPT` and returns the job id it prints.
fn sbatch(script: &Path, args: &[&str]) -> Result<String, SubmitError> {
    let output = Command::new("sbatch")
        .arg("--parsable")
        .args(args)
        .arg(script)
        .output()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => SubmitError::SbatchMissing {
                script: script.to_owned(),
            },
            _ => SubmitError::Failed {
                script: script.to_owned(),
                message: e.to_string(),
            },
        })?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        return Err(SubmitError::Failed {
            script: script.to_owned(),
            message: format!("{}: {}", output.status, stderr.trim()),
        });
    }
    // --parsable prints `id` or `id;cluster`.
    let id = stdout
        .trim()
        .split(';')
        .next()
        .unwrap_or_default()
        .to_owned();
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_digit()) {
        return Err(SubmitError::Failed {
            script: script.to_owned(),
            message: format!("unexpected output {:?}; expected a job id", stdout.trim()),
        });
    }
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_quote_escapes_quotes() {
        assert_eq!(shell_quote(Path::new("/a b/c")), "'/a b/c'");
        assert_eq!(shell_quote(Path::new("/it's")), r"'/it'\''s'");
    }

    #[test]
    fn options_with_spaces_are_rejected() {
        let options = SlurmOptions {
            shards: 2,
            time: Some("2 hours".to_owned()),
            ..SlurmOptions::default()
        };
        let message = validate(&options).unwrap_err().to_string();
        assert!(message.contains("--time"), "{message}");
        let zero = SlurmOptions {
            shards: 0,
            ..SlurmOptions::default()
        };
        let message = validate(&zero).unwrap_err().to_string();
        assert!(message.contains("--shards"), "{message}");
    }

    #[test]
    fn paths_with_patterns_are_rejected() {
        assert!(directive_path("--output", Path::new("/results/sweep")).is_ok());
        for bad in ["/results/my sweep", "/results/100%", "/results/a\"b"] {
            let message = directive_path("--output", Path::new(bad))
                .unwrap_err()
                .to_string();
            assert!(message.contains("--output"), "{bad}: {message}");
        }
    }
}
