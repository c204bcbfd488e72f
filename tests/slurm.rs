//! The Slurm array job on a real single-node cluster. `ci/slurm/start.sh` starts munged,
//! slurmctld and slurmd on 127.0.0.1 in a temporary folder. `slurm --submit` then submits a tiny
//! synthetic experiment as three shards plus the merging job, and the merged table must equal
//! that of one unsharded run.
//!
//! The test is skipped, with the reason on stderr, where the Slurm and munge programs are not
//! installed or the cluster does not start. Run it with `-- --nocapture` to see the `squeue`
//! lines it saw and the merged table.

mod common;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::{assert_same_tables, binary, run, stderr, write_tiny};

/// Maximum wait for the array job and the merging job to leave the queue.
const JOB_TIMEOUT: Duration = Duration::from_secs(600);

/// Returns the path of `program` on `PATH` or in the system folders of daemons.
fn find_program(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

/// Returns a TCP port on 127.0.0.1 that nothing listens on at the moment.
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Stops the cluster when dropped, also when the test fails: cancels the submitted jobs, then
/// ends the daemons recorded in the pid files of the state folder.
struct Cluster {
    state: PathBuf,
    conf: PathBuf,
    jobs: Vec<String>,
}

impl Cluster {
    /// Builds a Slurm client command that talks to this cluster.
    fn command(&self, program: &str) -> Command {
        let mut command = Command::new(program);
        command.env("SLURM_CONF", &self.conf);
        command
    }

    fn daemon_pids(&self) -> Vec<String> {
        ["slurmd", "slurmctld", "munged"]
            .iter()
            .filter_map(|daemon| {
                std::fs::read_to_string(self.state.join(format!("{daemon}.pid"))).ok()
            })
            .map(|pid| pid.trim().to_owned())
            .filter(|pid| !pid.is_empty() && pid.chars().all(|c| c.is_ascii_digit()))
            .collect()
    }

    fn logs(&self) -> String {
        let mut text = String::new();
        for log in ["slurmctld", "slurmd", "munged"] {
            let path = self.state.join("log").join(format!("{log}.log"));
            let content = std::fs::read_to_string(&path).unwrap_or_default();
            let tail: Vec<&str> = content.lines().rev().take(30).collect();
            text.push_str(&format!("--- {}\n", path.display()));
            for line in tail.iter().rev() {
                text.push_str(line);
                text.push('\n');
            }
        }
        text
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if !self.jobs.is_empty() {
            let _ = self.command("scancel").args(&self.jobs).output();
            std::thread::sleep(Duration::from_millis(500));
        }
        let pids = self.daemon_pids();
        for pid in &pids {
            let _ = Command::new("kill").args(["-TERM", pid]).output();
        }
        let alive = |pid: &String| Path::new("/proc").join(pid).exists();
        let started = Instant::now();
        while pids.iter().any(alive) && started.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(100));
        }
        for pid in pids.iter().filter(|pid| alive(pid)) {
            eprintln!("Slurm daemon {pid} ignored SIGTERM; sending SIGKILL");
            let _ = Command::new("kill").args(["-KILL", pid]).output();
        }
    }
}

/// Starts the cluster, or returns why it cannot start.
fn start_cluster(state: &Path) -> Result<Cluster, String> {
    for program in [
        "sbatch",
        "squeue",
        "scontrol",
        "slurmctld",
        "slurmd",
        "munged",
    ] {
        if find_program(program).is_none() {
            return Err(format!(
                "{program} not found; install the Debian packages slurmctld, slurmd, \
                 slurm-client and munge"
            ));
        }
    }
    let cluster = Cluster {
        state: state.to_owned(),
        conf: state.join("slurm.conf"),
        jobs: Vec::new(),
    };
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("ci/slurm/start.sh");
    let output = Command::new(&script)
        .arg(state)
        .arg(free_port().to_string())
        .arg(free_port().to_string())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
    if !output.status.success() {
        return Err(format!(
            "{} failed with {}: {}{}\n{}",
            script.display(),
            output.status,
            String::from_utf8_lossy(&output.stdout),
            stderr(&output),
            cluster.logs()
        ));
    }
    Ok(cluster)
}

