//! Experiment files: the raw TOML schema, its validation and the expansion of a sweep into runs.
//!
//! Parsing happens in two stages. [`ExperimentFile`] mirrors the TOML file and rejects unknown
//! keys; [`Experiment::from_file`] then checks every value against its allowed range and keeps
//! the file path so that errors can name it. [`Experiment::expand`] turns the `[sweep]` table
//! into the Cartesian product of [`RunSpec`]s, each of which fully determines one training run.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::data::synthetic::SyntheticSettings;
use crate::data::{DataSettings, DatasetKind, DatasetSelector, MissingValues};
use crate::error::{Error, Result};
use crate::evaluation::EvaluationSettings;

/// The compute backend that trains the models.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// burn's flex CPU backend.
    #[default]
    Cpu,
    /// burn-wgpu; needs a build with `--features wgpu` and a graphics adapter.
    Wgpu,
}

/// The model variant of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ModelKind {
    /// LSTM encoder-decoder (EncDec-AD).
    Standard,
    /// The encoder-decoder behind one L1-penalised weight per (step, sensor) element.
    SparseElementwise,
    /// The encoder-decoder behind a per-step layer `relu(W x_t + b)` with L1 on `W`.
    SparseFeedforward,
    /// Model-free baseline: the L2 norm of the standardised observation.
    BaselineL2,
    /// Model-free baseline: the reconstruction error of a PCA fitted on the training part.
    BaselinePca,
}

impl ModelKind {
    /// Whether the variant has L1-penalised input weights.
    pub fn is_sparse(self) -> bool {
        matches!(
            self,
            ModelKind::SparseElementwise | ModelKind::SparseFeedforward
        )
    }

    /// Whether the variant is a model-free baseline, which trains nothing.
    pub fn is_baseline(self) -> bool {
        matches!(self, ModelKind::BaselineL2 | ModelKind::BaselinePca)
    }

    /// The name used in experiment files and tables.
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Standard => "standard",
            ModelKind::SparseElementwise => "sparse-elementwise",
            ModelKind::SparseFeedforward => "sparse-feedforward",
            ModelKind::BaselineL2 => "baseline-l2",
            ModelKind::BaselinePca => "baseline-pca",
        }
    }
}

impl fmt::Display for ModelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How the score of a time step is computed from its reconstruction error vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScoreKind {
    /// Mahalanobis distance of the error vector under a Gaussian fitted on validation errors.
    #[default]
    Mahalanobis,
    /// Mean squared error over the sensors.
    Mse,
}

/// Training settings shared by every run of an experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainingSettings {
    /// Maximum number of passes over the training windows.
    pub epochs: usize,
    /// Windows per Adam step.
    pub batch_size: usize,
    /// Adam step size.
    pub learning_rate: f64,
    /// Epochs without improvement of the validation loss before training stops.
    pub patience: usize,
    /// Fraction of the training series, taken from its end, used for validation.
    pub validation_fraction: f64,
    /// Steps between the starts of consecutive training and validation windows.
    pub train_stride: usize,
    /// Steps between the starts of consecutive test windows.
    pub test_stride: usize,
}

impl Default for TrainingSettings {
    fn default() -> Self {
        TrainingSettings {
            epochs: 50,
            batch_size: 64,
            learning_rate: 1e-3,
            patience: 5,
            validation_fraction: 0.2,
            train_stride: 1,
            test_stride: 1,
        }
    }
}

/// How the L1 term acts on the sparse weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum L1Mode {
    /// `l1 · Σ|w|` is added to the loss; Adam only shrinks weights towards zero, so "zero"
    /// means a magnitude at most `zero_tolerance`.
    #[default]
    Penalty,
    /// After each Adam step, `w ← sign(w) · max(|w| − learning_rate · l1, 0)`; weights reach
    /// exact zeros.
    Proximal,
}

