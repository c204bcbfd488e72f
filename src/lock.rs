//! Lock files that keep conflicting writers out of a results folder, and out of a dataset folder
//! while `datasets fetch` writes into it (with the whole-folder lock).
//!
//! An unsharded `run` and `report` take `.lock`, which excludes every other writer. Shard `I/N`
//! of a sharded run takes `.lock-shard-I-of-N`, so the shards of one split run at the same time.
//! A second process for the same shard is kept out, and so are a shard of a split into another
//! number of shards (whose runs overlap), an unsharded run and `report`.
//!
//! A process first creates its own lock file, then lists the other lock files of the folder.
//! When one of them conflicts and its holder is alive, it deletes its own file again and fails.
//! Two processes that start at the same moment may both fail, but never both succeed. The lock
//! file is created by hard-linking a complete temporary file, which is atomic on local
//! filesystems and on NFS, so a reader never sees a lock without its holder.

use std::path::{Path, PathBuf};

use tracing::warn;

use crate::error::{Error, Result};
use crate::provenance::host_name;
use crate::shard::Shard;

/// File name of the lock of the whole results folder.
const WHOLE_LOCK: &str = ".lock";

/// The part of a results folder that a lock claims.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LockScope {
    /// Every run: an unsharded `run`, or `report`.
    Whole,
    /// The runs of one shard.
    Shard(Shard),
}

impl LockScope {
    fn file_name(self) -> String {
        match self {
            LockScope::Whole => WHOLE_LOCK.to_owned(),
            LockScope::Shard(shard) => shard.lock_name(),
        }
    }

    /// Parses the scope from a lock file name; `None` for any other file.
    fn from_file_name(name: &str) -> Option<LockScope> {
        if name == WHOLE_LOCK {
            return Some(LockScope::Whole);
        }
        Shard::from_lock_name(name).map(LockScope::Shard)
    }

    /// Returns whether a holder of `self` and a holder of `other`, two distinct lock files,
    /// would write the same files.
    fn conflicts_with(self, other: LockScope) -> bool {
        match (self, other) {
            (LockScope::Shard(mine), LockScope::Shard(theirs)) => mine.count() != theirs.count(),
            _ => true,
        }
    }
}

/// The process recorded in a lock file: its id on the first line, then `host=` and, inside a
/// Slurm job, `slurm_job=` lines. A file holding only the process id counts as written on this
/// machine.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Holder {
    pid: String,
    host: Option<String>,
    slurm_job: Option<String>,
}

impl Holder {
    fn current() -> Holder {
        Holder {
            pid: std::process::id().to_string(),
            host: Some(host_name()),
            slurm_job: std::env::var("SLURM_JOB_ID")
                .ok()
                .filter(|id| !id.is_empty()),
        }
    }

    fn to_text(&self) -> String {
        let mut text = format!("{}\n", self.pid);
        if let Some(host) = &self.host {
            text.push_str(&format!("host={host}\n"));
        }
        if let Some(job) = &self.slurm_job {
            text.push_str(&format!("slurm_job={job}\n"));
        }
        text
    }

    fn parse(text: &str) -> Holder {
        let mut lines = text.lines();
        let pid = lines.next().unwrap_or_default().trim().to_owned();
        let mut holder = Holder {
            pid,
            host: None,
            slurm_job: None,
        };
        for line in lines {
            match line.trim().split_once('=') {
                Some(("host", host)) => holder.host = Some(host.to_owned()),
                Some(("slurm_job", job)) => holder.slurm_job = Some(job.to_owned()),
                _ => {}
            }
        }
        holder
    }

    /// Returns whether the holder may still run. A process on this machine is looked up in
    /// `/proc`. A process on another machine cannot be checked, so it counts as running. The
    /// exception is an earlier attempt of the Slurm job that this process belongs to, because
    /// Slurm runs one attempt of a job at a time. So a requeued job takes over its own lock.
    fn is_alive(&self, current: &Holder) -> bool {
        if self.pid.is_empty() || !self.pid.chars().all(|c| c.is_ascii_digit()) {
            return false;
        }
        let same_job = self.slurm_job.is_some() && self.slurm_job == current.slurm_job;
        // NOTE: a lock that a killed process of another job left on another node therefore
        // blocks until someone deletes it; the error names the file.
        match &self.host {
            Some(host) if Some(host) != current.host.as_ref() => !same_job,
            _ => process_alive(&self.pid),
        }
    }

    /// Formats the holder for the lock error: the process id and, when known, the host.
    fn describe(&self) -> String {
        match &self.host {
            Some(host) => format!("{} on {host}", self.pid),
            None => self.pid.clone(),
        }
    }
}

