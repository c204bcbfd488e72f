//! Result files: per-run artefacts, `summary.csv` / `summary.parquet` and the paper-style
//! `table.md`.
//!
//! `table.md` has one row per dataset entity and, for each model variant, test ROC-AUC and
//! PR-AUC (average precision) as mean ± sample standard deviation over seeds. When the sweep has
//! several hyperparameter settings for a variant, each cell shows the setting with the lowest
//! mean validation reconstruction MSE over seeds, so no test label takes part in the choice.
//! The full grid follows the table.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Cursor;
use std::path::Path;

use polars::prelude::*;

use crate::config::ModelKind;
use crate::error::{Error, Result};
use crate::evaluation::MetricSuite;
use crate::model::Mask;
use crate::runner::{RunRecord, RunStatus};
use crate::training::EpochRecord;

/// File names of the experiment-level results.
pub mod files {
    pub const SUMMARY_CSV: &str = "summary.csv";
    pub const SUMMARY_PARQUET: &str = "summary.parquet";
    pub const TABLE: &str = "table.md";
}

/// Writes `bytes` to a temporary file beside `path`, then renames it into place, so that a
/// reader never sees a half-written file. The temporary name contains the process id and a
/// counter, so processes and threads that write the same path at once never write into each
/// other's temporary file, and the last rename wins. The shards of a sweep all copy the
/// experiment file this way.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let serial = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(format!(".{}-{serial}.tmp", std::process::id()));
    let temporary = std::path::PathBuf::from(temporary);
    std::fs::write(&temporary, bytes).map_err(|e| Error::io(&temporary, e))?;
    std::fs::rename(&temporary, path).map_err(|e| Error::io(path, e))
}

/// Writes the loss per epoch.
pub fn write_history(path: &Path, history: &[EpochRecord]) -> Result<()> {
    let mut text = String::from("epoch,train_loss,validation_loss,validation_mse,seconds\n");
    for r in history {
        let _ = writeln!(
            text,
            "{},{},{},{},{:.3}",
            r.epoch, r.train_loss, r.validation_loss, r.validation_mse, r.seconds
        );
    }
    write_atomic(path, text.as_bytes())
}

/// Writes one `score,label` row per test point.
pub fn write_scores(path: &Path, scores: &[f64], labels: &[bool]) -> Result<()> {
    let mut text = String::with_capacity(scores.len() * 24);
    text.push_str("score,label\n");
    for (score, &label) in scores.iter().zip(labels) {
        let _ = writeln!(text, "{score},{}", u8::from(label));
    }
    write_atomic(path, text.as_bytes())
}

/// Writes one value per line.
pub fn write_column(path: &Path, values: &[f64]) -> Result<()> {
    let mut text = String::with_capacity(values.len() * 20);
    for v in values {
        let _ = writeln!(text, "{v}");
    }
    write_atomic(path, text.as_bytes())
}

/// Reads the `score,label` file that [`write_scores`] writes.
pub fn read_scores(path: &Path) -> Result<(Vec<f64>, Vec<bool>)> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let mut scores = Vec::new();
    let mut labels = Vec::new();
    for (index, line) in text.lines().enumerate().skip(1) {
        let parsed = line.split_once(',').and_then(|(score, label)| {
            let score: f64 = score.parse().ok()?;
            let label = match label {
                "0" => false,
                "1" => true,
                _ => return None,
            };
            Some((score, label))
        });
        let Some((score, label)) = parsed else {
            return Err(Error::data(
                path,
                Some(index + 1),
                format!("{line:?} is not `score,label`"),
            ));
        };
        scores.push(score);
        labels.push(label);
    }
    Ok((scores, labels))
}