/// Network settings shared by every run of an experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelSettings {
    /// LSTM layers in the encoder and in the decoder (1 or 2).
    pub layers: usize,
    /// Reconstruct the window from its last step to its first, as in EncDec-AD.
    pub reverse: bool,
    /// Activation after the elementwise sparse layer.
    pub sparse_activation: crate::model::SparseActivation,
    pub l1_mode: L1Mode,
    /// A sensor is kept when any of its sparse weights has a magnitude above this.
    pub zero_tolerance: f64,
    /// Principal components kept by the PCA baseline (at most `k`).
    pub pca_components: usize,
    /// Starting value of every elementwise sparse weight.
    pub elementwise_init: f64,
}

impl Default for ModelSettings {
    fn default() -> Self {
        ModelSettings {
            layers: 1,
            reverse: false,
            sparse_activation: crate::model::SparseActivation::Identity,
            l1_mode: L1Mode::Penalty,
            // Well above the size at which Adam's steps oscillate around zero under a plain
            // penalty (a fraction of the learning rate), and 1% of the elementwise weights'
            // starting value.
            zero_tolerance: 1e-2,
            pca_components: 10,
            // Small enough that L1 can switch a useless sensor off within a few hundred Adam
            // steps (each moves a weight by about one learning rate), large enough that every
            // sensor reaches the encoder at the start.
            elementwise_init: 0.1,
        }
    }
}

/// How a point's score is taken from the windows that cover it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PointRule {
    /// The mean of the step scores of every covering window.
    #[default]
    Mean,
    /// The step score from the covering window that starts latest.
    Last,
}

/// Scoring settings shared by every run of an experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScoringSettings {
    /// Per-step score.
    pub score: ScoreKind,
    /// Shrinkage `α` of the error covariance towards a scaled identity, in [0, 1].
    pub covariance_shrinkage: f64,
    /// From window step scores to point scores.
    pub point_rule: PointRule,
}

impl Default for ScoringSettings {
    fn default() -> Self {
        ScoringSettings {
            score: ScoreKind::Mahalanobis,
            // Enough to make the covariance of a constant sensor's error invertible without
            // visibly changing the distance along well-estimated directions.
            covariance_shrinkage: 0.01,
            point_rule: PointRule::Mean,
        }
    }
}

/// The `[sweep]` table: each key lists the values to combine.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepTable {
    pub dataset: Vec<String>,
    pub model: Vec<ModelKind>,
    #[serde(default = "default_hidden_sizes")]
    pub hidden_size: Vec<usize>,
    #[serde(default = "default_windows")]
    pub window: Vec<usize>,
    #[serde(default = "default_l1")]
    pub l1: Vec<f64>,
    #[serde(default = "default_seeds")]
    pub seed: Vec<u64>,
    /// Units `r` of the feedforward sparse layer; absent means `r = k`.
    #[serde(default)]
    pub sparse_units: Vec<usize>,
}

fn default_hidden_sizes() -> Vec<usize> {
    vec![64]
}

fn default_windows() -> Vec<usize> {
    vec![100]
}

fn default_l1() -> Vec<f64> {
    vec![1e-3]
}

fn default_seeds() -> Vec<u64> {
    vec![0]
}

/// The experiment file as written, before validation.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExperimentFile {
    /// Name of the experiment; results go to `<results_dir>/<name>/`.
    pub name: String,
    #[serde(default)]
    pub backend: BackendKind,
    /// Root folder of the datasets, relative to the working directory.
    pub data_dir: Option<PathBuf>,
    /// Root folder of the results, relative to the working directory.
    pub results_dir: Option<PathBuf>,
    #[serde(default)]
    pub training: TrainingSettings,
    #[serde(default)]
    pub model: ModelSettings,
    #[serde(default)]
    pub scoring: ScoringSettings,
    #[serde(default)]
    pub evaluation: EvaluationSettings,
    #[serde(default)]
    pub synthetic: SyntheticSettings,
    /// Missing-value rule and the user's own datasets.
    #[serde(default)]
    pub data: DataSettings,
    pub sweep: SweepTable,
}