/// A lock file in a results folder, deleted when dropped.
pub(crate) struct ResultsLock {
    path: PathBuf,
}

impl ResultsLock {
    /// Locks the whole results folder `dir` against every other writer.
    pub(crate) fn acquire(dir: &Path) -> Result<ResultsLock> {
        ResultsLock::acquire_scope(dir, LockScope::Whole)
    }

    /// Locks the part of the results folder `dir` that `scope` names. A lock left by a process
    /// that is gone is taken over with a warning.
    pub(crate) fn acquire_scope(dir: &Path, scope: LockScope) -> Result<ResultsLock> {
        let current = Holder::current();
        let lock = ResultsLock::create(dir, scope, &current)?;
        for (other, path) in lock_files(dir)? {
            if path == lock.path || !scope.conflicts_with(other) {
                continue;
            }
            let Some(holder) = read_holder(&path) else {
                continue;
            };
            if holder.is_alive(&current) {
                // Dropping `lock` deletes the file just created.
                return Err(Error::Locked {
                    dir: dir.to_owned(),
                    lock: path,
                    pid: holder.describe(),
                });
            }
        }
        Ok(lock)
    }

    /// Creates the lock file of `scope`, taking over one whose holder is gone.
    fn create(dir: &Path, scope: LockScope, current: &Holder) -> Result<ResultsLock> {
        let path = dir.join(scope.file_name());
        loop {
            match create_with_contents(&path, current.to_text().as_bytes()) {
                Ok(()) => return Ok(ResultsLock { path }),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let holder = read_holder(&path).unwrap_or_else(|| Holder::parse(""));
                    if holder.is_alive(current) {
                        return Err(Error::Locked {
                            dir: dir.to_owned(),
                            lock: path,
                            pid: holder.describe(),
                        });
                    }
                    warn!(lock = %path.display(), pid = %holder.describe(), "removing a lock left by a process that is gone");
                    match std::fs::remove_file(&path) {
                        Ok(()) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(e) => return Err(Error::io(&path, e)),
                    }
                }
                Err(e) => return Err(Error::io(&path, e)),
            }
        }
    }
}

impl Drop for ResultsLock {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_file(&self.path) {
            warn!(lock = %self.path.display(), error = %e, "cannot remove the lock file");
        }
    }
}

/// Creates `path` with `bytes` as its contents, failing with `AlreadyExists` when it exists.
/// The file is written under a temporary name and hard-linked into place, so that it never
/// exists empty. Where the filesystem has no hard links, it is created and then written.
fn create_with_contents(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(format!(".{}.tmp", std::process::id()));
    let temporary = PathBuf::from(temporary);
    std::fs::write(&temporary, bytes)?;
    let linked = std::fs::hard_link(&temporary, path);
    let _ = std::fs::remove_file(&temporary);
    match linked {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
            use std::io::Write as _;
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(path)?;
            file.write_all(bytes)
        }
        other => other,
    }
}

/// Reads the holder of a lock file; `None` when the file is gone.
fn read_holder(path: &Path) -> Option<Holder> {
    std::fs::read_to_string(path)
        .ok()
        .map(|text| Holder::parse(&text))
}

/// Lists the lock files of a results folder with their scopes.
fn lock_files(dir: &Path) -> Result<Vec<(LockScope, PathBuf)>> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let name = entry.file_name();
        if let Some(scope) = name.to_str().and_then(LockScope::from_file_name) {
            found.push((scope, entry.path()));
        }
    }
    Ok(found)
}

/// Returns whether a live process holds any lock of a results folder, whole or shard.
pub(crate) fn lock_held(output_dir: &Path) -> bool {
    let current = Holder::current();
    lock_files(output_dir)
        .unwrap_or_default()
        .iter()
        .filter_map(|(_, path)| read_holder(path))
        .any(|holder| holder.is_alive(&current))
}