/// Writes a row-major `f32` matrix as a NumPy `.npy` file (format version 1.0), for users who
/// continue in Python.
pub fn write_npy_f32(path: &Path, values: &[f32], shape: [usize; 2]) -> Result<()> {
    let mut header = format!(
        "{{'descr': '<f4', 'fortran_order': False, 'shape': ({}, {}), }}",
        shape[0], shape[1]
    );
    // Magic (6) + version (2) + header length (2) + header, padded to a multiple of 64.
    let unpadded = 10 + header.len() + 1;
    header.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    header.push('\n');
    let mut bytes = Vec::with_capacity(10 + header.len() + values.len() * 4);
    bytes.extend_from_slice(b"\x93NUMPY\x01\x00");
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    for v in values {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    write_atomic(path, &bytes)
}

/// Writes the sparsity mask with one column per sensor and one row per step (elementwise) or
/// unit (feedforward).
pub fn write_mask(path: &Path, mask: &Mask, sensor_names: &[String]) -> Result<()> {
    let mut text = format!("row,{}\n", sensor_names.join(","));
    for (step, row) in mask.values.chunks(mask.cols).enumerate() {
        let row: Vec<String> = row.iter().map(|w| w.to_string()).collect();
        let _ = writeln!(text, "{step},{}", row.join(","));
    }
    write_atomic(path, text.as_bytes())
}

/// Writes `summary.csv`, `summary.parquet` and `table.md` into `dir`.
/// Rows are sorted by run folder name, so the files do not depend on the order in which runs
/// finished or on how a sweep was split.
pub fn write_reports(dir: &Path, records: &[RunRecord], show_point_adjusted: bool) -> Result<()> {
    let mut records = records.to_vec();
    records.sort_by(|a, b| a.folder.cmp(&b.folder));
    let records = records.as_slice();
    let mut frame = summary_frame(records).map_err(|e| table_error(dir, e))?;
    let csv_path = dir.join(files::SUMMARY_CSV);
    let mut csv = Vec::new();
    CsvWriter::new(&mut csv)
        .finish(&mut frame)
        .map_err(|e| table_error(&csv_path, e))?;
    write_atomic(&csv_path, &csv)?;

    let parquet_path = dir.join(files::SUMMARY_PARQUET);
    let mut parquet = Cursor::new(Vec::new());
    ParquetWriter::new(&mut parquet)
        .finish(&mut frame)
        .map_err(|e| table_error(&parquet_path, e))?;
    write_atomic(&parquet_path, parquet.get_ref())?;

    write_atomic(
        &dir.join(files::TABLE),
        paper_table(records, show_point_adjusted).as_bytes(),
    )?;
    write_kept_plots(dir, records);
    write_curve_plots(dir, records);
    Ok(())
}

/// Draws, per dataset, the ROC and PR curves of every variant on one figure into `plots/`. Each
/// variant shows the run of its selected setting with the lowest seed. A picture that cannot be
/// drawn is reported as a warning.
fn write_curve_plots(dir: &Path, records: &[RunRecord]) {
    let grid = build_grid(records);
    let mut by_dataset: BTreeMap<String, Vec<crate::plot::CurvePair>> = BTreeMap::new();
    for ((dataset, model), cells) in &grid {
        let (setting, _) = selected(cells);
        let shown = records
            .iter()
            .filter(|r| r.status == RunStatus::Done && r.spec.dataset.label() == *dataset)
            .filter(|r| r.spec.model == *model)
            .filter(|r| {
                r.spec.hidden_size == setting.hidden_size && r.spec.window == setting.window
            })
            .filter(|r| r.spec.l1 == setting.l1)
            .min_by_key(|r| r.spec.seed);
        let Some(record) = shown else { continue };
        let path = dir
            .join("runs")
            .join(&record.folder)
            .join(crate::runner::files::SCORES);
        let pair = read_scores(&path).and_then(|(scores, labels)| {
            Ok(crate::plot::CurvePair {
                label: model.to_string(),
                roc: crate::metrics::roc_curve(&labels, &scores)?,
                pr: crate::metrics::precision_recall_curve(&labels, &scores)?,
            })
        });
        match pair {
            Ok(pair) => by_dataset.entry(dataset.clone()).or_default().push(pair),
            Err(e) => tracing::warn!(run = %record.folder, error = %e, "curves not drawn"),
        }
    }
    let plots = dir.join("plots");
    for (dataset, pairs) in by_dataset {
        let stem = plots.join(format!("curves_{}", dataset.replace([':', '/'], "-")));
        let drawn = std::fs::create_dir_all(&plots)
            .map_err(|e| Error::io(&plots, e))
            .and_then(|_| crate::plot::curves(&stem, &dataset, &pairs));
        if let Err(e) = drawn {
            tracing::warn!(dataset, error = %e, "curve picture not drawn");
        }
    }
}

/// Draws sensors kept against L1 strength per dataset into `plots/`, averaging over seeds and
/// the other hyperparameters. A picture that cannot be drawn is reported as a warning.
fn write_kept_plots(dir: &Path, records: &[RunRecord]) {
    // Per dataset: the sensor count and, per variant, (l1, sensors kept) of every run.
    type KeptRuns = BTreeMap<ModelKind, Vec<(f64, f64)>>;
    let mut by_dataset: BTreeMap<String, (usize, KeptRuns)> = BTreeMap::new();
    for record in records {
        let Some(kept) = record.metrics.as_ref().and_then(|m| m.sensors_kept) else {
            continue;
        };
        let sensors = record.metrics.as_ref().map_or(0, |m| m.sensor_count);
        let entry = by_dataset.entry(record.spec.dataset.label()).or_default();
        entry.0 = entry.0.max(sensors);
        entry
            .1
            .entry(record.spec.model)
            .or_default()
            .push((record.spec.l1, kept as f64));
    }
    let plots = dir.join("plots");
    for (dataset, (sensors, models)) in by_dataset {
        let curves: Vec<crate::plot::KeptCurve> = models
            .into_iter()
            .map(|(model, mut runs)| {
                runs.sort_by(|a, b| a.0.total_cmp(&b.0));
                let mut points: Vec<(f64, f64)> = Vec::new();
                for group in runs.chunk_by(|a, b| a.0 == b.0) {
                    let kept: Vec<f64> = group.iter().map(|r| r.1).collect();
                    points.push((group[0].0, mean(&kept)));
                }
                crate::plot::KeptCurve {
                    label: model.to_string(),
                    points,
                }
            })
            .collect();
        let stem = plots.join(format!("sensors_kept_{}", dataset.replace([':', '/'], "-")));
        let drawn = std::fs::create_dir_all(&plots)
            .map_err(|e| Error::io(&plots, e))
            .and_then(|_| crate::plot::sensors_kept_vs_l1(&stem, &dataset, sensors, &curves));
        if let Err(e) = drawn {
            tracing::warn!(dataset, error = %e, "sensors-kept picture not drawn");
        }
    }
}

fn table_error(path: &Path, e: PolarsError) -> Error {
    Error::Table {
        path: path.to_owned(),
        message: e.to_string(),
    }
}

/// One row per run with every swept value, the metrics and the status.
pub fn summary_frame(records: &[RunRecord]) -> PolarsResult<DataFrame> {
    let metric = |f: &dyn Fn(&crate::runner::RunMetrics) -> Option<f64>| -> Vec<Option<f64>> {
        records
            .iter()
            .map(|r| r.metrics.as_ref().and_then(f))
            .collect()
    };
    let count = |f: &dyn Fn(&crate::runner::RunMetrics) -> Option<usize>| -> Vec<Option<u64>> {
        records
            .iter()
            .map(|r| r.metrics.as_ref().and_then(f).map(|v| v as u64))
            .collect()
    };
    let suite = |f: &dyn Fn(&MetricSuite) -> Option<f64>| -> Vec<Option<f64>> {
        records
            .iter()
            .map(|r| {
                r.metrics
                    .as_ref()
                    .and_then(|m| m.evaluation.as_ref())
                    .and_then(f)
            })
            .collect()
    };
    let text =
        |f: &dyn Fn(&RunRecord) -> String| -> Vec<String> { records.iter().map(f).collect() };
    let columns = vec![
        Column::new("run_id".into(), text(&|r| r.id.clone())),
        Column::new(
            "dataset".into(),
            text(&|r| r.spec.dataset.family().to_owned()),
        ),
        Column::new(
            "entity".into(),
            records
                .iter()
                .map(|r| r.spec.dataset.entity.clone())
                .collect::<Vec<_>>(),
        ),
        Column::new("model".into(), text(&|r| r.spec.model.to_string())),
        Column::new(
            "hidden_size".into(),
            records
                .iter()
                .map(|r| r.spec.hidden_size as u64)
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "window".into(),
            records
                .iter()
                .map(|r| r.spec.window as u64)
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "l1".into(),
            records.iter().map(|r| r.spec.l1).collect::<Vec<_>>(),
        ),
        Column::new(
            "seed".into(),
            records.iter().map(|r| r.spec.seed).collect::<Vec<_>>(),
        ),
        Column::new(
            "status".into(),
            text(&|r| match r.status {
                RunStatus::Done => "done".into(),
                RunStatus::Failed => "failed".into(),
            }),
        ),
        Column::new("roc_auc".into(), metric(&|m| m.roc_auc)),
        Column::new("pr_auc".into(), metric(&|m| m.pr_auc)),
        Column::new("sensors_kept".into(), count(&|m| m.sensors_kept)),
        Column::new("hit_rate_100".into(), metric(&|m| m.hit_rate_100)),
        Column::new("hit_rate_150".into(), metric(&|m| m.hit_rate_150)),
        Column::new("pr_auc_trapezoid".into(), suite(&|s| s.pr_auc_trapezoid)),
        Column::new("vus_roc".into(), suite(&|s| s.vus_roc)),
        Column::new("vus_pr".into(), suite(&|s| s.vus_pr)),
        Column::new("threshold".into(), suite(&|s| s.threshold)),
        Column::new("precision".into(), suite(&|s| s.precision)),
        Column::new("recall".into(), suite(&|s| s.recall)),
        Column::new("f1".into(), suite(&|s| s.f1)),
        Column::new("range_precision".into(), suite(&|s| s.range_precision)),
        Column::new("range_recall".into(), suite(&|s| s.range_recall)),
        Column::new("range_f1".into(), suite(&|s| s.range_f1)),
        Column::new("f1_point_adjusted".into(), suite(&|s| s.f1_point_adjusted)),
        Column::new("f1_oracle".into(), suite(&|s| s.f1_oracle)),
        Column::new("epochs_trained".into(), count(&|m| Some(m.epochs_trained))),
        Column::new("best_epoch".into(), count(&|m| Some(m.best_epoch))),
        Column::new("validation_mse".into(), metric(&|m| Some(m.validation_mse))),
        Column::new("train_seconds".into(), metric(&|m| Some(m.train_seconds))),
        Column::new(
            "error".into(),
            records.iter().map(|r| r.error.clone()).collect::<Vec<_>>(),
        ),
        Column::new("folder".into(), text(&|r| r.folder.clone())),
    ];
    DataFrame::new(records.len(), columns)
}

/// Hyperparameters of one grid cell.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
struct Setting {
    hidden_size: usize,
    window: usize,
    l1: f64,
}

/// Aggregates of one (dataset, model, setting) over seeds.
#[derive(Debug, Default)]
struct Cell {
    validation_mse: Vec<f64>,
    roc_auc: Vec<f64>,
    pr_auc: Vec<f64>,
    sensors_kept: Vec<f64>,
    hit_rate_100: Vec<f64>,
    f1: Vec<f64>,
    vus_pr: Vec<f64>,
    f1_point_adjusted: Vec<f64>,
    seeds: usize,
}

type Grid = BTreeMap<(String, ModelKind), Vec<(Setting, Cell)>>;

fn build_grid(records: &[RunRecord]) -> Grid {
    let mut grid: Grid = BTreeMap::new();
    for record in records {
        let Some(metrics) = &record.metrics else {
            continue;
        };
        let spec = &record.spec;
        let setting = Setting {
            hidden_size: spec.hidden_size,
            window: spec.window,
            l1: spec.l1,
        };
        let cells = grid.entry((spec.dataset.label(), spec.model)).or_default();
        let index = match cells.iter().position(|(s, _)| *s == setting) {
            Some(index) => index,
            None => {
                cells.push((setting, Cell::default()));
                cells.len() - 1
            }
        };
        let cell = &mut cells[index].1;
        cell.seeds += 1;
        cell.validation_mse.push(metrics.validation_mse);
        cell.roc_auc.extend(metrics.roc_auc);
        cell.pr_auc.extend(metrics.pr_auc);
        cell.sensors_kept
            .extend(metrics.sensors_kept.map(|s| s as f64));
        cell.hit_rate_100.extend(metrics.hit_rate_100);
        if let Some(suite) = &metrics.evaluation {
            cell.f1.extend(suite.f1);
            cell.vus_pr.extend(suite.vus_pr);
            cell.f1_point_adjusted.extend(suite.f1_point_adjusted);
        }
    }
    for cells in grid.values_mut() {
        cells.sort_by(|a, b| a.0.partial_cmp(&b.0).expect("settings are finite"));
    }
    grid
}

/// The setting with the lowest mean validation MSE.
fn selected(cells: &[(Setting, Cell)]) -> &(Setting, Cell) {
    cells
        .iter()
        .min_by(|a, b| mean(&a.1.validation_mse).total_cmp(&mean(&b.1.validation_mse)))
        .expect("grid entries are never empty")
}

fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len() as f64
}

