//! Runs a sweep: resolves datasets, trains every missing run in parallel and writes results.
//!
//! Each run owns its model, random generators and folder, so the runs share nothing but the
//! read-only datasets. A run's folder is complete once `run.json` exists; it is written last
//! and atomically, so a rerun of the experiment skips complete runs and redoes the rest. A run
//! that fails, by an error or a panic, is recorded with its message and the sweep goes on.

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use burn::module::Module;
use burn::tensor::Device;
use indicatif::ProgressStyle;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use tracing::{Span, error, info, info_span, warn};
use tracing_indicatif::span_ext::IndicatifSpanExt;

use crate::backend;
use crate::baseline::Pca;
use crate::config::{Experiment, ModelKind, RunSpec};
use crate::data::prep::{self, Prepared};
use crate::data::{self, Dataset, DatasetSpec};
use crate::error::{Error, Result};
use crate::evaluation::{self, EvaluationSettings, MetricSuite};
use crate::lock::LockScope;
use crate::model::{Autoencoder, Mask, ModelShape};
use crate::provenance::{self, Machine, Provenance};
use crate::report::{self, write_atomic};
use crate::scoring::{Reconstructor, StepScorer, WindowPass, fit_scorer, point_scores};
use crate::shard::Shard;
use crate::tracking::{ResultsLock, read_complete, rescore};
use crate::training::{Trained, TrainingJob, train};
use crate::{attribution, metrics, plot};

/// File names inside a run folder.
pub mod files {
    pub const RECORD: &str = "run.json";
    pub const PROVENANCE: &str = "provenance.json";
    pub const SETTINGS: &str = "settings.json";
    pub const HISTORY: &str = "history.csv";
    pub const SCORES: &str = "test_scores.csv";
    pub const VALIDATION_SCORES: &str = "validation_scores.csv";
    pub const CURVES_PLOT: &str = "curves";
    pub const TIMELINE_PLOT: &str = "score_timeline";
    pub const MODEL: &str = "model.bpk";
    pub const SPARSITY_MASK: &str = "sparsity_mask.csv";
    pub const SPARSITY: &str = "sparsity.json";
    pub const CONTRIBUTIONS: &str = "test_contributions.npy";
    pub const MASK_PLOT: &str = "sparsity_mask";
    pub const MASS_PLOT: &str = "sensor_mass";
}

/// Windows per batch in the scoring passes, which need no gradients.
pub const SCORING_BATCH: usize = 256;

/// Settings and handles shared by every run of a sweep.
struct SweepContext<'a> {
    runs_dir: &'a Path,
    device: &'a Device,
    evaluation: &'a EvaluationSettings,
    machine: &'a Machine,
    backend: String,
}

/// Options of `run` that are not part of the experiment.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Runs trained at the same time.
    pub jobs: usize,
    /// Retrain runs whose folder is complete.
    pub force: bool,
    /// Leave out datasets that are not present instead of stopping.
    pub skip_missing: bool,
    /// Train only this shard of the sweep; its tables go to `shards/I-of-N/`.
    pub shard: Option<Shard>,
}

/// Whether a run finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    Done,
    Failed,
}

/// Measurements of a finished run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunMetrics {
    /// Test ROC-AUC; `None` when the test labels hold one class only.
    pub roc_auc: Option<f64>,
    /// Test average precision; `None` when the test labels hold no anomaly.
    pub pr_auc: Option<f64>,
    pub epochs_trained: usize,
    pub best_epoch: usize,
    /// Validation reconstruction MSE of the kept weights; selects hyperparameters.
    pub validation_mse: f64,
    pub validation_loss: f64,
    pub train_seconds: f64,
    /// Sensors with a sparse weight above the zero tolerance (sparse variants).
    pub sensors_kept: Option<usize>,
    /// Names of those sensors.
    #[serde(default)]
    pub kept_sensor_names: Option<Vec<String>>,
    pub test_points: usize,
    pub test_anomaly_rate: f64,
    /// Sensors `k` of the dataset.
    #[serde(default)]
    pub sensor_count: usize,
    /// HitRate@100% of the per-sensor contributions against the blamed sensors, where the
    /// dataset names them.
    #[serde(default)]
    pub hit_rate_100: Option<f64>,
    /// HitRate@150%.
    #[serde(default)]
    pub hit_rate_150: Option<f64>,
    /// The full metric suite of the test scores.
    #[serde(default)]
    pub evaluation: Option<MetricSuite>,
    /// The settings the suite was computed with; a rerun with other settings recomputes it from
    /// the stored scores.
    #[serde(default)]
    pub evaluation_settings: Option<EvaluationSettings>,
}

