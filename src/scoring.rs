//! Anomaly scores from reconstruction errors (EncDec-AD).
//!
//! For each step `t` of a window the error vector is `e_t = x_t − x̂_t` (one value per sensor).
//! The Mahalanobis score fits `N(μ, Σ)` to the error vectors of every step of every validation
//! window and scores `(e_t − μ)ᵀ Σ⁻¹ (e_t − μ)`. The MSE score is `mean_j e_tj²`.
//!
//! `Σ` is singular whenever a sensor's error is constant (a constant sensor) or there are fewer
//! error vectors than sensors, so it is shrunk towards a scaled identity before inversion:
//! `Σ_α = (1 − α) Σ + α (tr Σ / k) I`, with `α = covariance_shrinkage`. If `tr Σ` is zero the
//! identity is used as the target. `Σ` is the maximum-likelihood (divide by `n`) estimate.
//!
//! A test point's score comes from the step scores of the test windows that cover it, by the
//! `point_rule` setting: `mean` averages all of them, `last` takes the one from the covering
//! window that starts latest, which with a stride of one is the window that ends at the point
//! (and, for the first `l − 1` points, the first window). Windows are streamed in batches, so
//! memory grows with the series only through the per-point arrays.
//!
//! Per-sensor contributions split a step score into one term per sensor that sums to it:
//! `d_j · (Σ_α⁻¹ d)_j` with `d = e_t − μ` for the Mahalanobis score (a term can be negative when
//! errors are correlated), and `e_tj² / k` for the MSE score. A point's contributions are averaged
//! over the windows that cover it, like its score; they rank the sensors for attribution.

use burn::tensor::Device;

use crate::baseline::Pca;
use crate::config::{PointRule, ScoreKind, ScoringSettings};
use crate::data::Series;
use crate::data::prep::{gather_windows, window_starts};
use crate::error::{Error, Result};
use crate::model::Autoencoder;
use crate::training::windows_tensor;

/// Running sums of error vectors and their outer products.
#[derive(Debug, Clone)]
pub struct ErrorMoments {
    count: usize,
    sum: Vec<f64>,
    /// Row-major `k × k`, lower triangle filled.
    outer: Vec<f64>,
}

impl ErrorMoments {
    /// Empty sums for `k` sensors.
    pub fn new(k: usize) -> ErrorMoments {
        ErrorMoments {
            count: 0,
            sum: vec![0.0; k],
            outer: vec![0.0; k * k],
        }
    }

    /// Adds one error vector.
    pub fn add(&mut self, error: &[f32]) {
        let k = self.sum.len();
        self.count += 1;
        for i in 0..k {
            let ei = error[i] as f64;
            self.sum[i] += ei;
            let row = &mut self.outer[i * k..i * k + i + 1];
            for (cell, &ej) in row.iter_mut().zip(&error[..=i]) {
                *cell += ei * ej as f64;
            }
        }
    }
}

/// `N(μ, Σ_α)` fitted to validation error vectors, stored as `μ` and the Cholesky factor of
/// `Σ_α`.
#[derive(Debug, Clone, PartialEq)]
pub struct GaussianErrorModel {
    pub mean: Vec<f64>,
    /// Lower-triangular `L` with `L Lᵀ = Σ_α`, row-major `k × k`.
    cholesky: Vec<f64>,
}