/// A validated experiment.
#[derive(Debug, Clone)]
pub struct Experiment {
    pub path: PathBuf,
    pub name: String,
    pub backend: BackendKind,
    pub data_dir: PathBuf,
    pub results_dir: PathBuf,
    pub training: TrainingSettings,
    pub model: ModelSettings,
    pub scoring: ScoringSettings,
    /// Metric settings; they do not enter run ids, and changing them rescores stored runs.
    pub evaluation: EvaluationSettings,
    pub synthetic: SyntheticSettings,
    pub data: DataSettings,
    pub datasets: Vec<DatasetSelector>,
    pub models: Vec<ModelKind>,
    pub hidden_sizes: Vec<usize>,
    pub windows: Vec<usize>,
    pub l1: Vec<f64>,
    pub seeds: Vec<u64>,
    /// Feedforward units; `None` means `r = k`.
    pub sparse_units: Vec<Option<usize>>,
}

/// Largest accepted L1 strength; far beyond it every weight is zero after one step.
const MAX_L1: f64 = 1e6;

/// Default root of the datasets.
pub const DEFAULT_DATA_DIR: &str = "datasets";
/// Default root of the results.
pub const DEFAULT_RESULTS_DIR: &str = "results";

impl Experiment {
    /// Reads and validates an experiment file.
    pub fn from_file(path: &Path) -> Result<Experiment> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Experiment::from_toml(&text, path)
    }

    /// Parses and validates experiment TOML; `path` is only used in messages.
    pub fn from_toml(text: &str, path: &Path) -> Result<Experiment> {
        let raw: ExperimentFile = toml::from_str(text).map_err(|e| Error::Experiment {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        Experiment::validate(raw, path).map_err(|e| match e {
            Error::Setting {
                key,
                value,
                expected,
            } => Error::Experiment {
                path: path.to_owned(),
                message: format!("invalid value {value} for `{key}`: {expected}"),
            },
            other => other,
        })
    }

    fn validate(raw: ExperimentFile, path: &Path) -> Result<Experiment> {
        check_name(&raw.name)?;
        check_training(&raw.training)?;
        check_scoring(&raw.scoring)?;
        check_model(&raw.model)?;
        raw.evaluation.validate()?;
        if raw.evaluation.threshold == crate::evaluation::ThresholdKind::BestFBeta {
            return Err(setting(
                "evaluation.threshold",
                "\"best-f-beta\"",
                "needs a labelled validation split, which no dataset of a sweep has; use \
                 \"quantile\" or \"mean-std\" (the `evaluate` command accepts \
                 --validation-labels)",
            ));
        }
        raw.synthetic.validate()?;
        raw.data.validate()?;
        let sweep = &raw.sweep;
        let datasets = sweep
            .dataset
            .iter()
            .map(|s| s.parse::<DatasetSelector>())
            .collect::<Result<Vec<_>>>()?;
        check_list("sweep.dataset", &sweep.dataset, |_| Ok(()))?;
        check_list("sweep.model", &sweep.model, |_| Ok(()))?;
        check_list("sweep.hidden_size", &sweep.hidden_size, |&h| {
            in_range("sweep.hidden_size", h, 1, 4096)
        })?;
        check_list("sweep.window", &sweep.window, |&l| {
            in_range("sweep.window", l, 2, 100_000)
        })?;
        check_list("sweep.seed", &sweep.seed, |_| Ok(()))?;
        check_float_list("sweep.l1", &sweep.l1)?;
        let shortest = sweep.window.iter().copied().min().unwrap_or(2);
        if raw.training.test_stride > shortest {
            return Err(setting(
                "training.test_stride",
                raw.training.test_stride,
                format!(
                    "must not exceed the shortest window ({shortest}), or some test points \
                     would lie in no window and get no score"
                ),
            ));
        }
        let sparse_units = if sweep.sparse_units.is_empty() {
            vec![None]
        } else {
            check_list("sweep.sparse_units", &sweep.sparse_units, |&r| {
                in_range("sweep.sparse_units", r, 1, 100_000)
            })?;
            sweep.sparse_units.iter().map(|&r| Some(r)).collect()
        };

        for (key, dir) in [
            ("data_dir", &raw.data_dir),
            ("results_dir", &raw.results_dir),
        ] {
            if dir.as_ref().is_some_and(|d| d.as_os_str().is_empty()) {
                return Err(setting(
                    key,
                    "\"\"",
                    "expected a folder path; leave the key out for the default",
                ));
            }
        }
        Ok(Experiment {
            path: path.to_owned(),
            name: raw.name,
            backend: raw.backend,
            data_dir: raw.data_dir.unwrap_or_else(|| DEFAULT_DATA_DIR.into()),
            results_dir: raw
                .results_dir
                .unwrap_or_else(|| DEFAULT_RESULTS_DIR.into()),
            training: raw.training,
            model: raw.model,
            scoring: raw.scoring,
            evaluation: raw.evaluation,
            synthetic: raw.synthetic,
            data: raw.data,
            datasets,
            models: sweep.model.clone(),
            hidden_sizes: sweep.hidden_size.clone(),
            windows: sweep.window.clone(),
            l1: sweep.l1.clone(),
            seeds: sweep.seed.clone(),
            sparse_units,
        })
    }

    /// Expands the sweep over the given dataset entities into runs, in a fixed order.
    ///
    /// The standard model has no L1 layer, so its runs take `l1 = 0` and appear once whatever
    /// the `l1` list holds; likewise only the feedforward variant uses `sparse_units`.
    pub fn expand(&self, entities: &[crate::data::DatasetSpec]) -> Vec<RunSpec> {
        let mut runs = Vec::new();
        let mut seen = BTreeSet::new();
        let shapes: Vec<(usize, usize)> = iproduct(&self.hidden_sizes, &self.windows)
            .map(|(&h, &l)| (h, l))
            .collect();
        let sparsity: Vec<(f64, Option<usize>)> = iproduct(&self.l1, &self.sparse_units)
            .map(|(&l1, &r)| (l1, r))
            .collect();
        let min_window = self.windows.iter().copied().min().unwrap_or(2);
        for dataset in entities {
            for &model in &self.models {
                for (&(hidden_size, window), &(l1, units)) in iproduct(&shapes, &sparsity) {
                    // A baseline has no network; its step scores do not depend on the window,
                    // so one window length serves.
                    let baseline = model.is_baseline();
                    for &seed in &self.seeds {
                        let run = RunSpec {
                            dataset: dataset.clone(),
                            model,
                            hidden_size: if baseline { 0 } else { hidden_size },
                            window: if baseline { min_window } else { window },
                            l1: if model.is_sparse() { l1 } else { 0.0 },
                            sparse_units: units.filter(|_| model == ModelKind::SparseFeedforward),
                            seed,
                            backend: self.backend,
                            training: self.training.clone(),
                            network: self.model.clone(),
                            scoring: self.scoring.clone(),
                            synthetic: dataset.is_synthetic().then(|| self.synthetic.clone()),
                            data: RunData::of(&self.data, dataset),
                        };
                        if seen.insert(run.id()) {
                            runs.push(run);
                        }
                    }
                }
            }
        }
        runs
    }
}

/// Every pair of one item of `a` and one of `b`, `a` varying slowest.
fn iproduct<'a, A, B>(a: &'a [A], b: &'a [B]) -> impl Iterator<Item = (&'a A, &'a B)> {
    a.iter().flat_map(move |x| b.iter().map(move |y| (x, y)))
}