/// What `run.json` holds: the spec, the outcome and either metrics or the error.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunRecord {
    pub id: String,
    pub folder: String,
    pub spec: RunSpec,
    pub status: RunStatus,
    pub error: Option<String>,
    pub metrics: Option<RunMetrics>,
}

/// Result of a sweep.
#[derive(Debug)]
pub struct SweepOutcome {
    /// `<results_dir>/<name>`.
    pub output_dir: PathBuf,
    /// Folder of the tables written: `output_dir`, or the shard's folder under it.
    pub tables_dir: PathBuf,
    /// One record per run of the sweep, in sweep order.
    pub records: Vec<RunRecord>,
    /// Runs trained by this invocation.
    pub trained: usize,
    /// Whether [`cancel`] stopped the sweep before every run finished.
    pub cancelled: bool,
}

static CANCELLED: AtomicBool = AtomicBool::new(false);

/// Asks a running sweep to stop: runs not started are skipped, running ones are abandoned at
/// their next batch without a record, and the summary of the finished runs is still written.
/// Safe to call from a signal handler.
pub fn cancel() {
    CANCELLED.store(true, Ordering::SeqCst);
}

/// Returns whether [`cancel`] was called.
pub fn is_cancelled() -> bool {
    CANCELLED.load(Ordering::SeqCst)
}

impl SweepOutcome {
    /// Records of failed runs.
    pub fn failed(&self) -> impl Iterator<Item = &RunRecord> {
        self.records
            .iter()
            .filter(|r| r.status == RunStatus::Failed)
    }
}

/// The runs of an experiment with their datasets, loaded and checked.
pub struct Plan {
    pub runs: Vec<RunSpec>,
    datasets: BTreeMap<DatasetKey, Arc<Dataset>>,
}

impl Plan {
    /// Datasets loaded: one per entity, and one per seed for the synthetic set.
    pub fn entities(&self) -> usize {
        self.datasets.len()
    }

    /// Describes the loaded datasets, such as `10 datasets (the synthetic set once per seed)`.
    pub fn describe_datasets(&self) -> String {
        let synthetic = self
            .datasets
            .keys()
            .filter(|(spec, _)| spec.is_synthetic())
            .count();
        let distinct = self.datasets.len() - synthetic + synthetic.min(1);
        let noun = |n: usize| if n == 1 { "dataset" } else { "datasets" };
        if synthetic > 1 {
            format!(
                "{distinct} {} (the synthetic set generated {synthetic} times, once per seed)",
                noun(distinct)
            )
        } else {
            format!("{distinct} {}", noun(distinct))
        }
    }
}

/// Expands the sweep, keeps the runs of `shard` (all runs for `None`), and loads and checks
/// their datasets, without training: all input errors surface here.
pub fn plan(experiment: &Experiment, skip_missing: bool, shard: Option<Shard>) -> Result<Plan> {
    let entities = data::resolve(
        &experiment.datasets,
        &experiment.data_dir,
        &experiment.data,
        skip_missing,
    )?;
    let mut runs = experiment.expand(&entities);
    if let Some(shard) = shard {
        runs = shard.select(runs);
    }
    let datasets = load_datasets(experiment, &runs)?;
    for run in &runs {
        let dataset = &datasets[&dataset_key(run)];
        prep::check_lengths(dataset, run.training.validation_fraction, run.window)?;
        let k = dataset.train.cols;
        if let Some(units) = run.sparse_units.filter(|&r| r > k) {
            return Err(crate::config::setting(
                "sweep.sparse_units",
                units,
                format!("must not exceed the {k} sensors of {}", run.dataset),
            ));
        }
    }
    Ok(Plan { runs, datasets })
}

