//! Training loop: Adam on shuffled windows, early stopping on the validation objective.
//!
//! The objective is the mean squared reconstruction error over batch, steps and sensors plus
//! `l1 * Σ|w|` over the sparse weights, so `l1` is measured against a per-element mean. With
//! [`L1Mode::Penalty`] the L1 term is part of the loss that Adam descends; with
//! [`L1Mode::Proximal`] Adam descends the reconstruction error alone and every step is followed by
//! soft-thresholding with `learning_rate * l1`. Training stops after `patience` epochs without a
//! lower validation objective and returns the weights of the best epoch.

use std::time::Instant;

use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Tensor, TensorData};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tracing::debug;

use crate::config::{L1Mode, TrainingSettings};
use crate::data::Series;
use crate::data::prep::{gather_windows, window_starts};
use crate::error::{Error, Result};
use crate::model::{Autoencoder, loss};

/// Losses after one epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    pub epoch: usize,
    /// Mean training objective over the epoch's batches, weighted by batch size.
    pub train_loss: f64,
    /// Validation objective (reconstruction MSE plus the L1 term).
    pub validation_loss: f64,
    /// Validation reconstruction MSE alone.
    pub validation_mse: f64,
    pub seconds: f64,
}

/// A trained model with its history.
#[derive(Debug)]
pub struct Trained {
    /// Weights of the best epoch, without autodiff.
    pub model: Autoencoder,
    pub history: Vec<EpochRecord>,
    /// 1-based epoch whose weights were kept.
    pub best_epoch: usize,
}

impl Trained {
    /// The record of the kept epoch.
    pub fn best(&self) -> &EpochRecord {
        &self.history[self.best_epoch - 1]
    }
}

/// What [`train`] needs besides the data.
pub struct TrainingJob<'a> {
    pub settings: &'a TrainingSettings,
    pub window: usize,
    pub l1: f64,
    pub l1_mode: L1Mode,
    pub seed: u64,
    /// Device with autodiff enabled.
    pub device: &'a Device,
    /// Called after every epoch with the epoch's record.
    pub on_epoch: &'a (dyn Fn(&EpochRecord) + Sync),
}

/// Trains `model` on windows of `train`, stopping early on `validation`.
pub fn train(
    mut model: Autoencoder,
    train: &Series,
    validation: &Series,
    job: &TrainingJob<'_>,
) -> Result<Trained> {
    let settings = job.settings;
    let mut starts = window_starts(train.rows, job.window, settings.train_stride);
    let mut rng = ChaCha8Rng::seed_from_u64(job.seed ^ 0x5_4FF1E);
    let mut optimizer = adam();
    let mut history = Vec::new();
    let mut best: Option<(f64, usize, Autoencoder)> = None;
    let (loss_l1, threshold) = match job.l1_mode {
        L1Mode::Penalty => (job.l1, 0.0),
        L1Mode::Proximal => (0.0, settings.learning_rate * job.l1),
    };

    for epoch in 1..=settings.epochs {
        let started = Instant::now();
        starts.shuffle(&mut rng);
        let mut loss_sum = 0.0;
        for batch in starts.chunks(settings.batch_size) {
            if crate::runner::is_cancelled() {
                return Err(Error::Cancelled);
            }
            let input = windows_tensor(train, batch, job.window, job.device);
            let value;
            (model, value) = train_step(
                model,
                &mut optimizer,
                input,
                loss_l1,
                settings.learning_rate,
            );
            if !value.is_finite() {
                return Err(Error::Training(format!(
                    "the training loss became {value} in epoch {epoch}; lower \
                     `training.learning_rate` (now {}) or `l1` (now {})",
                    settings.learning_rate, job.l1
                )));
            }
            loss_sum += value * batch.len() as f64;
            if threshold > 0.0 {
                model = model.soft_threshold(threshold);
            }
        }

        let snapshot = model.valid();
        // Under the proximal mode the batch losses exclude the L1 term, so the term of the
        // epoch's final weights is added to make both modes report the same objective.
        let proximal_penalty = if threshold > 0.0 {
            penalty(&snapshot, job)
        } else {
            0.0
        };
        let (validation_loss, validation_mse) =
            evaluate(&snapshot, validation, job, settings.batch_size.max(256))?;
        let record = EpochRecord {
            epoch,
            train_loss: loss_sum / starts.len() as f64 + proximal_penalty,
            validation_loss,
            validation_mse,
            seconds: started.elapsed().as_secs_f64(),
        };
        debug!(
            epoch,
            train_loss = record.train_loss,
            validation_loss,
            "epoch done"
        );
        (job.on_epoch)(&record);
        history.push(record);

        let improved = best
            .as_ref()
            .is_none_or(|(loss, _, _)| validation_loss < *loss);
        if improved {
            best = Some((validation_loss, epoch, snapshot));
        } else if epoch - best.as_ref().map_or(0, |b| b.1) >= settings.patience {
            debug!(epoch, "early stop");
            break;
        }
    }

    let (_, best_epoch, model) = best.expect("at least one epoch runs");
    Ok(Trained {
        model,
        history,
        best_epoch,
    })
}