fn check_model(m: &ModelSettings) -> Result<()> {
    in_range("model.layers", m.layers, 1, 2)?;
    in_range("model.pca_components", m.pca_components, 1, 100_000)?;
    if !(m.elementwise_init.is_finite() && m.elementwise_init > 0.0 && m.elementwise_init <= 10.0) {
        return Err(setting(
            "model.elementwise_init",
            m.elementwise_init,
            "expected a number in (0, 10]",
        ));
    }
    if !(m.zero_tolerance.is_finite() && m.zero_tolerance >= 0.0) {
        return Err(setting(
            "model.zero_tolerance",
            m.zero_tolerance,
            "expected a finite number >= 0",
        ));
    }
    Ok(())
}

fn check_name(name: &str) -> Result<()> {
    let valid = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
        && !name.starts_with('.');
    if valid {
        Ok(())
    } else {
        Err(setting(
            "name",
            format!("{name:?}"),
            "use letters, digits, `-`, `_` and `.` only, not starting with `.`, because the name \
             becomes a folder",
        ))
    }
}

fn check_training(t: &TrainingSettings) -> Result<()> {
    in_range("training.epochs", t.epochs, 1, 100_000)?;
    in_range("training.batch_size", t.batch_size, 1, 1 << 20)?;
    in_range("training.patience", t.patience, 1, 100_000)?;
    in_range("training.train_stride", t.train_stride, 1, 1 << 30)?;
    in_range("training.test_stride", t.test_stride, 1, 1 << 30)?;
    if !(t.learning_rate.is_finite() && t.learning_rate > 0.0 && t.learning_rate < 1.0) {
        return Err(setting(
            "training.learning_rate",
            t.learning_rate,
            "expected a number in (0, 1)",
        ));
    }
    if !(t.validation_fraction > 0.0 && t.validation_fraction < 1.0) {
        return Err(setting(
            "training.validation_fraction",
            t.validation_fraction,
            "expected a number in (0, 1)",
        ));
    }
    Ok(())
}