/// Runs every run of the experiment that has no complete folder yet, then writes
/// `summary.csv`, `summary.parquet` and `table.md`.
pub fn run_experiment(experiment: &Experiment, options: &RunOptions) -> Result<SweepOutcome> {
    let Plan { runs, datasets } = plan(experiment, options.skip_missing, options.shard)?;
    let device = backend::device(experiment.backend)?;

    let output_dir = experiment.results_dir.join(&experiment.name);
    let runs_dir = output_dir.join("runs");
    std::fs::create_dir_all(&runs_dir).map_err(|e| Error::io(&runs_dir, e))?;
    let _lock = match options.shard {
        Some(shard) => ResultsLock::acquire_scope(&output_dir, LockScope::Shard(shard))?,
        None => ResultsLock::acquire(&output_dir)?,
    };
    let text = std::fs::read(&experiment.path).map_err(|e| Error::io(&experiment.path, e))?;
    write_atomic(&output_dir.join(crate::tracking::EXPERIMENT_COPY), &text)?;
    // `status` reads the data folder from here, because `--data-dir` is not in the copy above.
    let data_dir = std::path::absolute(&experiment.data_dir).unwrap_or(experiment.data_dir.clone());
    write_atomic(
        &output_dir.join(crate::tracking::DATA_DIR_RECORD),
        data_dir.to_string_lossy().as_bytes(),
    )?;

    let mut records: Vec<Option<RunRecord>> = runs
        .iter()
        .map(|run| {
            (!options.force)
                .then(|| read_complete(&runs_dir, run))
                .flatten()
        })
        .collect();
    for record in records.iter_mut().flatten() {
        if let Err(e) = rescore(&runs_dir, record, &experiment.evaluation) {
            warn!(run = %record.folder, error = %e, "cannot rescore the stored scores; the run is redone");
            record.status = RunStatus::Failed;
        }
    }
    for record in &mut records {
        if record
            .as_ref()
            .is_some_and(|r| r.status == RunStatus::Failed)
        {
            *record = None;
        }
    }
    let pending: Vec<usize> = (0..runs.len()).filter(|&i| records[i].is_none()).collect();
    info!(
        experiment = %experiment.name,
        runs = runs.len(),
        complete = runs.len() - pending.len(),
        to_train = pending.len(),
        jobs = options.jobs,
        shard = %options.shard.map_or("all".to_owned(), |s| s.to_string()),
        backend = %backend::describe(experiment.backend),
        "sweep starts"
    );

    let context = SweepContext {
        runs_dir: &runs_dir,
        device: &device,
        evaluation: &experiment.evaluation,
        machine: &Machine::detect(),
        backend: backend::describe(experiment.backend),
    };
    let sweep_span = info_span!("sweep");
    sweep_span.pb_set_style(&progress_style(
        "{wide_msg} {pos}/{len} runs [{elapsed_precise}, eta {eta}]",
    ));
    sweep_span.pb_set_length(pending.len() as u64);
    sweep_span.pb_set_message(&format!("{}:", experiment.name));
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(options.jobs)
        .build()
        .map_err(|e| {
            Error::Training(format!("cannot start {} worker threads: {e}", options.jobs))
        })?;
    let finished: Vec<(usize, RunRecord)> = sweep_span.in_scope(|| {
        pool.install(|| {
            pending
                .par_iter()
                .filter_map(|&i| {
                    let run = &runs[i];
                    let dataset = &datasets[&dataset_key(run)];
                    let record = run_one(run, dataset, &context, &sweep_span)?;
                    sweep_span.pb_inc(1);
                    Some((i, record))
                })
                .collect()
        })
    });
    let trained = finished.len();
    for (i, record) in finished {
        records[i] = Some(record);
    }
    let cancelled = records.iter().any(Option::is_none);
    if cancelled {
        warn!("interrupted: the finished runs are kept and a rerun trains the rest");
    }
    let planned = records.len();
    let records: Vec<RunRecord> = records.into_iter().flatten().collect();

    // A shard writes the tables of its own runs only, into its own folder, so that shards
    // running at once never write the same file. `report` merges all run folders.
    let tables_dir = match options.shard {
        Some(shard) => shard.tables_dir(&output_dir),
        None => output_dir.clone(),
    };
    std::fs::create_dir_all(&tables_dir).map_err(|e| Error::io(&tables_dir, e))?;
    report::write_reports(
        &tables_dir,
        &records,
        experiment.evaluation.point_adjusted_in_table,
    )?;
    if cancelled {
        // The tables cover the finished runs only, so table.md starts with a note.
        let path = tables_dir.join("table.md");
        let table = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        let note = format!(
            "**Incomplete:** the sweep was interrupted after {} of its {planned} runs; run the \
             same command again to train the rest, and the tables will cover them all.\n\n",
            records.len()
        );
        let table = table.replacen("# Results\n\n", &format!("# Results\n\n{note}"), 1);
        write_atomic(&path, table.as_bytes())?;
    }
    Ok(SweepOutcome {
        output_dir,
        tables_dir,
        records,
        trained,
        cancelled,
    })
}