impl GaussianErrorModel {
    /// Fits the shrunk Gaussian. Fails when the shrunk covariance is not positive definite,
    /// which can only happen with `shrinkage = 0`.
    pub fn fit(moments: &ErrorMoments, shrinkage: f64) -> Result<GaussianErrorModel> {
        let k = moments.sum.len();
        let n = moments.count.max(1) as f64;
        let mean: Vec<f64> = moments.sum.iter().map(|s| s / n).collect();
        let mut covariance = vec![0.0; k * k];
        for i in 0..k {
            for j in 0..=i {
                let c = moments.outer[i * k + j] / n - mean[i] * mean[j];
                covariance[i * k + j] = c;
                covariance[j * k + i] = c;
            }
        }
        let trace: f64 = (0..k).map(|i| covariance[i * k + i]).sum();
        let target = if trace > 0.0 { trace / k as f64 } else { 1.0 };
        for c in covariance.iter_mut() {
            *c *= 1.0 - shrinkage;
        }
        for i in 0..k {
            covariance[i * k + i] += shrinkage * target;
        }
        let cholesky = cholesky(&covariance, k).ok_or_else(|| {
            Error::Training(format!(
                "the validation error covariance is singular; set `scoring.covariance_shrinkage` \
                 above {shrinkage}"
            ))
        })?;
        Ok(GaussianErrorModel { mean, cholesky })
    }

    /// Squared Mahalanobis distance of an error vector; `scratch` avoids an allocation.
    pub fn score(&self, error: &[f32], scratch: &mut Vec<f64>) -> f64 {
        let k = self.mean.len();
        scratch.clear();
        // Solve L z = e − μ by forward substitution; the distance is |z|².
        let mut total = 0.0;
        for (i, (&e, mean)) in error.iter().zip(&self.mean).enumerate() {
            let row = &self.cholesky[i * k..i * k + i];
            let dot: f64 = row.iter().zip(scratch.iter()).map(|(l, z)| l * z).sum();
            let z = (e as f64 - mean - dot) / self.cholesky[i * k + i];
            scratch.push(z);
            total += z * z;
        }
        total
    }

    /// Adds the per-sensor terms `d_j (Σ_α⁻¹ d)_j` of an error vector to `out`; they sum to
    /// [`score`](Self::score).
    pub fn add_contributions(&self, error: &[f32], scratch: &mut Vec<f64>, out: &mut [f64]) {
        let k = self.mean.len();
        self.score(error, scratch);
        // scratch holds z = L⁻¹ d; solve Lᵀ u = z by back substitution, in place.
        for i in (0..k).rev() {
            let below: f64 = (i + 1..k)
                .zip(&scratch[i + 1..])
                .map(|(p, u)| self.cholesky[p * k + i] * u)
                .sum();
            scratch[i] = (scratch[i] - below) / self.cholesky[i * k + i];
        }
        for (j, slot) in out.iter_mut().enumerate() {
            *slot += (error[j] as f64 - self.mean[j]) * scratch[j];
        }
    }
}

/// Cholesky factor of a symmetric matrix, or `None` if it is not positive definite.
fn cholesky(matrix: &[f64], k: usize) -> Option<Vec<f64>> {
    let mut l = vec![0.0; k * k];
    for i in 0..k {
        for j in 0..=i {
            let dot: f64 = (0..j).map(|p| l[i * k + p] * l[j * k + p]).sum();
            let value = matrix[i * k + j] - dot;
            if i == j {
                if value <= 0.0 || !value.is_finite() {
                    return None;
                }
                l[i * k + i] = value.sqrt();
            } else {
                l[i * k + j] = value / l[j * k + j];
            }
        }
    }
    Some(l)
}

/// Scores one step from its error vector.
#[derive(Debug, Clone)]
pub enum StepScorer {
    Mahalanobis(GaussianErrorModel),
    Mse,
    /// `‖e_t‖₂`, the score of the L2 baseline; contributions `e_tj² / ‖e_t‖₂`.
    L2Norm,
}

impl StepScorer {
    fn score(&self, error: &[f32], scratch: &mut Vec<f64>) -> f64 {
        match self {
            StepScorer::Mahalanobis(gaussian) => gaussian.score(error, scratch),
            StepScorer::Mse => {
                error.iter().map(|&e| (e as f64).powi(2)).sum::<f64>() / error.len() as f64
            }
            StepScorer::L2Norm => error
                .iter()
                .map(|&e| (e as f64).powi(2))
                .sum::<f64>()
                .sqrt(),
        }
    }