fn check_scoring(s: &ScoringSettings) -> Result<()> {
    if !(0.0..=1.0).contains(&s.covariance_shrinkage) {
        return Err(setting(
            "scoring.covariance_shrinkage",
            s.covariance_shrinkage,
            "expected a number in [0, 1]",
        ));
    }
    Ok(())
}

fn check_list<T: PartialEq + fmt::Debug>(
    key: &str,
    values: &[T],
    check: impl Fn(&T) -> Result<()>,
) -> Result<()> {
    if values.is_empty() {
        return Err(setting(
            key,
            "[]",
            "expected a list with at least one value",
        ));
    }
    for (i, value) in values.iter().enumerate() {
        check(value)?;
        if values[..i].contains(value) {
            return Err(setting(
                key,
                format!("{value:?}"),
                "listed twice; remove the duplicate",
            ));
        }
    }
    Ok(())
}

fn check_float_list(key: &str, values: &[f64]) -> Result<()> {
    check_list(key, values, |&v| {
        if v.is_finite() && (0.0..=MAX_L1).contains(&v) {
            Ok(())
        } else {
            Err(setting(
                key,
                v,
                format!("expected a number in [0, {MAX_L1}]"),
            ))
        }
    })
}

/// Checks that an integer setting lies in `[min, max]`.
pub(crate) fn in_range(key: &str, value: usize, min: usize, max: usize) -> Result<()> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(setting(
            key,
            value,
            format!("expected an integer in [{min}, {max}]"),
        ))
    }
}

/// Builds an [`Error::Setting`].
pub(crate) fn setting(key: &str, value: impl fmt::Display, expected: impl Into<String>) -> Error {
    Error::Setting {
        key: key.to_owned(),
        value: value.to_string(),
        expected: expected.into(),
    }
}