fn progress_style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template).expect("progress templates are valid")
}

type DatasetKey = (DatasetSpec, Option<u64>);

/// The synthetic set depends on the run's seed; real datasets do not.
fn dataset_key(run: &RunSpec) -> DatasetKey {
    (
        run.dataset.clone(),
        run.dataset.is_synthetic().then_some(run.seed),
    )
}

/// Loads every dataset of the sweep once, before any training, so that bad input stops the
/// sweep early.
fn load_datasets(
    experiment: &Experiment,
    runs: &[RunSpec],
) -> Result<BTreeMap<DatasetKey, Arc<Dataset>>> {
    let mut datasets = BTreeMap::new();
    for run in runs {
        let key = dataset_key(run);
        if datasets.contains_key(&key) {
            continue;
        }
        let dataset = data::load(
            &run.dataset,
            &experiment.data_dir,
            &experiment.data,
            run.synthetic.as_ref(),
            run.seed,
        )?;
        info!(
            dataset = %run.dataset,
            sensors = dataset.train.cols,
            train_rows = dataset.train.rows,
            test_rows = dataset.test.rows,
            "dataset loaded"
        );
        let constant = data::describe::constant_columns(&dataset.train);
        if !constant.is_empty() {
            let mut names: Vec<&str> = constant
                .iter()
                .take(10)
                .map(|&c| dataset.sensor_names[c].as_str())
                .collect();
            if constant.len() > 10 {
                names.push("...");
            }
            warn!(
                dataset = %run.dataset,
                "{} of {} sensors are constant in the training series ({}); they scale to 0 in \
                 training, and a test value that differs shows in the sensor's raw units",
                constant.len(),
                dataset.train.cols,
                names.join(", ")
            );
        }
        datasets.insert(key, Arc::new(dataset));
    }
    Ok(datasets)
}