/// `mean ± sample std`, the mean alone for one value, `n/a` for none.
fn mean_std(values: &[f64], decimals: usize) -> String {
    match values.len() {
        0 => "n/a".into(),
        1 => format!("{:.decimals$}", values[0]),
        n => {
            let m = mean(values);
            let var = values.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (n - 1) as f64;
            format!("{m:.decimals$} ± {:.decimals$}", var.sqrt())
        }
    }
}

/// Mean ROC-AUC and PR-AUC of the selected cell of each (dataset, variant).
fn cell_means(grid: &Grid, dataset: &str, model: ModelKind) -> Option<(f64, f64)> {
    let cells = grid.get(&(dataset.to_owned(), model))?;
    let (_, cell) = selected(cells);
    (!cell.roc_auc.is_empty() && !cell.pr_auc.is_empty())
        .then(|| (mean(&cell.roc_auc), mean(&cell.pr_auc)))
}

/// Mean ranks of the variants and Wilcoxon signed-rank tests of each sparse variant against the
/// standard one, over the dataset entities.
fn comparison(grid: &Grid, models: &[ModelKind], datasets: &[&String]) -> String {
    let mut out = String::new();
    let mut rank_sums = vec![0.0; models.len()];
    let mut rank_counts = vec![0usize; models.len()];
    for dataset in datasets {
        let present: Vec<(usize, f64)> = models
            .iter()
            .enumerate()
            .filter_map(|(i, m)| cell_means(grid, dataset, *m).map(|(roc, _)| (i, roc)))
            .collect();
        let values: Vec<f64> = present.iter().map(|p| p.1).collect();
        for ((i, _), rank) in present.iter().zip(crate::stats::ranks_descending(&values)) {
            rank_sums[*i] += rank;
            rank_counts[*i] += 1;
        }
    }
    let ranks: Vec<String> = models
        .iter()
        .zip(rank_sums.iter().zip(&rank_counts))
        .filter(|(_, (_, n))| **n > 0)
        .map(|(m, (sum, &n))| format!("{m} {:.2}", sum / n as f64))
        .collect();
    let _ = writeln!(
        out,
        "\nMean rank by ROC-AUC within each dataset (1 = best): {}.",
        ranks.join(", ")
    );

    for &model in models.iter().filter(|m| m.is_sparse()) {
        let pairs: Vec<((f64, f64), (f64, f64))> = datasets
            .iter()
            .filter_map(|d| {
                Some((
                    cell_means(grid, d, model)?,
                    cell_means(grid, d, ModelKind::Standard)?,
                ))
            })
            .collect();
        for (metric, pick) in [("ROC-AUC", 0), ("PR-AUC", 1)] {
            let value = |pair: (f64, f64)| if pick == 0 { pair.0 } else { pair.1 };
            let sparse: Vec<f64> = pairs.iter().map(|p| value(p.0)).collect();
            let standard: Vec<f64> = pairs.iter().map(|p| value(p.1)).collect();
            let wins = sparse.iter().zip(&standard).filter(|(s, t)| s > t).count();
            let test = match crate::stats::wilcoxon_signed_rank(&sparse, &standard) {
                Some(t) => format!(
                    "W = {}, p = {:.3} (two-sided, exact, {} non-zero differences)",
                    // Adding 0.0 turns a statistic of −0 into 0.
                    t.statistic + 0.0,
                    t.p_value,
                    t.pairs
                ),
                None => "no test (no difference)".to_owned(),
            };
            let entities = match pairs.len() {
                1 => "1 entity".to_owned(),
                n => format!("{n} entities"),
            };
            let _ = writeln!(
                out,
                "\nWilcoxon signed-rank test, {model} against standard, {metric} over \
                 {entities}: higher on {wins}; {test}."
            );
        }
    }
    out
}