/// Adam with epsilon 1e-7 (the Keras default) and burn's other defaults, as every run uses.
pub fn adam() -> ModuleOptimizer {
    AdamConfig::new().with_epsilon(1e-7).init()
}

/// Runs one Adam step on a batch `[B, l, k]` of the objective with L1 strength `l1`. Returns
/// the updated model and the batch objective before the step.
pub fn train_step(
    model: Autoencoder,
    optimizer: &mut ModuleOptimizer,
    input: Tensor<3>,
    l1: f64,
    learning_rate: f64,
) -> (Autoencoder, f64) {
    let (objective, _) = loss(&model, input, l1);
    let value = objective.clone().into_scalar::<f32>() as f64;
    let gradients = GradientsParams::from_grads(objective.backward(), &model);
    (optimizer.step(learning_rate, model, gradients), value)
}

/// Mean validation objective and MSE over all validation windows.
fn evaluate(
    model: &Autoencoder,
    validation: &Series,
    job: &TrainingJob<'_>,
    batch_size: usize,
) -> Result<(f64, f64)> {
    let device = job.device.clone().without_autodiff();
    let starts = window_starts(validation.rows, job.window, job.settings.train_stride);
    let mut mse_sum = 0.0;
    for batch in starts.chunks(batch_size) {
        let input = windows_tensor(validation, batch, job.window, &device);
        let reconstruction = model.forward(input.clone());
        let mse = (reconstruction - input)
            .square()
            .mean()
            .into_scalar::<f32>() as f64;
        mse_sum += mse * batch.len() as f64;
    }
    let mse = mse_sum / starts.len() as f64;
    if !mse.is_finite() {
        return Err(Error::Training(format!(
            "the validation error became {mse}"
        )));
    }
    Ok((mse + penalty(model, job), mse))
}

/// `l1 · Σ|w|` of a model without autodiff.
fn penalty(model: &Autoencoder, job: &TrainingJob<'_>) -> f64 {
    let device = job.device.clone().without_autodiff();
    job.l1 * model.l1_norm(&device).into_scalar::<f32>() as f64
}