/// Trains and scores one run, turning any error or panic into a failed record.
fn run_one(
    run: &RunSpec,
    dataset: &Dataset,
    context: &SweepContext<'_>,
    sweep: &Span,
) -> Option<RunRecord> {
    if is_cancelled() {
        return None;
    }
    let folder = run.folder_name();
    let dir = context.runs_dir.join(&folder);
    let started = provenance::now_utc();
    let span = info_span!(parent: sweep, "run", run = %folder);
    span.pb_set_style(&progress_style(
        "  {wide_msg} epoch {pos}/{len} [{elapsed}]",
    ));
    span.pb_set_length(run.training.epochs as u64);
    span.pb_set_message(&folder);
    let outcome = span.in_scope(|| {
        catch_unwind(AssertUnwindSafe(|| {
            execute_run(
                run,
                dataset,
                &dir,
                context.device,
                context.evaluation,
                &span,
            )
        }))
        .unwrap_or_else(|panic| Err(Error::Training(panic_message(&panic))))
    });
    let (status, error, metrics) = match outcome {
        Ok(metrics) => {
            let show = |v: Option<f64>| v.map_or("n/a".to_owned(), |v| format!("{v:.4}"));
            info!(
                run = %folder,
                roc_auc = %show(metrics.roc_auc),
                pr_auc = %show(metrics.pr_auc),
                epochs = metrics.epochs_trained,
                "run done"
            );
            (RunStatus::Done, None, Some(metrics))
        }
        Err(Error::Cancelled) => {
            warn!(run = %folder, "run abandoned");
            return None;
        }
        Err(e) => {
            error!(run = %folder, error = %e, "run failed");
            (RunStatus::Failed, Some(e.to_string()), None)
        }
    };
    let record = RunRecord {
        id: run.id(),
        folder,
        spec: run.clone(),
        status,
        error,
        metrics,
    };
    let provenance = Provenance {
        crate_version: env!("CARGO_PKG_VERSION").to_owned(),
        git_commit: context.machine.git_commit.clone(),
        git_dirty: context.machine.git_dirty,
        backend: context.backend.clone(),
        threads: rayon::current_num_threads(),
        host: context.machine.host.clone(),
        started,
        finished: provenance::now_utc(),
    };
    let written = std::fs::create_dir_all(&dir)
        .map_err(|e| Error::io(&dir, e))
        .and_then(|_| write_json(&dir.join(files::PROVENANCE), &provenance))
        .and_then(|_| write_json(&dir.join(files::RECORD), &record));
    if let Err(e) = written {
        error!(run = %record.folder, error = %e, "cannot write the run record");
    }
    Some(record)
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    let text = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("unknown panic payload");
    format!("panic: {text}")
}