/// Checks whether a process with this id is running. Where `/proc` does not exist, every holder
/// counts as running, so the user removes a stale lock by hand.
fn process_alive(pid: &str) -> bool {
    if pid.is_empty() || !pid.chars().all(|c| c.is_ascii_digit()) {
        return false;
    }
    let proc = Path::new("/proc");
    !proc.is_dir() || proc.join(pid).exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shard(text: &str) -> LockScope {
        LockScope::Shard(text.parse().unwrap())
    }

    /// Writes a lock file held by the test process itself, which is alive.
    fn hold(dir: &Path, scope: LockScope) {
        std::fs::write(
            dir.join(scope.file_name()),
            Holder::current().to_text().as_bytes(),
        )
        .unwrap();
    }

    #[test]
    fn shards_of_one_split_coexist() {
        let dir = tempfile::tempdir().unwrap();
        let first = ResultsLock::acquire_scope(dir.path(), shard("1/3")).unwrap();
        let second = ResultsLock::acquire_scope(dir.path(), shard("2/3")).unwrap();
        let third = ResultsLock::acquire_scope(dir.path(), shard("3/3")).unwrap();
        assert!(dir.path().join(".lock-shard-2-of-3").is_file());
        drop((first, second, third));
        assert!(
            !dir.path().join(".lock-shard-2-of-3").exists(),
            "dropping removes the lock"
        );
    }

    #[test]
    fn same_shard_twice_is_locked() {
        let dir = tempfile::tempdir().unwrap();
        let _held = ResultsLock::acquire_scope(dir.path(), shard("2/3")).unwrap();
        let error = ResultsLock::acquire_scope(dir.path(), shard("2/3"))
            .err()
            .expect("a second holder of shard 2/3 is rejected");
        assert!(error.to_string().contains("in use"), "{error}");
        assert!(error.to_string().contains("lock-shard-2-of-3"), "{error}");
    }

    #[test]
    fn whole_lock_excludes_shards() {
        let dir = tempfile::tempdir().unwrap();
        hold(dir.path(), LockScope::Whole);
        let error = ResultsLock::acquire_scope(dir.path(), shard("1/2"))
            .err()
            .expect("a shard must wait for an unsharded run");
        assert!(error.to_string().contains(".lock)"), "{error}");
        assert!(
            !dir.path().join(".lock-shard-1-of-2").exists(),
            "the rejected shard removes its own lock"
        );
    }

    #[test]
    fn shard_lock_excludes_whole_run() {
        let dir = tempfile::tempdir().unwrap();
        hold(dir.path(), shard("3/4"));
        let error = ResultsLock::acquire(dir.path())
            .err()
            .expect("an unsharded run must wait for a running shard");
        assert!(error.to_string().contains("lock-shard-3-of-4"), "{error}");
        assert!(
            !dir.path().join(".lock").exists(),
            "the rejected run removes its own lock"
        );
        assert!(lock_held(dir.path()));
    }

    #[test]
    fn other_shard_count_is_locked() {
        let dir = tempfile::tempdir().unwrap();
        hold(dir.path(), shard("1/3"));
        let error = ResultsLock::acquire_scope(dir.path(), shard("1/2"))
            .err()
            .expect("shards of two different splits overlap");
        assert!(error.to_string().contains("lock-shard-1-of-3"), "{error}");
    }

    #[test]
    fn stale_locks_do_not_block() {
        let dir = tempfile::tempdir().unwrap();
        // No process has this id, so both locks are left over from processes that are gone.
        std::fs::write(dir.path().join(".lock"), "999999999").unwrap();
        std::fs::write(dir.path().join(".lock-shard-1-of-3"), "999999999\n").unwrap();
        assert!(!lock_held(dir.path()));
        let whole = ResultsLock::acquire(dir.path()).unwrap();
        drop(whole);
        let _shard = ResultsLock::acquire_scope(dir.path(), shard("1/3")).unwrap();
        let text = std::fs::read_to_string(dir.path().join(".lock-shard-1-of-3")).unwrap();
        assert_eq!(Holder::parse(&text), Holder::current(), "taken over");
    }

    #[test]
    fn holder_on_other_host_counts_as_alive() {
        let current = Holder {
            pid: "10".to_owned(),
            host: Some("node1".to_owned()),
            slurm_job: Some("77".to_owned()),
        };
        let remote = Holder {
            pid: "999999999".to_owned(),
            host: Some("node2".to_owned()),
            slurm_job: None,
        };
        assert!(remote.is_alive(&current), "cannot be checked from node1");
        let requeued = Holder {
            slurm_job: Some("77".to_owned()),
            ..remote.clone()
        };
        assert!(
            !requeued.is_alive(&current),
            "an earlier attempt of the same Slurm job is over"
        );
        let other_job = Holder {
            slurm_job: Some("78".to_owned()),
            ..remote
        };
        assert!(other_job.is_alive(&current));
    }

    #[test]
    fn holder_text_round_trips() {
        let holder = Holder {
            pid: "4242".to_owned(),
            host: Some("node7".to_owned()),
            slurm_job: Some("1234".to_owned()),
        };
        assert_eq!(Holder::parse(&holder.to_text()), holder);
        assert_eq!(holder.describe(), "4242 on node7");
        let legacy = Holder::parse("4242");
        assert_eq!(legacy.host, None);
        assert_eq!(legacy.describe(), "4242");
    }
}