/// Builds a `[n, window, cols]` tensor from the windows starting at `starts`.
pub fn windows_tensor(
    series: &Series,
    starts: &[usize],
    window: usize,
    device: &Device,
) -> Tensor<3> {
    let values = gather_windows(series, starts, window);
    Tensor::from_data(
        TensorData::new(values, [starts.len(), window, series.cols]),
        device,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ModelKind;
    use crate::model::{ModelShape, SparseActivation};

    fn shape(kind: ModelKind, sensors: usize, window: usize, hidden_size: usize) -> ModelShape {
        ModelShape {
            kind,
            sensors,
            window,
            hidden_size,
            layers: 1,
            sparse_units: sensors,
            sparse_activation: SparseActivation::Identity,
            reverse: false,
            elementwise_init: 1.0,
        }
    }

    fn sine_series(rows: usize, cols: usize) -> Series {
        let values = (0..rows * cols)
            .map(|i| {
                let (t, j) = (i / cols, i % cols);
                ((t as f32) * 0.3 + j as f32).sin()
            })
            .collect();
        Series::new(values, rows, cols)
    }

    #[test]
    fn training_lowers_validation_loss() {
        let device = Device::flex().autodiff();
        let shape = shape(ModelKind::Standard, 3, 8, 8);
        let settings = TrainingSettings {
            epochs: 15,
            batch_size: 16,
            learning_rate: 1e-2,
            patience: 15,
            train_stride: 2,
            ..TrainingSettings::default()
        };
        let series = sine_series(200, 3);
        let job = TrainingJob {
            settings: &settings,
            window: 8,
            l1: 0.0,
            l1_mode: L1Mode::Penalty,
            seed: 1,
            device: &device,
            on_epoch: &|_| {},
        };
        let model = Autoencoder::new(&shape, 1, &device);
        let trained = train(
            model,
            &series.rows_range(0, 150),
            &series.rows_range(150, 200),
            &job,
        )
        .unwrap();
        let first = trained.history[0].validation_loss;
        let best = trained.best().validation_loss;
        assert!(
            best < 0.5 * first,
            "validation loss fell from {first} to {best}"
        );
        assert!(trained.history.iter().all(|r| r.validation_loss >= best));
    }

    /// Six sensors: three carry a sine each, three are constant and so carry no signal.
    fn partly_informative(rows: usize) -> Series {
        let values = (0..rows * 6)
            .map(|i| {
                let (t, j) = (i / 6, i % 6);
                if j < 3 {
                    ((t as f32) * 0.4 + 2.0 * j as f32).sin()
                } else {
                    0.0
                }
            })
            .collect();
        Series::new(values, rows, 6)
    }

    /// Trains a sparse model on [`partly_informative`] data and returns its sparsity mask.
    fn train_sparse(kind: ModelKind, l1_mode: L1Mode, l1: f64) -> crate::model::Mask {
        let device = Device::flex().autodiff();
        let settings = TrainingSettings {
            epochs: 16,
            batch_size: 16,
            learning_rate: 2e-2,
            patience: 16,
            train_stride: 1,
            ..TrainingSettings::default()
        };
        let series = partly_informative(300);
        let job = TrainingJob {
            settings: &settings,
            window: 8,
            l1,
            l1_mode,
            seed: 4,
            device: &device,
            on_epoch: &|_| {},
        };
        let model = Autoencoder::new(&shape(kind, 6, 8, 6), 4, &device);
        let trained = train(
            model,
            &series.rows_range(0, 240),
            &series.rows_range(240, 300),
            &job,
        )
        .unwrap();
        trained
            .model
            .sparsity_mask()
            .expect("sparse models have a mask")
    }

    #[test]
    fn proximal_reaches_exact_zeros() {
        for kind in [ModelKind::SparseElementwise, ModelKind::SparseFeedforward] {
            let mask = train_sparse(kind, L1Mode::Proximal, 0.5);
            let zeros = |j: usize| (0..mask.rows).all(|i| mask.values[i * mask.cols + j] == 0.0);
            for j in 3..6 {
                assert!(zeros(j), "{kind}: constant sensor {j} is exactly zero");
            }
            assert_eq!(
                mask.kept_sensors(0.0),
                vec![0, 1, 2],
                "{kind}: signal sensors kept"
            );
        }
    }

    #[test]
    fn penalty_keeps_same_sensors_within_tolerance() {
        let tolerance = crate::config::ModelSettings::default().zero_tolerance;
        for kind in [ModelKind::SparseElementwise, ModelKind::SparseFeedforward] {
            // The strengths differ because the modes scale them differently. Adam normalises the
            // penalty's gradient, so a weight with no error gradient shrinks by about one
            // learning rate per step whatever l1 is, while a useful weight survives only when
            // l1 is below its error gradient. The proximal step shrinks by learning_rate * l1.
            let penalty = train_sparse(kind, L1Mode::Penalty, 0.001);
            let proximal = train_sparse(kind, L1Mode::Proximal, 0.5);
            assert_eq!(
                penalty.kept_sensors(tolerance),
                proximal.kept_sensors(0.0),
                "{kind}: both modes keep the same sensors"
            );
        }
    }
}