/// Trains (or fits, for a baseline), scores and measures one run, writing its files into `dir`.
fn execute_run(
    run: &RunSpec,
    dataset: &Dataset,
    dir: &Path,
    device: &Device,
    evaluation: &EvaluationSettings,
    span: &Span,
) -> Result<RunMetrics> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    write_json(&dir.join(files::SETTINGS), run)?;
    let started = Instant::now();
    let prepared = prep::prepare(dataset, run.training.validation_fraction, run.window)?;
    let k = dataset.train.cols;

    if run.model == ModelKind::BaselinePca && run.network.pca_components >= k {
        return Err(Error::Setting {
            key: "model.pca_components".into(),
            value: run.network.pca_components.to_string(),
            expected: format!(
                "fewer components than the {k} sensors of {}: with {k} or more the PCA \
                 baseline reconstructs every point exactly and its scores are rounding noise",
                run.dataset
            ),
        });
    }
    let trained = if run.model.is_baseline() {
        None
    } else {
        Some(train_network(run, &prepared, k, device, span)?)
    };
    let pca = (run.model == ModelKind::BaselinePca)
        .then(|| Pca::fit(&prepared.train, run.network.pca_components));
    let train_seconds = started.elapsed().as_secs_f64();
    let reconstructor = match (&trained, &pca) {
        (Some(trained), _) => Reconstructor::Network(&trained.model, device),
        (None, Some(pca)) => Reconstructor::Pca(pca),
        (None, None) => Reconstructor::Zero,
    };

    let validation = WindowPass {
        reconstructor,
        series: &prepared.validation,
        window: run.window,
        stride: run.training.train_stride,
        batch_size: SCORING_BATCH,
    };
    let scorer = match run.model {
        ModelKind::BaselineL2 => StepScorer::L2Norm,
        _ => fit_scorer(&validation, &run.scoring)?,
    };
    let test = WindowPass {
        series: &prepared.test,
        stride: run.training.test_stride,
        ..validation
    };
    let points = point_scores(&test, &scorer, run.scoring.point_rule, true);
    let scores = &points.scores;
    // Validation point scores, for the threshold; windows at the test stride so that every
    // validation point is covered.
    let validation_points = WindowPass {
        stride: run.training.test_stride,
        ..validation
    };
    let validation_scores =
        point_scores(&validation_points, &scorer, run.scoring.point_rule, false);
    report::write_scores(&dir.join(files::SCORES), scores, &prepared.test_labels)?;
    report::write_column(
        &dir.join(files::VALIDATION_SCORES),
        &validation_scores.scores,
    )?;
    let suite = evaluation::metric_suite(
        &prepared.test_labels,
        scores,
        Some(&validation_scores.scores),
        None,
        evaluation,
    )?;
    draw_scores(dir, run, &prepared.test_labels, scores, suite.threshold);
    let contributions = points.contributions.as_deref().unwrap_or_default();
    report::write_npy_f32(
        &dir.join(files::CONTRIBUTIONS),
        contributions,
        [scores.len(), k],
    )?;
    let hit_rate = |percent| {
        attribution::hit_rate(
            contributions,
            k,
            &dataset.segments,
            &prepared.test_labels,
            percent,
        )
    };

    let mut kept = None;
    if let Some(trained) = &trained {
        report::write_history(&dir.join(files::HISTORY), &trained.history)?;
        kept = write_sparsity(
            dir,
            trained,
            run,
            &dataset.sensor_names,
            &prepared.scaler.constant,
        )?;
        let model_path = dir.join(files::MODEL);
        trained
            .model
            .clone()
            .save_file(&model_path)
            .map_err(|e| Error::Table {
                path: model_path.clone(),
                message: format!("cannot save the model weights: {e}"),
            })?;
    }

    let anomalies = prepared.test_labels.iter().filter(|&&l| l).count();
    let (epochs_trained, best_epoch, validation_mse, validation_loss) = match &trained {
        Some(trained) => {
            let best = trained.best();
            (
                trained.history.len(),
                trained.best_epoch,
                best.validation_mse,
                best.validation_loss,
            )
        }
        None => {
            let mse = validation.mean_squared_error();
            (0, 0, mse, mse)
        }
    };
    Ok(RunMetrics {
        roc_auc: suite.roc_auc,
        pr_auc: suite.pr_auc,
        epochs_trained,
        best_epoch,
        validation_mse,
        validation_loss,
        train_seconds,
        sensors_kept: kept.as_ref().map(|s| s.kept),
        kept_sensor_names: kept.map(|s| s.kept_names),
        test_points: scores.len(),
        test_anomaly_rate: anomalies as f64 / scores.len() as f64,
        sensor_count: k,
        hit_rate_100: hit_rate(100.0),
        hit_rate_150: hit_rate(150.0),
        evaluation: Some(suite),
        evaluation_settings: Some(evaluation.clone()),
    })
}

/// Draws the ROC and PR curves and the score timeline of a run; a picture that cannot be drawn
/// is reported as a warning.
fn draw_scores(dir: &Path, run: &RunSpec, labels: &[bool], scores: &[f64], threshold: Option<f64>) {
    let drawn = metrics::roc_curve(labels, scores)
        .and_then(|roc| Ok((roc, metrics::precision_recall_curve(labels, scores)?)))
        .map_err(Error::from)
        .and_then(|(roc, pr)| {
            let pair = plot::CurvePair {
                label: run.model.to_string(),
                roc,
                pr,
            };
            plot::curves(&dir.join(files::CURVES_PLOT), &run.dataset.label(), &[pair])
        })
        .and_then(|_| {
            plot::score_timeline(&dir.join(files::TIMELINE_PLOT), scores, labels, threshold)
        });
    if let Err(e) = drawn {
        warn!(run = %run.folder_name(), error = %e, "score pictures not drawn");
    }
}

