//! Training and scoring throughput of the three network variants on random data.
//!
//! For each configuration and variant the benchmark builds an [`Autoencoder`] on a random series
//! and runs a few untimed Adam steps. It then times `steps` training steps through
//! [`training::train_step`], the step of every sweep. The settings are a sweep's defaults: Adam
//! with epsilon 1e-7 and learning rate 1e-3, and the MSE objective plus `l1 · Σ|w|` with
//! `l1 = 1e-3` for the sparse variants. Last, it times `scoring_batches` forward-only batches of
//! [`SCORING_BATCH`] windows through [`WindowPass`], the pass that scores a sweep's validation
//! and test series.
//!
//! # FLOP estimate
//!
//! FLOPs count two per multiply-add of the matrix products and ignore elementwise work (gate
//! activations, the cell update, the loss). With `k` sensors, `l` steps, `h` hidden units, one
//! LSTM layer each side and `r = k` feedforward units (the sweep's default), one window's forward
//! pass costs `2 · (E + D + O + S)` FLOPs, where
//!
//! - encoder `E = l · (k_in · 4h + h · 4h)` with `k_in = r` for `sparse-feedforward`, else `k`;
//! - decoder `D = h · 4h + l · h · 4h`, because the model projects the repeated encoding once,
//!   not at every step;
//! - output layer `O = l · h · k`;
//! - sparse layer `S = l · k` for `sparse-elementwise`, `l · k · r` for `sparse-feedforward`,
//!   `0` for `standard`.
//!
//! A training step is estimated at three forward passes (forward plus a backward pass of about
//! twice its cost). The result is an estimate of useful work, so the achieved GFLOP/s it gives
//! are an estimate too. The peak is the best rate of a `1024 × 1024 × 1024` f32 matmul on the
//! same device and threads.

use std::time::Instant;

use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::Serialize;

use crate::attribution;
use crate::config::{ModelKind, ScoringSettings};
use crate::data::prep::window_starts;
use crate::data::{AnomalySegment, Series};
use crate::evaluation::{self, EvaluationSettings};
use crate::model::{Autoencoder, ModelShape, SparseActivation};
use crate::runner::SCORING_BATCH;
use crate::scoring::{Reconstructor, WindowPass, fit_scorer, point_scores};
use crate::training::{self, windows_tensor};

/// Learning rate of the timed Adam steps, the sweep's default.
const LEARNING_RATE: f64 = 1e-3;
/// L1 strength of the sparse variants, the sweep's default.
const SPARSE_L1: f64 = 1e-3;
/// Side of the square matrices of the peak micro-benchmark.
pub const PEAK_MATMUL_SIZE: usize = 1024;
/// Timed repetitions of the peak matmul, of which the fastest counts.
pub const PEAK_MATMUL_REPEATS: usize = 5;

/// The variants that train a network, in table order.
pub const VARIANTS: [ModelKind; 3] = [
    ModelKind::Standard,
    ModelKind::SparseElementwise,
    ModelKind::SparseFeedforward,
];

/// Fixed shapes of one benchmark configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct BenchConfig {
    pub name: &'static str,
    /// Sensors `k`.
    pub sensors: usize,
    /// Window length `l`.
    pub window: usize,
    /// Hidden units `h`.
    pub hidden_size: usize,
    /// Windows per training batch.
    pub batch_size: usize,
}

/// EncDec-AD sized: `k = 38` (an SMD machine), `l = 100`, `h = 64`, batch 64.
pub const CANONICAL: BenchConfig = BenchConfig {
    name: "canonical",
    sensors: 38,
    window: 100,
    hidden_size: 64,
    batch_size: 64,
};

/// Many sensors, shorter windows: `k = 200`, `l = 50`, `h = 128`, batch 64.
pub const HIGH_DIM: BenchConfig = BenchConfig {
    name: "high-dim",
    sensors: 200,
    window: 50,
    hidden_size: 128,
    batch_size: 64,
};

/// Returns the configurations selected by `canonical`, `high-dim` or `all`.
pub fn configs_named(name: &str) -> Option<Vec<BenchConfig>> {
    match name {
        "canonical" => Some(vec![CANONICAL]),
        "high-dim" => Some(vec![HIGH_DIM]),
        "all" => Some(vec![CANONICAL, HIGH_DIM]),
        _ => None,
    }
}