/// Renders `table.md`.
pub fn paper_table(records: &[RunRecord], show_point_adjusted: bool) -> String {
    let grid = build_grid(records);
    let mut models: Vec<ModelKind> = grid.keys().map(|(_, m)| *m).collect();
    models.sort();
    models.dedup();
    let mut datasets: Vec<&String> = grid.keys().map(|(d, _)| d).collect();
    datasets.dedup();

    let mut out = String::from("# Results\n\n");
    if grid.is_empty() {
        let failed = records
            .iter()
            .filter(|r| r.status == RunStatus::Failed)
            .count();
        let _ = writeln!(
            out,
            "No run completed: {failed} of {} failed, and their errors are in summary.csv.",
            records.len()
        );
        return out;
    }
    out.push_str(
        "Test ROC-AUC and PR-AUC (average precision, no interpolation), mean ± sample standard \
         deviation over seeds. \"kept\" is the number of sensors with a sparse weight above the \
         zero tolerance, not counting sensors constant in training.\n\n",
    );
    let mut header = String::from("| dataset |");
    let mut rule = String::from("|---|");
    for model in &models {
        let _ = write!(header, " {model} ROC-AUC | {model} PR-AUC |");
        rule.push_str("---|---|");
        if model.is_sparse() {
            let _ = write!(header, " {model} kept |");
            rule.push_str("---|");
        }
    }
    let _ = writeln!(out, "{header}\n{rule}");
    for dataset in &datasets {
        let mut row = format!("| {dataset} |");
        for model in &models {
            match grid.get(&((*dataset).clone(), *model)) {
                Some(cells) => {
                    let (_, cell) = selected(cells);
                    let _ = write!(
                        row,
                        " {} | {} |",
                        mean_std(&cell.roc_auc, 3),
                        mean_std(&cell.pr_auc, 3)
                    );
                    if model.is_sparse() {
                        let _ = write!(row, " {} |", mean_std(&cell.sensors_kept, 1));
                    }
                }
                None => {
                    row.push_str(" – | – |");
                    if model.is_sparse() {
                        row.push_str(" – |");
                    }
                }
            }
        }
        let _ = writeln!(out, "{row}");
    }
    out.push_str(&comparison(&grid, &models, &datasets));

    out.push_str(
        "\nHyperparameters behind each cell, chosen by the lowest mean validation \
         reconstruction MSE over seeds (no test labels are used):\n\n",
    );
    for ((dataset, model), cells) in &grid {
        let (setting, cell) = selected(cells);
        let _ = writeln!(
            out,
            "- {dataset}, {model}: hidden_size {}, window {}, l1 {}, {} seed(s)",
            setting.hidden_size, setting.window, setting.l1, cell.seeds
        );
    }
    let failed = records
        .iter()
        .filter(|r| r.status == RunStatus::Failed)
        .count();
    if failed > 0 {
        let _ = writeln!(
            out,
            "\n{failed} {} and {} left out; the errors are in summary.csv.",
            if failed == 1 {
                "run failed"
            } else {
                "runs failed"
            },
            if failed == 1 { "is" } else { "are" }
        );
    }

    out.push_str("\n## Full grid\n\n");
    out.push_str(
        "F1 is taken at the threshold chosen from validation scores; VUS-PR uses buffers up to \
         the `vus_window` of the experiment.\n\n",
    );
    let mut header = String::from(
        "| dataset | model | hidden_size | window | l1 | seeds | validation MSE | ROC-AUC | \
         PR-AUC | VUS-PR | F1 |",
    );
    if show_point_adjusted {
        header.push_str(" F1 point-adjusted (inflated) |");
    }
    header.push_str(" kept | HitRate@100% |");
    let columns = header.matches('|').count() - 1;
    let _ = writeln!(out, "{header}\n|{}", "---|".repeat(columns));
    for ((dataset, model), cells) in &grid {
        for (setting, cell) in cells {
            let mut row = format!(
                "| {dataset} | {model} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                setting.hidden_size,
                setting.window,
                setting.l1,
                cell.seeds,
                mean_std(&cell.validation_mse, 4),
                mean_std(&cell.roc_auc, 3),
                mean_std(&cell.pr_auc, 3),
                mean_std(&cell.vus_pr, 3),
                mean_std(&cell.f1, 3),
            );
            if show_point_adjusted {
                let _ = write!(row, " {} |", mean_std(&cell.f1_point_adjusted, 3));
            }
            let _ = writeln!(
                row,
                " {} | {} |",
                mean_std(&cell.sensors_kept, 1),
                mean_std(&cell.hit_rate_100, 3)
            );
            out.push_str(&row);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{BackendKind, RunSpec, ScoringSettings, TrainingSettings};
    use crate::data::DatasetSpec;
    use crate::runner::RunMetrics;

    fn record(
        model: ModelKind,
        hidden_size: usize,
        seed: u64,
        validation_mse: f64,
        roc: f64,
    ) -> RunRecord {
        let spec = RunSpec {
            dataset: DatasetSpec::synthetic(),
            model,
            hidden_size,
            window: 10,
            l1: if model.is_sparse() { 0.01 } else { 0.0 },
            seed,
            backend: BackendKind::Cpu,
            sparse_units: None,
            training: TrainingSettings::default(),
            network: Default::default(),
            scoring: ScoringSettings::default(),
            synthetic: None,
            data: None,
        };
        RunRecord {
            id: spec.id(),
            folder: spec.folder_name(),
            spec,
            status: RunStatus::Done,
            error: None,
            metrics: Some(RunMetrics {
                roc_auc: Some(roc),
                pr_auc: Some(roc / 2.0),
                epochs_trained: 3,
                best_epoch: 2,
                validation_mse,
                validation_loss: validation_mse,
                train_seconds: 1.0,
                sensors_kept: model.is_sparse().then_some(7),
                kept_sensor_names: None,
                test_points: 100,
                test_anomaly_rate: 0.1,
                hit_rate_100: None,
                hit_rate_150: None,
                sensor_count: 40,
                evaluation: None,
                evaluation_settings: None,
            }),
        }
    }

    #[test]
    fn table_without_completed_run() {
        let mut failed = record(ModelKind::Standard, 8, 0, 0.5, 0.7);
        failed.status = RunStatus::Failed;
        failed.metrics = None;
        failed.error = Some("the data file is missing".into());
        let table = paper_table(&[failed], false);
        assert_eq!(
            table,
            "# Results\n\nNo run completed: 1 of 1 failed, and their errors are in summary.csv.\n"
        );
    }

    #[test]
    fn table_selects_by_validation_not_test() {
        // hidden 8 has the better test ROC-AUC but the worse validation MSE: it must not be shown.
        let records = vec![
            record(ModelKind::Standard, 8, 0, 0.9, 0.99),
            record(ModelKind::Standard, 16, 0, 0.1, 0.60),
            record(ModelKind::Standard, 16, 1, 0.1, 0.70),
        ];
        let table = paper_table(&records, false);
        assert!(table.contains("| synthetic | 0.650 ± 0.071 |"), "{table}");
        assert!(table.contains("standard: hidden_size 16"), "{table}");
    }

    #[test]
    fn table_has_kept_column_for_sparse() {
        let records = vec![
            record(ModelKind::Standard, 8, 0, 0.1, 0.7),
            record(ModelKind::SparseElementwise, 8, 0, 0.1, 0.8),
        ];
        let table = paper_table(&records, false);
        assert!(table.contains("sparse-elementwise kept"), "{table}");
        assert!(table.contains("| 0.800 | 0.400 | 7.0 |"), "{table}");
        assert!(table.contains("Mean rank by ROC-AUC"), "{table}");
        assert!(
            table.contains(
                "sparse-elementwise against standard, ROC-AUC over 1 entity: higher on 1"
            ),
            "{table}"
        );
    }

    #[test]
    fn summary_has_row_per_run() {
        let mut failed = record(ModelKind::Standard, 8, 1, 0.1, 0.7);
        failed.status = RunStatus::Failed;
        failed.metrics = None;
        failed.error = Some("boom".into());
        let records = vec![record(ModelKind::Standard, 8, 0, 0.1, 0.7), failed];
        let frame = summary_frame(&records).unwrap();
        assert_eq!(frame.height(), 2);
        let status = frame.column("status").unwrap().str().unwrap();
        assert_eq!(status.get(1), Some("failed"));
        let roc = frame.column("roc_auc").unwrap().f64().unwrap();
        assert_eq!(roc.get(1), None);
    }

    #[test]
    fn npy_header_is_aligned() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.npy");
        write_npy_f32(&path, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], [2, 3]).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(&bytes[..8], b"\x93NUMPY\x01\x00");
        let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
        assert_eq!(
            (10 + header_len) % 64,
            0,
            "data starts on a 64-byte boundary"
        );
        let header = std::str::from_utf8(&bytes[10..10 + header_len]).unwrap();
        assert!(header.contains("'shape': (2, 3)"), "{header}");
        assert!(header.ends_with('\n'));
        assert_eq!(bytes.len(), 10 + header_len + 24);
        assert_eq!(&bytes[bytes.len() - 4..], &6f32.to_le_bytes());
    }
}