fn text(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn slurm_array_matches_unsharded() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("slurm");
    let mut cluster = match start_cluster(&state) {
        Ok(cluster) => cluster,
        Err(reason) => {
            eprintln!("skipping the Slurm test: {reason}");
            return;
        }
    };
    let started = Instant::now();
    let experiment = write_tiny(dir.path());
    let results = dir.path().join("results");
    let submitted = binary()
        .env("SLURM_CONF", &cluster.conf)
        .arg("slurm")
        .arg(&experiment)
        .args(["--shards", "3", "--time", "10:00", "--submit"])
        .arg("--results-dir")
        .arg(&results)
        .output()
        .unwrap();
    assert!(submitted.status.success(), "{}", stderr(&submitted));
    let printed = text(&submitted);
    let mut lines = printed.lines();
    let script = lines.next().expect("the script path");
    let array_job = lines.next().expect("the array job id").to_owned();
    assert!(
        script.ends_with("tiny/slurm/run.sbatch"),
        "script path {script:?}"
    );
    assert!(
        array_job.chars().all(|c| c.is_ascii_digit()),
        "job id {array_job:?}"
    );
    cluster.jobs.push(array_job.clone());
    println!(
        "submitted array job {array_job}: {}",
        stderr(&submitted).trim()
    );

    // Every job of this private cluster belongs to the test, so the test is done when the queue
    // is empty.
    let mut seen: Vec<String> = Vec::new();
    loop {
        let queue = cluster
            .command("squeue")
            .args(["--noheader", "--format=%i %j %T %M %R"])
            .output()
            .unwrap();
        assert!(queue.status.success(), "squeue: {}", stderr(&queue));
        let snapshot = text(&queue);
        for line in snapshot.lines().map(str::trim) {
            if !seen.iter().any(|s| s == line) {
                seen.push(line.to_owned());
            }
        }
        if snapshot.trim().is_empty() {
            break;
        }
        assert!(
            started.elapsed() < JOB_TIMEOUT,
            "jobs still queued after {JOB_TIMEOUT:?}:\n{snapshot}\n{}",
            cluster.logs()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let slurm_seconds = started.elapsed().as_secs_f64();
    println!("squeue lines seen (job id, name, state, time, node or reason):");
    for line in &seen {
        println!("  {line}");
    }

    let output_dir = results.join("tiny");
    let logs = output_dir.join("slurm/logs");
    let log_text = || {
        let mut text = String::new();
        for entry in std::fs::read_dir(&logs).unwrap().flatten() {
            let content = std::fs::read_to_string(entry.path()).unwrap_or_default();
            text.push_str(&format!("--- {}\n{content}", entry.path().display()));
        }
        text
    };
    let jobs = cluster
        .command("scontrol")
        .args(["show", "job", &array_job])
        .output()
        .unwrap();
    let jobs = text(&jobs);
    let states: Vec<&str> = jobs
        .split_whitespace()
        .filter(|field| field.starts_with("JobState=") || field.starts_with("ExitCode="))
        .collect();
    assert_eq!(
        states,
        ["JobState=COMPLETED", "ExitCode=0:0"].repeat(3),
        "states of the three array tasks:\n{jobs}\n{}",
        log_text()
    );
    for task in 1..=3 {
        let tables = output_dir.join(format!("shards/{task}-of-3/table.md"));
        assert!(
            tables.is_file(),
            "{} missing\n{}",
            tables.display(),
            log_text()
        );
    }
    let merged = output_dir.join("table.md");
    assert!(
        merged.is_file(),
        "the merging job wrote no table.md\n{}",
        log_text()
    );

    let unsharded = dir.path().join("unsharded");
    let output = run(&experiment, &unsharded, &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_same_tables(&unsharded.join("tiny"), &output_dir);
    println!(
        "merged table.md:\n{}",
        std::fs::read_to_string(&merged).unwrap()
    );
    println!(
        "submission to empty queue: {slurm_seconds:.1} s; whole test: {:.1} s",
        started.elapsed().as_secs_f64()
    );
}