/// Counts of warm-up and timed work per (configuration, variant).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct BenchOptions {
    /// Untimed Adam steps before the timed ones.
    pub warmup_steps: usize,
    /// Timed Adam steps.
    pub steps: usize,
    /// Timed scoring batches of [`SCORING_BATCH`] windows each (after one untimed batch).
    pub scoring_batches: usize,
    /// Windows per scoring batch.
    pub scoring_batch_size: usize,
    /// Seed of the model weights and of the random series.
    pub seed: u64,
}

impl Default for BenchOptions {
    fn default() -> Self {
        BenchOptions {
            warmup_steps: 3,
            steps: 20,
            scoring_batches: 5,
            scoring_batch_size: SCORING_BATCH,
            seed: 0,
        }
    }
}

/// Throughput of one variant under one configuration.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BenchRow {
    pub config: BenchConfig,
    pub variant: ModelKind,
    pub train_windows_per_second: f64,
    pub score_windows_per_second: f64,
    /// Estimated FLOPs of one window's forward pass (see the module documentation).
    pub forward_flops_per_window: f64,
    pub train_gflops: f64,
    pub score_gflops: f64,
    /// VmHWM after this row's work in KiB, or `None` where /proc/self/status is unavailable.
    pub peak_resident_kib: Option<u64>,
    /// Whether VmHWM was reset before this row, so that it covers this row alone.
    pub peak_resident_reset: bool,
}

/// Peak of the f32 matmul micro-benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PeakMatmul {
    /// Side of the square matrices.
    pub size: usize,
    pub gflops: f64,
}

/// All rows of one benchmark invocation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BenchReport {
    pub threads: usize,
    pub options: BenchOptions,
    pub peak: PeakMatmul,
    pub rows: Vec<BenchRow>,
    /// The series benchmark, unless it was skipped.
    pub series: Option<SeriesRow>,
}

/// Estimates the forward FLOPs of one window (see the module documentation).
pub fn forward_flops_per_window(config: &BenchConfig, variant: ModelKind) -> f64 {
    let (k, l, h) = (
        config.sensors as f64,
        config.window as f64,
        config.hidden_size as f64,
    );
    let r = k;
    let encoder_inputs = if variant == ModelKind::SparseFeedforward {
        r
    } else {
        k
    };
    let encoder = l * (encoder_inputs * 4.0 * h + h * 4.0 * h);
    let decoder = h * 4.0 * h + l * h * 4.0 * h;
    let output = l * h * k;
    let sparse = match variant {
        ModelKind::SparseElementwise => l * k,
        ModelKind::SparseFeedforward => l * k * r,
        _ => 0.0,
    };
    2.0 * (encoder + decoder + output + sparse)
}

/// Measures the best f32 matmul rate of `device`, in GFLOP/s.
pub fn measure_peak(device: &Device, size: usize, repeats: usize) -> PeakMatmul {
    let mut rng = ChaCha8Rng::seed_from_u64(0x9EA4);
    let a = random_tensor([size, size], &mut rng, device);
    let b = random_tensor([size, size], &mut rng, device);
    let multiply = || {
        let product = a.clone().matmul(b.clone());
        // Reading one element waits for the product on backends that run asynchronously.
        product.slice([0..1, 0..1]).into_scalar::<f32>()
    };
    multiply();
    let mut best = f64::INFINITY;
    for _ in 0..repeats.max(1) {
        let started = Instant::now();
        multiply();
        best = best.min(started.elapsed().as_secs_f64());
    }
    let flops = 2.0 * (size as f64).powi(3);
    PeakMatmul {
        size,
        gflops: flops / best / 1e9,
    }
}

/// Runs every (configuration, variant) pair on `device`, which must not have autodiff enabled,
/// in the current rayon thread pool. `on_row` receives each row as soon as it is measured.
pub fn run(
    configs: &[BenchConfig],
    options: &BenchOptions,
    device: &Device,
    mut on_row: impl FnMut(&BenchRow),
) -> Vec<BenchRow> {
    let mut rows = Vec::new();
    for config in configs {
        for variant in VARIANTS {
            let row = bench_one(config, variant, options, device);
            on_row(&row);
            rows.push(row);
        }
    }
    rows
}

/// Measures the peak with a `1024 × 1024 × 1024` matmul, best of 5, in the current rayon
/// thread pool.
pub fn measure_machine_peak(device: &Device) -> PeakMatmul {
    measure_peak(device, PEAK_MATMUL_SIZE, PEAK_MATMUL_REPEATS)
}