/// Builds the run's network and trains it.
fn train_network(
    run: &RunSpec,
    prepared: &Prepared,
    k: usize,
    device: &Device,
    span: &Span,
) -> Result<Trained> {
    let shape = ModelShape {
        kind: run.model,
        sensors: k,
        window: run.window,
        hidden_size: run.hidden_size,
        layers: run.network.layers,
        sparse_units: run.sparse_units.unwrap_or(k),
        sparse_activation: run.network.sparse_activation,
        reverse: run.network.reverse,
        elementwise_init: run.network.elementwise_init as f32,
    };
    let train_device = device.clone().autodiff();
    let model = Autoencoder::new(&shape, run.seed, &train_device);
    let job = TrainingJob {
        settings: &run.training,
        window: run.window,
        l1: run.l1,
        l1_mode: run.network.l1_mode,
        seed: run.seed,
        device: &train_device,
        on_epoch: &|_| span.pb_inc(1),
    };
    train(model, &prepared.train, &prepared.validation, &job)
}

/// Writes the sparsity files and pictures of a sparse network; `None` for the standard model.
/// Writes the sparsity files of a sparse run. A sensor that is constant in the training part
/// never counts as kept: its scaled input is 0, so the reconstruction error never trains its
/// weights, and whatever weight it keeps selects nothing.
fn write_sparsity(
    dir: &Path,
    trained: &Trained,
    run: &RunSpec,
    names: &[String],
    constant: &[usize],
) -> Result<Option<SparsitySummary>> {
    let Some(mask) = trained.model.sparsity_mask() else {
        return Ok(None);
    };
    let kept: Vec<usize> = mask
        .kept_sensors(run.network.zero_tolerance)
        .into_iter()
        .filter(|j| !constant.contains(j))
        .collect();
    if kept.is_empty() {
        warn!(
            run = %run.folder_name(),
            "every sensor is switched off, so the model sees no input; lower `l1`"
        );
    }
    report::write_mask(&dir.join(files::SPARSITY_MASK), &mask, names)?;
    draw_sparsity(dir, &mask, &kept, run, names);
    let summary = SparsitySummary {
        zero_tolerance: run.network.zero_tolerance,
        sensors: mask.cols,
        kept: kept.len(),
        kept_indices: kept.clone(),
        kept_names: kept.iter().map(|&j| names[j].clone()).collect(),
        exact_zeros: mask.values.iter().filter(|&&v| v == 0.0).count(),
        sensor_mass: mask.sensor_mass(),
        constant_in_training: constant.to_vec(),
    };
    write_json(&dir.join(files::SPARSITY), &summary)?;
    Ok(Some(summary))
}

/// Draws the mask heatmap and the weight mass per sensor. A picture that cannot be drawn (no
/// font, say) is reported as a warning, because the numbers of the run are still valid.
fn draw_sparsity(dir: &Path, mask: &Mask, kept: &[usize], run: &RunSpec, names: &[String]) {
    let row_label = match run.model {
        ModelKind::SparseFeedforward => "unit",
        _ => "step",
    };
    let drawn =
        plot::mask_heatmap(&dir.join(files::MASK_PLOT), mask, names, row_label).and_then(|_| {
            plot::sensor_mass_bars(
                &dir.join(files::MASS_PLOT),
                &mask.sensor_mass(),
                names,
                kept,
            )
        });
    if let Err(e) = drawn {
        warn!(run = %run.folder_name(), error = %e, "sparsity pictures not drawn");
    }
}