/// Everything that determines one training run.
///
/// Two runs with equal specs give equal results, so the spec's hash names the run's folder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSpec {
    pub dataset: crate::data::DatasetSpec,
    pub model: ModelKind,
    pub hidden_size: usize,
    pub window: usize,
    pub l1: f64,
    /// Units `r` of the feedforward sparse layer; `None` means `r = k`.
    pub sparse_units: Option<usize>,
    pub seed: u64,
    pub backend: BackendKind,
    pub training: TrainingSettings,
    /// The `[model]` table.
    pub network: ModelSettings,
    pub scoring: ScoringSettings,
    /// Generator settings, present only for the synthetic dataset.
    pub synthetic: Option<SyntheticSettings>,
    /// Data settings that change what the run reads. They are absent, and so outside the id,
    /// when they are the defaults, so that ids of runs on published datasets stay stable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<RunData>,
}

/// The data settings of one run that differ from the defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunData {
    pub missing: MissingValues,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csv: Option<crate::data::user::CsvSource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub npy: Option<crate::data::user::NpySource>,
}

impl RunData {
    fn of(settings: &DataSettings, dataset: &crate::data::DatasetSpec) -> Option<RunData> {
        let entity = dataset.entity.as_deref().unwrap_or_default();
        let csv = (dataset.kind == DatasetKind::Csv)
            .then(|| settings.csv.get(entity).cloned())
            .flatten();
        let npy = (dataset.kind == DatasetKind::Npy)
            .then(|| settings.npy.get(entity).cloned())
            .flatten();
        (settings.missing != MissingValues::Reject || csv.is_some() || npy.is_some()).then_some(
            RunData {
                missing: settings.missing,
                csv,
                npy,
            },
        )
    }
}

impl RunSpec {
    /// A stable identifier: the first 12 hex digits of the SHA-256 of the canonical JSON of the
    /// spec (object keys sorted), so it does not depend on key order in the TOML file.
    pub fn id(&self) -> String {
        let value = serde_json::to_value(self).expect("a run spec always serialises");
        let canonical = serde_json::to_string(&value).expect("a JSON value always serialises");
        let digest = Sha256::digest(canonical.as_bytes());
        digest.iter().take(6).map(|b| format!("{b:02x}")).collect()
    }