fn bench_one(
    config: &BenchConfig,
    variant: ModelKind,
    options: &BenchOptions,
    device: &Device,
) -> BenchRow {
    let peak_resident_reset = reset_peak_resident();
    let shape = ModelShape {
        kind: variant,
        sensors: config.sensors,
        window: config.window,
        hidden_size: config.hidden_size,
        layers: 1,
        sparse_units: config.sensors,
        sparse_activation: SparseActivation::Identity,
        reverse: false,
        elementwise_init: 0.1,
    };
    let l1 = if variant.is_sparse() { SPARSE_L1 } else { 0.0 };
    let mut rng = ChaCha8Rng::seed_from_u64(options.seed ^ 0xBE4C);

    // Enough rows for four distinct batches of non-overlapping windows. The steps cycle
    // through them.
    let train_rows = 4 * config.batch_size * config.window;
    let train_series = random_series(train_rows, config.sensors, &mut rng);
    let starts = window_starts(train_rows, config.window, config.window);
    let batches: Vec<&[usize]> = starts.chunks(config.batch_size).collect();

    let autodiff = device.clone().autodiff();
    let mut model = Autoencoder::new(&shape, options.seed, &autodiff);
    let mut optimizer = training::adam();
    let mut step = |model: Autoencoder, i: usize| {
        let input = windows_tensor(
            &train_series,
            batches[i % batches.len()],
            config.window,
            &autodiff,
        );
        training::train_step(model, &mut optimizer, input, l1, LEARNING_RATE).0
    };
    for i in 0..options.warmup_steps {
        model = step(model, i);
    }
    let started = Instant::now();
    for i in 0..options.steps {
        model = step(model, i);
    }
    let train_seconds = started.elapsed().as_secs_f64();
    let trained_windows = options.steps * config.batch_size;

    // With stride 1, `rows - l + 1` windows fill exactly the requested batches.
    let scoring = model.valid();
    let scored_windows = options.scoring_batches * options.scoring_batch_size;
    let score_rows = options.scoring_batch_size + config.window - 1;
    let warmup_series = random_series(score_rows, config.sensors, &mut rng);
    let score_series = random_series(scored_windows + config.window - 1, config.sensors, &mut rng);
    let score = |series: &Series| {
        let pass = WindowPass {
            reconstructor: Reconstructor::Network(&scoring, device),
            series,
            window: config.window,
            stride: 1,
            batch_size: options.scoring_batch_size,
        };
        pass.for_each_error(|_, _| {});
    };
    score(&warmup_series);
    let started = Instant::now();
    score(&score_series);
    let score_seconds = started.elapsed().as_secs_f64();

    let forward = forward_flops_per_window(config, variant);
    let train_windows_per_second = rate(trained_windows, train_seconds);
    let score_windows_per_second = rate(scored_windows, score_seconds);
    BenchRow {
        config: *config,
        variant,
        train_windows_per_second,
        score_windows_per_second,
        forward_flops_per_window: forward,
        train_gflops: train_windows_per_second * 3.0 * forward / 1e9,
        score_gflops: score_windows_per_second * forward / 1e9,
        peak_resident_kib: peak_resident_kib(),
        peak_resident_reset,
    }
}

/// Maximum number of points of the series benchmark: 38 sensors of 4 bytes make 15.2 GB.
pub const MAX_SERIES_POINTS: usize = 100_000_000;

/// Sizes of the series benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SeriesOptions {
    /// Points of the test series.
    pub points: usize,
    /// Points of the validation series that fits the scorer and the threshold.
    pub validation_points: usize,
    /// Step between window starts in every pass.
    pub stride: usize,
    pub seed: u64,
}

/// Timings of scoring one long test series, in seconds, and the peak memory.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeriesRow {
    pub config: BenchConfig,
    pub options: SeriesOptions,
    /// Test windows reconstructed.
    pub test_windows: usize,
    /// Fitting the Mahalanobis scorer on the validation windows.
    pub fit_seconds: f64,
    /// Point scores and per-sensor contributions of the test series, and point scores of the
    /// validation series.
    pub score_seconds: f64,
    /// The metric suite of a run (ROC-AUC, PR-AUC, VUS, best F1, threshold metrics, range
    /// metrics) and the attribution hit rates.
    pub metrics_seconds: f64,
    pub total_seconds: f64,
    /// VmHWM in KiB after the work, or `None` where /proc/self/status is unavailable.
    pub peak_resident_kib: Option<u64>,
    /// VmHWM in KiB after the series were generated, before any scoring.
    pub input_resident_kib: Option<u64>,
}

