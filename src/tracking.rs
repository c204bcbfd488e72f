//! Bookkeeping of a results folder: which runs are complete, a lock against two writers,
//! rescoring stored scores, and the `report` and `status` commands.
//!
//! A run folder is complete when its `run.json` records `done` for the same spec and its settings
//! and scores exist; `run.json` is written last, so a run killed at any moment leaves a folder
//! that is found incomplete and redone.

use std::path::{Path, PathBuf};

use tracing::warn;

use crate::config::{Experiment, RunSpec};
use crate::error::{Error, Result};
use crate::evaluation::{self, EvaluationSettings};
pub(crate) use crate::lock::ResultsLock;
use crate::lock::lock_held;
use crate::report;
use crate::runner::{RunRecord, RunStatus, files, write_json};

/// Reads the record of a complete run folder, if there is one for this spec. A folder counts as
/// complete when its record is `done` for the same spec and its settings and scores exist.
pub(crate) fn read_complete(runs_dir: &Path, run: &RunSpec) -> Option<RunRecord> {
    let dir = runs_dir.join(run.folder_name());
    let path = dir.join(files::RECORD);
    if !(dir.join(files::SETTINGS).is_file() && dir.join(files::SCORES).is_file()) {
        return None;
    }
    let text = std::fs::read_to_string(&path).ok()?;
    match serde_json::from_str::<RunRecord>(&text) {
        Ok(record) if record.status == RunStatus::Done && record.spec == *run => Some(record),
        Ok(_) => None,
        Err(e) => {
            warn!(path = %path.display(), error = %e, "unreadable run record; the run is redone");
            None
        }
    }
}

/// Recomputes the metric suite of a complete run from its stored scores when it was computed
/// with other evaluation settings, and rewrites its record.
pub(crate) fn rescore(
    runs_dir: &Path,
    record: &mut RunRecord,
    settings: &EvaluationSettings,
) -> Result<()> {
    let Some(metrics) = record.metrics.as_mut() else {
        return Ok(());
    };
    if metrics.evaluation_settings.as_ref() == Some(settings) {
        return Ok(());
    }
    let dir = runs_dir.join(&record.folder);
    let (scores, labels) = report::read_scores(&dir.join(files::SCORES))?;
    let validation = evaluation::read_column(&dir.join(files::VALIDATION_SCORES))?;
    let suite = evaluation::metric_suite(&labels, &scores, Some(&validation), None, settings)?;
    metrics.roc_auc = suite.roc_auc;
    metrics.pr_auc = suite.pr_auc;
    metrics.evaluation = Some(suite);
    metrics.evaluation_settings = Some(settings.clone());
    write_json(&dir.join(files::RECORD), record)
}

/// File name of the copy of the experiment file in a results folder.
pub const EXPERIMENT_COPY: &str = "experiment.toml";
/// File in a results folder that contains the absolute data folder of the last `run`.
pub const DATA_DIR_RECORD: &str = "data_dir.txt";

/// Reads the record of every run folder under `<output_dir>/runs`, sorted by folder name.
pub fn read_records(output_dir: &Path) -> Result<Vec<RunRecord>> {
    let runs_dir = output_dir.join("runs");
    let entries = std::fs::read_dir(&runs_dir).map_err(|e| Error::io(&runs_dir, e))?;
    let mut records = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(&runs_dir, e))?;
        let path = entry.path().join(files::RECORD);
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        match serde_json::from_str::<RunRecord>(&text) {
            Ok(record) => records.push(record),
            Err(e) => warn!(path = %path.display(), error = %e, "unreadable run record left out"),
        }
    }
    records.sort_by(|a, b| a.folder.cmp(&b.folder));
    Ok(records)
}

/// Rebuilds `summary.csv`, `summary.parquet`, `table.md` and the plots of a results folder from
/// its run folders, without training. Stored scores are rescored when the evaluation settings of
/// the folder's experiment file differ from those they were computed with. Returns the number of
/// runs found.
pub fn rebuild_report(output_dir: &Path) -> Result<usize> {
    let experiment = Experiment::from_file(&output_dir.join(EXPERIMENT_COPY))?;
    let _lock = ResultsLock::acquire(output_dir)?;
    let runs_dir = output_dir.join("runs");
    let mut records = read_records(output_dir)?;
    for record in records.iter_mut().filter(|r| r.status == RunStatus::Done) {
        if let Err(e) = rescore(&runs_dir, record, &experiment.evaluation) {
            warn!(run = %record.folder, error = %e, "cannot rescore; its stored metrics are kept");
        }
    }
    report::write_reports(
        output_dir,
        &records,
        experiment.evaluation.point_adjusted_in_table,
    )?;
    Ok(records.len())
}

/// State of a run of the sweep.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum RunState {
    Done,
    Failed,
    /// Its folder exists without a record while another process holds the lock.
    Running,
    /// Its folder exists without a record and nothing holds the lock: the run was interrupted
    /// and a rerun redoes it.
    Incomplete,
    Missing,
}

impl RunState {
    /// Returns the word that `status` prints.
    pub fn name(self) -> &'static str {
        match self {
            RunState::Done => "done",
            RunState::Failed => "failed",
            RunState::Running => "running",
            RunState::Incomplete => "incomplete",
            RunState::Missing => "missing",
        }
    }
}

/// The state of every run that the folder's experiment file expands to, with its folder name.
///
/// The data folder is `data_dir`, else the one the last `run` used, else the experiment file's.
/// Datasets that cannot be found are left out with a warning, because `status` must work on a
/// machine that only holds the results.
/// Names the run folders under `output_dir/runs` that are not among `planned`: runs of datasets
/// that `status` could not find, or of settings no longer in the experiment file.
pub fn unplanned_runs(output_dir: &Path, planned: &[(String, RunState)]) -> Vec<String> {
    let known: std::collections::HashSet<&str> =
        planned.iter().map(|(folder, _)| folder.as_str()).collect();
    let Ok(entries) = std::fs::read_dir(output_dir.join("runs")) else {
        return Vec::new();
    };
    let mut others: Vec<String> = entries
        .flatten()
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| !known.contains(name.as_str()))
        .collect();
    others.sort();
    others
}

pub fn sweep_status(
    output_dir: &Path,
    data_dir: Option<PathBuf>,
) -> Result<Vec<(String, RunState)>> {
    let mut experiment = Experiment::from_file(&output_dir.join(EXPERIMENT_COPY))?;
    let recorded = std::fs::read_to_string(output_dir.join(DATA_DIR_RECORD))
        .ok()
        .map(|text| PathBuf::from(text.trim()))
        .filter(|dir| dir.is_dir());
    if let Some(dir) = data_dir.or(recorded) {
        experiment.data_dir = dir;
    }
    let entities = crate::data::resolve(
        &experiment.datasets,
        &experiment.data_dir,
        &experiment.data,
        true,
    )?;
    let runs: Vec<RunSpec> = experiment.expand(&entities);
    let locked = lock_held(output_dir);
    let runs_dir = output_dir.join("runs");
    Ok(runs
        .iter()
        .map(|run| {
            let folder = run.folder_name();
            let dir = runs_dir.join(&folder);
            let state = match std::fs::read_to_string(dir.join(files::RECORD))
                .ok()
                .and_then(|text| serde_json::from_str::<RunRecord>(&text).ok())
            {
                Some(record) if record.status == RunStatus::Done => RunState::Done,
                Some(_) => RunState::Failed,
                None if dir.is_dir() && locked => RunState::Running,
                None if dir.is_dir() => RunState::Incomplete,
                None => RunState::Missing,
            };
            (folder, state)
        })
        .collect())
}