    /// A readable folder name: the swept values followed by the id.
    pub fn folder_name(&self) -> String {
        let units = self
            .sparse_units
            .map(|r| format!("_r{r}"))
            .unwrap_or_default();
        // Short decimal for everyday strengths, scientific notation for extreme ones, so that
        // the folder name stays short.
        let l1 = match self.l1.to_string() {
            text if text.len() <= 10 => text,
            _ => format!("{:e}", self.l1),
        };
        format!(
            "{}_{}_h{}_l{}_l1-{}{units}_s{}_{}",
            self.dataset.label().replace([':', '/'], "-"),
            self.model,
            self.hidden_size,
            self.window,
            l1,
            self.seed,
            self.id()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
        name = "t"
        [sweep]
        dataset = ["synthetic"]
        model = ["standard", "sparse-elementwise"]
        l1 = [0.0, 0.01]
        seed = [1, 2]
    "#;

    fn parse(text: &str) -> Result<Experiment> {
        Experiment::from_toml(text, Path::new("exp.toml"))
    }

    #[test]
    fn expand_collapses_l1_for_standard() {
        let exp = parse(MINIMAL).unwrap();
        let entities = vec![crate::data::DatasetSpec::synthetic()];
        let runs = exp.expand(&entities);
        let standard = runs
            .iter()
            .filter(|r| r.model == ModelKind::Standard)
            .count();
        let sparse = runs.iter().filter(|r| r.model.is_sparse()).count();
        assert_eq!(standard, 2, "one standard run per seed");
        assert_eq!(sparse, 4, "two l1 values times two seeds");
    }

    #[test]
    fn run_id_ignores_key_order() {
        let reordered = r#"
            name = "t"
            [training]
            batch_size = 64
            epochs = 50
            [sweep]
            seed = [1, 2]
            l1 = [0.0, 0.01]
            model = ["standard", "sparse-elementwise"]
            dataset = ["synthetic"]
        "#;
        let entities = vec![crate::data::DatasetSpec::synthetic()];
        let ids = |text: &str| {
            let mut ids: Vec<_> = parse(text)
                .unwrap()
                .expand(&entities)
                .iter()
                .map(RunSpec::id)
                .collect();
            ids.sort();
            ids
        };
        assert_eq!(ids(MINIMAL), ids(reordered));
    }

    #[test]
    fn unknown_key_names_key() {
        let err = parse(&MINIMAL.replace("seed = [1, 2]", "seeds = [1]")).unwrap_err();
        let message = err.to_string();
        assert!(message.contains("seeds"), "{message}");
        assert!(message.contains("exp.toml"), "{message}");
    }

    #[test]
    fn unknown_model_lists_allowed() {
        let err = parse(&MINIMAL.replace("\"standard\",", "\"dense\",")).unwrap_err();
        let message = err.to_string();
        assert!(message.contains("dense"), "{message}");
        assert!(message.contains("sparse-elementwise"), "{message}");
    }

    #[test]
    fn out_of_range_values_rejected() {
        let cases = [
            ("[training]\nepochs = 0", "training.epochs"),
            (
                "[training]\nvalidation_fraction = 1.5",
                "training.validation_fraction",
            ),
            ("[training]\nlearning_rate = -1.0", "training.learning_rate"),
            (
                "[scoring]\ncovariance_shrinkage = 2.0",
                "scoring.covariance_shrinkage",
            ),
        ];
        for (extra, key) in cases {
            let err = parse(&format!("{MINIMAL}\n{extra}")).unwrap_err();
            assert!(err.to_string().contains(key), "{key}: {err}");
        }
        let err = parse(&format!("{MINIMAL}\n[training]\ntest_stride = 200")).unwrap_err();
        assert!(err.to_string().contains("training.test_stride"), "{err}");
        let err = parse(&MINIMAL.replace("l1 = [0.0, 0.01]", "l1 = [1e300]")).unwrap_err();
        assert!(err.to_string().contains("sweep.l1"), "{err}");
        let err = parse(&MINIMAL.replace("l1 = [0.0, 0.01]", "l1 = [-1.0]")).unwrap_err();
        assert!(err.to_string().contains("sweep.l1"), "{err}");
        let err = parse(&MINIMAL.replace("seed = [1, 2]", "seed = [1, 1]")).unwrap_err();
        assert!(err.to_string().contains("listed twice"), "{err}");
        let err = parse(&MINIMAL.replace("name = \"t\"", "name = \"../x\"")).unwrap_err();
        assert!(err.to_string().contains("name"), "{err}");
    }

    #[test]
    fn sparse_units_only_for_feedforward() {
        let text = MINIMAL
            .replace(
                "\"sparse-elementwise\"]",
                "\"sparse-elementwise\", \"sparse-feedforward\"]",
            )
            .replace("seed = [1, 2]", "seed = [1]\nsparse_units = [4, 8]");
        let exp = parse(&text).unwrap();
        let runs = exp.expand(&[crate::data::DatasetSpec::synthetic()]);
        let count = |kind| runs.iter().filter(|r| r.model == kind).count();
        assert_eq!(count(ModelKind::Standard), 1);
        assert_eq!(count(ModelKind::SparseElementwise), 2, "two l1 values");
        assert_eq!(
            count(ModelKind::SparseFeedforward),
            4,
            "two l1 values times two r"
        );
        assert!(
            runs.iter()
                .filter(|r| r.model != ModelKind::SparseFeedforward)
                .all(|r| r.sparse_units.is_none())
        );
    }

    #[test]
    fn unknown_dataset_rejected() {
        let err = parse(&MINIMAL.replace("\"synthetic\"", "\"imagenet\"")).unwrap_err();
        assert!(err.to_string().contains("imagenet"), "{err}");
    }
}