/// What `sparsity.json` holds for a sparse run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SparsitySummary {
    /// Magnitudes at most this count as zero.
    pub zero_tolerance: f64,
    pub sensors: usize,
    pub kept: usize,
    /// 0-based indices of the kept sensors.
    pub kept_indices: Vec<usize>,
    pub kept_names: Vec<String>,
    /// Weights that are exactly zero (the proximal mode produces them).
    pub exact_zeros: usize,
    /// `Σ|w|` per sensor.
    pub sensor_mass: Vec<f64>,
    /// 0-based indices of the sensors constant in the training part, which never count as kept.
    #[serde(default)]
    pub constant_in_training: Vec<usize>,
}

pub(crate) fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(value).expect("records always serialise");
    write_atomic(path, text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{BackendKind, ModelSettings, ScoringSettings, TrainingSettings};
    use crate::data::DatasetSpec;
    use crate::data::synthetic::{self, SyntheticSettings};

    /// Builds the run of `model` on the synthetic set that `generator` describes.
    fn synthetic_run(generator: &SyntheticSettings, model: ModelKind, seed: u64) -> RunSpec {
        RunSpec {
            dataset: DatasetSpec::synthetic(),
            model,
            hidden_size: 8,
            window: 16,
            l1: 0.0,
            sparse_units: None,
            seed,
            backend: BackendKind::Cpu,
            training: TrainingSettings::default(),
            network: ModelSettings::default(),
            scoring: ScoringSettings::default(),
            synthetic: Some(generator.clone()),
            data: None,
        }
    }

    #[test]
    fn attribution_ranks_injected_sensors() {
        // Large anomalies on two of twelve sensors: the contributions must point at them.
        let generator = SyntheticSettings {
            sensors: 12,
            groups: 2,
            group_size: 4,
            train_length: 1200,
            test_length: 600,
            anomalies: 3,
            anomaly_min_length: 10,
            anomaly_max_length: 30,
            anomaly_sensors: 2,
            magnitude: 6.0,
            ..SyntheticSettings::default()
        };
        let run = RunSpec {
            training: TrainingSettings {
                epochs: 12,
                learning_rate: 5e-3,
                train_stride: 4,
                test_stride: 2,
                ..TrainingSettings::default()
            },
            ..synthetic_run(&generator, ModelKind::Standard, 2)
        };
        let dataset = synthetic::generate(&generator, run.seed);
        let dir = tempfile::tempdir().unwrap();
        let span = tracing::Span::none();
        let evaluation = EvaluationSettings::default();
        let metrics = execute_run(
            &run,
            &dataset,
            dir.path(),
            &Device::flex(),
            &evaluation,
            &span,
        )
        .unwrap();
        let hit_rate = metrics
            .hit_rate_100
            .expect("synthetic anomalies name their sensors");
        assert!(hit_rate > 0.8, "HitRate@100% = {hit_rate}");
        let roc_auc = metrics.roc_auc.unwrap();
        assert!(roc_auc > 0.8, "ROC-AUC = {roc_auc}");
        assert!(dir.path().join(files::CONTRIBUTIONS).is_file());
    }

    #[test]
    fn pca_components_at_sensor_count_rejected() {
        let generator = SyntheticSettings {
            sensors: 6,
            groups: 1,
            group_size: 3,
            train_length: 400,
            test_length: 200,
            anomalies: 1,
            anomaly_min_length: 5,
            anomaly_max_length: 10,
            anomaly_sensors: 1,
            ..SyntheticSettings::default()
        };
        let run = RunSpec {
            network: ModelSettings {
                pca_components: 6,
                ..ModelSettings::default()
            },
            ..synthetic_run(&generator, ModelKind::BaselinePca, 0)
        };
        let dataset = synthetic::generate(&generator, run.seed);
        let dir = tempfile::tempdir().unwrap();
        let err = execute_run(
            &run,
            &dataset,
            dir.path(),
            &Device::flex(),
            &EvaluationSettings::default(),
            &tracing::Span::none(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("`model.pca_components` = 6"), "{err}");
        assert!(err.contains("fewer components than the 6 sensors"), "{err}");
    }
}