    fn add_contributions(&self, error: &[f32], scratch: &mut Vec<f64>, out: &mut [f64]) {
        match self {
            StepScorer::Mahalanobis(gaussian) => gaussian.add_contributions(error, scratch, out),
            StepScorer::Mse => {
                let k = error.len() as f64;
                for (slot, &e) in out.iter_mut().zip(error) {
                    *slot += (e as f64).powi(2) / k;
                }
            }
            StepScorer::L2Norm => {
                let norm = self.score(error, scratch);
                if norm > 0.0 {
                    for (slot, &e) in out.iter_mut().zip(error) {
                        *slot += (e as f64).powi(2) / norm;
                    }
                }
            }
        }
    }
}

/// What reconstructs a window.
#[derive(Clone, Copy)]
pub enum Reconstructor<'a> {
    /// A trained network on a device without autodiff.
    Network(&'a Autoencoder, &'a Device),
    /// Reconstruction zero: the error is the observation itself (the L2 baseline).
    Zero,
    /// Projection onto principal directions (the PCA baseline).
    Pca(&'a Pca),
}

/// Windows of one series to reconstruct.
pub struct WindowPass<'a> {
    pub reconstructor: Reconstructor<'a>,
    pub series: &'a Series,
    pub window: usize,
    pub stride: usize,
    pub batch_size: usize,
}

impl WindowPass<'_> {
    /// Calls `visit(start, errors)` for every window, with the window's row-major `[l, k]`
    /// error matrix.
    pub fn for_each_error(&self, mut visit: impl FnMut(usize, &[f32])) {
        let starts = window_starts(self.series.rows, self.window, self.stride);
        let width = self.window * self.series.cols;
        let k = self.series.cols;
        for batch in starts.chunks(self.batch_size) {
            let errors = match self.reconstructor {
                Reconstructor::Network(model, device) => {
                    let input = windows_tensor(self.series, batch, self.window, device);
                    (input.clone() - model.forward(input))
                        .into_data()
                        .try_into_vec::<f32>()
                        .expect("reconstructions are f32")
                }
                Reconstructor::Zero => gather_windows(self.series, batch, self.window),
                Reconstructor::Pca(pca) => {
                    let mut values = gather_windows(self.series, batch, self.window);
                    let mut residual = vec![0f32; k];
                    for step in values.chunks_mut(k) {
                        pca.residual(step, &mut residual);
                        step.copy_from_slice(&residual);
                    }
                    values
                }
            };
            for (start, window_errors) in batch.iter().zip(errors.chunks(width)) {
                visit(*start, window_errors);
            }
        }
    }

    /// Mean squared error over every step and sensor of every window.
    pub fn mean_squared_error(&self) -> f64 {
        let mut sum = 0.0;
        let mut count = 0usize;
        self.for_each_error(|_, errors| {
            sum += errors.iter().map(|&e| (e as f64).powi(2)).sum::<f64>();
            count += errors.len();
        });
        sum / count.max(1) as f64
    }
}

/// Fits the step scorer on the validation windows.
pub fn fit_scorer(pass: &WindowPass<'_>, settings: &ScoringSettings) -> Result<StepScorer> {
    match settings.score {
        ScoreKind::Mse => Ok(StepScorer::Mse),
        ScoreKind::Mahalanobis => {
            let k = pass.series.cols;
            let mut moments = ErrorMoments::new(k);
            pass.for_each_error(|_, errors| errors.chunks(k).for_each(|e| moments.add(e)));
            let gaussian = GaussianErrorModel::fit(&moments, settings.covariance_shrinkage)?;
            Ok(StepScorer::Mahalanobis(gaussian))
        }
    }
}