/// Scores a random test series of `options.points` points with an untrained standard model of
/// `config`'s shape. It makes the calls of a sweep's run after training. First it fits the
/// scorer on validation windows and scores every test and validation point, with contributions
/// for the test points. Then it computes the metric suite and the hit rates. Anomalies are 100-point segments every 10,000 points,
/// blamed on sensors 0 to 2.
pub fn bench_series(config: &BenchConfig, options: &SeriesOptions, device: &Device) -> SeriesRow {
    reset_peak_resident();
    let k = config.sensors;
    let mut rng = ChaCha8Rng::seed_from_u64(options.seed ^ 0x5E41);
    let test = random_series(options.points, k, &mut rng);
    let validation = random_series(options.validation_points, k, &mut rng);
    let segments: Vec<AnomalySegment> = (5_000..options.points.saturating_sub(100))
        .step_by(10_000)
        .map(|start| AnomalySegment {
            start,
            end: start + 99,
            sensors: vec![0, 1, 2],
        })
        .collect();
    let mut labels = vec![false; options.points];
    for segment in &segments {
        labels[segment.start..=segment.end].fill(true);
    }
    let input_resident_kib = peak_resident_kib();
    let shape = ModelShape {
        kind: ModelKind::Standard,
        sensors: k,
        window: config.window,
        hidden_size: config.hidden_size,
        layers: 1,
        sparse_units: k,
        sparse_activation: SparseActivation::Identity,
        reverse: false,
        elementwise_init: 0.1,
    };
    let model = Autoencoder::new(&shape, options.seed, device);
    let pass = |series| WindowPass {
        reconstructor: Reconstructor::Network(&model, device),
        series,
        window: config.window,
        stride: options.stride,
        batch_size: SCORING_BATCH,
    };
    let scoring = ScoringSettings::default();

    let started = Instant::now();
    let scorer = fit_scorer(&pass(&validation), &scoring).expect("a scorer fits random errors");
    let fit_seconds = started.elapsed().as_secs_f64();
    let points = point_scores(&pass(&test), &scorer, scoring.point_rule, true);
    let validation_scores = point_scores(&pass(&validation), &scorer, scoring.point_rule, false);
    let score_seconds = started.elapsed().as_secs_f64() - fit_seconds;
    let suite = evaluation::metric_suite(
        &labels,
        &points.scores,
        Some(&validation_scores.scores),
        None,
        &EvaluationSettings::default(),
    )
    .expect("the metrics of a labelled series");
    let contributions = points.contributions.as_deref().unwrap_or_default();
    for percent in [100.0, 150.0] {
        attribution::hit_rate(contributions, k, &segments, &labels, percent);
    }
    let total_seconds = started.elapsed().as_secs_f64();
    std::hint::black_box(suite);
    SeriesRow {
        config: *config,
        options: *options,
        test_windows: window_starts(options.points, config.window, options.stride).len(),
        fit_seconds,
        score_seconds,
        metrics_seconds: total_seconds - fit_seconds - score_seconds,
        total_seconds,
        peak_resident_kib: peak_resident_kib(),
        input_resident_kib,
    }
}

/// Formats a [`SeriesRow`] as two lines of text.
pub fn format_series(row: &SeriesRow) -> String {
    let mib = |kib: Option<u64>| kib.map_or("n/a".to_owned(), |k| format!("{}", k / 1024));
    format!(
        "series: {} points x {} sensors, window {}, stride {} ({} test windows), h {}, \
         validation {} points\n\
         series: fit {:.2} s, score {:.2} s, metrics {:.2} s, total {:.2} s; peak RSS {} MiB \
         ({} MiB after generating the series)",
        row.options.points,
        row.config.sensors,
        row.config.window,
        row.options.stride,
        row.test_windows,
        row.config.hidden_size,
        row.options.validation_points,
        row.fit_seconds,
        row.score_seconds,
        row.metrics_seconds,
        row.total_seconds,
        mib(row.peak_resident_kib),
        mib(row.input_resident_kib),
    )
}

fn rate(count: usize, seconds: f64) -> f64 {
    if seconds > 0.0 {
        count as f64 / seconds
    } else {
        0.0
    }
}

fn random_values(len: usize, rng: &mut ChaCha8Rng) -> Vec<f32> {
    (0..len).map(|_| StandardNormal.sample(rng)).collect()
}

fn random_series(rows: usize, cols: usize, rng: &mut ChaCha8Rng) -> Series {
    Series::new(random_values(rows * cols, rng), rows, cols)
}

fn random_tensor(shape: [usize; 2], rng: &mut ChaCha8Rng, device: &Device) -> Tensor<2> {
    let values = random_values(shape[0] * shape[1], rng);
    Tensor::from_data(TensorData::new(values, shape), device)
}

/// Reads VmHWM, the peak resident set size, from /proc/self/status, in KiB.
pub fn peak_resident_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Resets VmHWM to the current resident set size by writing `5` to /proc/self/clear_refs
/// (Linux 4.0 and later). Returns whether the reset worked.
fn reset_peak_resident() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// Returns the table header matching [`format_row`].
pub fn header() -> String {
    format!(
        "{:<10} {:<19} {:>4} {:>4} {:>4} {:>5} {:>12} {:>12} {:>13} {:>7} {:>13} {:>7} {:>13}",
        "config",
        "variant",
        "k",
        "l",
        "h",
        "batch",
        "train win/s",
        "score win/s",
        "train GFLOP/s",
        "% peak",
        "score GFLOP/s",
        "% peak",
        "peak RSS MiB"
    )
}

/// Formats one table row, with percentages of `peak_gflops`.
pub fn format_row(row: &BenchRow, peak_gflops: f64) -> String {
    let percent = |gflops: f64| format!("{:.1}", 100.0 * gflops / peak_gflops);
    let resident = row.peak_resident_kib.map_or("n/a".to_owned(), |kib| {
        format!("{:.0}", kib as f64 / 1024.0)
    });
    format!(
        "{:<10} {:<19} {:>4} {:>4} {:>4} {:>5} {:>12.1} {:>12.1} {:>13.2} {:>7} {:>13.2} {:>7} {:>13}",
        row.config.name,
        row.variant.name(),
        row.config.sensors,
        row.config.window,
        row.config.hidden_size,
        row.config.batch_size,
        row.train_windows_per_second,
        row.score_windows_per_second,
        row.train_gflops,
        percent(row.train_gflops),
        row.score_gflops,
        percent(row.score_gflops),
        resident
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const TINY: BenchConfig = BenchConfig {
        name: "tiny",
        sensors: 3,
        window: 4,
        hidden_size: 2,
        batch_size: 2,
    };

    #[test]
    fn one_step_per_variant() {
        let options = BenchOptions {
            warmup_steps: 1,
            steps: 1,
            scoring_batches: 1,
            scoring_batch_size: 3,
            seed: 7,
        };
        let device = Device::flex();
        let mut seen = 0;
        let rows = run(&[TINY], &options, &device, |_| seen += 1);
        assert_eq!(seen, 3, "on_row sees every row");
        let variants: Vec<ModelKind> = rows.iter().map(|r| r.variant).collect();
        assert_eq!(variants, VARIANTS);
        for row in &rows {
            assert!(row.train_windows_per_second.is_finite());
            assert!(row.score_windows_per_second.is_finite());
            assert!(row.train_gflops >= 0.0);
            let line = format_row(row, 1.0);
            assert!(line.contains(row.variant.name()), "{line}");
        }
    }

    #[test]
    fn series_bench_scores_every_window() {
        let options = SeriesOptions {
            points: 25_003,
            validation_points: 400,
            stride: 4,
            seed: 1,
        };
        let row = bench_series(&TINY, &options, &Device::flex());
        // Windows start at 0, 4, ..., 24 996 and at the last full window, 24 999.
        assert_eq!(row.test_windows, 6_251);
        assert!(row.fit_seconds >= 0.0);
        assert!(row.score_seconds > 0.0);
        assert!(row.metrics_seconds >= 0.0);
        let sum = row.fit_seconds + row.score_seconds + row.metrics_seconds;
        assert!((row.total_seconds - sum).abs() < 1e-9);
        let text = format_series(&row);
        assert!(text.contains("25003 points x 3 sensors"), "{text}");
    }

    #[test]
    fn flops_follow_formula() {
        // k = 3, l = 4, h = 2: encoder 4·(3·8 + 2·8) = 160, decoder 2·8 + 4·2·8 = 80,
        // output 4·2·3 = 24.
        assert_eq!(forward_flops_per_window(&TINY, ModelKind::Standard), 528.0);
        // Elementwise adds l·k = 12 multiply-adds.
        assert_eq!(
            forward_flops_per_window(&TINY, ModelKind::SparseElementwise),
            552.0
        );
        // Feedforward with r = k adds l·k·r = 36.
        assert_eq!(
            forward_flops_per_window(&TINY, ModelKind::SparseFeedforward),
            600.0
        );
    }

    #[test]
    fn config_names() {
        assert_eq!(configs_named("all").unwrap(), vec![CANONICAL, HIGH_DIM]);
        assert_eq!(configs_named("high-dim").unwrap(), vec![HIGH_DIM]);
        assert!(configs_named("huge").is_none());
    }
}