/// Per-point scores of a series, with per-sensor contributions when requested.
#[derive(Debug, Clone)]
pub struct PointScores {
    pub scores: Vec<f64>,
    /// Row-major `[points, k]`: the per-sensor terms, taken from the windows like the scores.
    pub contributions: Option<Vec<f32>>,
}

/// Scores every point of the series from the windows that cover it, by `rule`.
pub fn point_scores(
    pass: &WindowPass<'_>,
    scorer: &StepScorer,
    rule: PointRule,
    with_contributions: bool,
) -> PointScores {
    let k = pass.series.cols;
    let rows = pass.series.rows;
    let mut sums = vec![0.0; rows];
    let mut counts = vec![0u32; rows];
    // Contributions are summed in f32, the type they are stored in, so that the largest
    // per-point array takes 4 bytes a sensor. A step's terms are computed in f64 first.
    let mut terms: Vec<f32> = if with_contributions {
        vec![0.0; rows * k]
    } else {
        Vec::new()
    };
    let mut step_terms = vec![0f64; k];
    let mut scratch = Vec::with_capacity(k);
    pass.for_each_error(|start, errors| {
        for (offset, error) in errors.chunks(k).enumerate() {
            let t = start + offset;
            // Windows arrive in increasing start order, so under the `last` rule the latest
            // covering window overwrites what earlier ones wrote.
            if rule == PointRule::Last && counts[t] > 0 {
                sums[t] = 0.0;
                counts[t] = 0;
                if with_contributions {
                    terms[t * k..(t + 1) * k].fill(0.0);
                }
            }
            sums[t] += scorer.score(error, &mut scratch);
            counts[t] += 1;
            if with_contributions {
                step_terms.fill(0.0);
                scorer.add_contributions(error, &mut scratch, &mut step_terms);
                for (total, term) in terms[t * k..(t + 1) * k].iter_mut().zip(&step_terms) {
                    *total += *term as f32;
                }
            }
        }
    });
    let contributions = with_contributions.then(|| {
        for (row, &c) in terms.chunks_mut(k).zip(&counts) {
            row.iter_mut().for_each(|v| *v /= c as f32);
        }
        terms
    });
    PointScores {
        scores: sums
            .iter()
            .zip(&counts)
            .map(|(s, &c)| s / c as f64)
            .collect(),
        contributions,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn moments_of(vectors: &[[f32; 2]]) -> ErrorMoments {
        let mut moments = ErrorMoments::new(2);
        vectors.iter().for_each(|v| moments.add(v));
        moments
    }

    #[test]
    fn mahalanobis_matches_hand_computation() {
        // Errors with mean (1, 0), variances 4 and 1, no correlation.
        let moments = moments_of(&[[3.0, 0.0], [-1.0, 0.0], [1.0, 1.0], [1.0, -1.0]]);
        let model = GaussianErrorModel::fit(&moments, 0.0).unwrap();
        assert_eq!(model.mean, vec![1.0, 0.0]);
        let mut scratch = Vec::new();
        // Σ = diag(2, 0.5): (e − μ)ᵀ Σ⁻¹ (e − μ) for e = (3, 1) is 4/2 + 1/0.5 = 4.
        let score = model.score(&[3.0, 1.0], &mut scratch);
        assert!((score - 4.0).abs() < 1e-12, "{score}");
    }

    #[test]
    fn mahalanobis_uses_inverse_not_covariance() {
        // Strongly correlated errors: a step against the correlation scores far higher than one
        // along it, which only holds with Σ⁻¹.
        let moments = moments_of(&[[1.0, 1.0], [-1.0, -1.0], [1.0, 0.9], [-1.0, -0.9]]);
        let model = GaussianErrorModel::fit(&moments, 0.01).unwrap();
        let mut scratch = Vec::new();
        let along = model.score(&[1.0, 1.0], &mut scratch);
        let against = model.score(&[1.0, -1.0], &mut scratch);
        assert!(against > 20.0 * along, "along {along}, against {against}");
    }

    #[test]
    fn shrinkage_handles_constant_sensor() {
        let moments = moments_of(&[[1.0, 0.0], [-1.0, 0.0], [0.5, 0.0]]);
        assert!(
            GaussianErrorModel::fit(&moments, 0.0).is_err(),
            "singular without shrinkage"
        );
        let model = GaussianErrorModel::fit(&moments, 0.01).unwrap();
        let mut scratch = Vec::new();
        let score = model.score(&[0.0, 0.1], &mut scratch);
        assert!(score.is_finite() && score > 0.0, "{score}");
    }

    #[test]
    fn zero_errors_use_identity_target() {
        let moments = moments_of(&[[0.0, 0.0], [0.0, 0.0]]);
        let model = GaussianErrorModel::fit(&moments, 0.5).unwrap();
        let mut scratch = Vec::new();
        // Σ_α = 0.5 I, so the distance of (1, 0) is 2.
        let score = model.score(&[1.0, 0.0], &mut scratch);
        assert!((score - 2.0).abs() < 1e-12, "{score}");
    }

    #[test]
    fn contributions_sum_to_score() {
        let moments = moments_of(&[[1.0, 1.0], [-1.0, -1.0], [1.0, 0.5], [-1.0, -0.2]]);
        let model = GaussianErrorModel::fit(&moments, 0.05).unwrap();
        let mut scratch = Vec::new();
        for error in [[0.3f32, -2.0], [1.5, 1.4], [0.0, 0.0]] {
            let score = model.score(&error, &mut scratch);
            let mut terms = [0.0; 2];
            model.add_contributions(&error, &mut scratch, &mut terms);
            let total: f64 = terms.iter().sum();
            assert!(
                (total - score).abs() < 1e-9,
                "{terms:?} sum to {total}, score {score}"
            );
        }
    }

    #[test]
    fn point_rules_pick_windows() {
        use crate::config::ModelKind;
        use crate::model::{ModelShape, SparseActivation};

        let device = Device::flex();
        let shape = ModelShape {
            kind: ModelKind::Standard,
            sensors: 2,
            window: 4,
            hidden_size: 3,
            layers: 1,
            sparse_units: 2,
            sparse_activation: SparseActivation::Identity,
            reverse: false,
            elementwise_init: 1.0,
        };
        let model = Autoencoder::new(&shape, 5, &device);
        let values: Vec<f32> = (0..20).map(|i| (i as f32 * 0.7).sin()).collect();
        let series = Series::new(values, 10, 2);
        let pass = WindowPass {
            reconstructor: Reconstructor::Network(&model, &device),
            series: &series,
            window: 4,
            stride: 1,
            batch_size: 3,
        };
        // Step scores of every window, by hand.
        let mut windows: Vec<(usize, Vec<f64>)> = Vec::new();
        let mut scratch = Vec::new();
        pass.for_each_error(|start, errors| {
            let steps = errors
                .chunks(2)
                .map(|e| StepScorer::Mse.score(e, &mut scratch))
                .collect();
            windows.push((start, steps));
        });
        let mean = point_scores(&pass, &StepScorer::Mse, PointRule::Mean, false).scores;
        let last = point_scores(&pass, &StepScorer::Mse, PointRule::Last, false).scores;
        for t in 0..10 {
            let covering: Vec<f64> = windows
                .iter()
                .filter(|(start, _)| *start <= t && t < start + 4)
                .map(|(start, steps)| steps[t - start])
                .collect();
            let expected_mean = covering.iter().sum::<f64>() / covering.len() as f64;
            assert!((mean[t] - expected_mean).abs() < 1e-12, "mean rule at {t}");
            // With stride 1 the latest covering window starts at min(t, rows - window).
            let latest = t.min(6);
            let expected_last = windows[latest].1[t - latest];
            assert!((last[t] - expected_last).abs() < 1e-12, "last rule at {t}");
        }
    }
}
