//! A seeded generator of high-dimensional sensor data with labelled anomalies.
//!
//! The data has the structure the sparse model is meant for. Sensors come in `groups` of
//! `group_size` strongly correlated signals: every sensor of a group is a scaled, shifted copy of
//! the group's latent signal plus independent noise. The remaining sensors are irrelevant noise
//! (independent AR(1) processes). The latent signal of a group is a sum of three sinusoids with
//! periods drawn from [20, 200] steps plus a slow AR(1) drift.
//!
//! The training series is normal. The test series continues it and carries `anomalies`
//! non-overlapping segments, each touching `anomaly_sensors` sensors of one group:
//!
//! - level shift: the sensors move by `magnitude` standard deviations for the whole segment;
//! - spikes: one to three consecutive steps jump by `2 * magnitude` standard deviations, each
//!   with a random sign;
//! - correlation break: the sensors follow their group's latent signal delayed by 37 steps,
//!   so each sensor keeps its usual range but no longer moves with the rest of its group.
//!
//! The anomaly types cycle in this order. Labels mark every step of a segment, and the touched
//! sensors are recorded as the segment's blamed sensors.

use rand::{Rng, SeedableRng, seq::index::sample};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use serde::{Deserialize, Serialize};

use super::{AnomalySegment, Dataset, DatasetSpec, Series};
use crate::config::{in_range, setting};
use crate::error::Result;

/// Largest number of generated values (4 bytes each, so 2 GB).
const MAX_VALUES: u128 = 500_000_000;

/// Delay of the latent signal in a correlation break, in steps.
const CORRELATION_BREAK_DELAY: usize = 37;

/// Parameters of the generator, set in the `[synthetic]` table of an experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SyntheticSettings {
    /// Total number of sensors.
    pub sensors: usize,
    /// Number of groups of correlated sensors.
    pub groups: usize,
    /// Sensors per group; the other `sensors - groups * group_size` are noise.
    pub group_size: usize,
    /// Length of the normal training series.
    pub train_length: usize,
    /// Length of the test series.
    pub test_length: usize,
    /// Standard deviation of the independent noise on each group sensor, relative to the
    /// standard deviation of the group's latent signal.
    pub noise_std: f64,
    /// Number of anomalous segments in the test series.
    pub anomalies: usize,
    /// Shortest anomalous segment, in steps.
    pub anomaly_min_length: usize,
    /// Longest anomalous segment, in steps.
    pub anomaly_max_length: usize,
    /// Sensors touched by each anomaly, all from one group.
    pub anomaly_sensors: usize,
    /// Size of level shifts in standard deviations of the sensor; spikes are twice as large.
    pub magnitude: f64,
}

impl Default for SyntheticSettings {
    fn default() -> Self {
        SyntheticSettings {
            sensors: 40,
            groups: 4,
            group_size: 6,
            train_length: 5000,
            test_length: 2500,
            noise_std: 0.1,
            anomalies: 8,
            anomaly_min_length: 20,
            anomaly_max_length: 60,
            anomaly_sensors: 3,
            magnitude: 3.0,
        }
    }
}

impl SyntheticSettings {
    /// Checks every parameter, naming the first invalid one.
    pub fn validate(&self) -> Result<()> {
        in_range("synthetic.sensors", self.sensors, 1, 100_000)?;
        in_range("synthetic.groups", self.groups, 1, self.sensors)?;
        if self.group_size == 0 || self.group_size > self.sensors / self.groups {
            return Err(setting(
                "synthetic.group_size",
                self.group_size,
                format!(
                    "an integer in [1, {}]: the {} groups of `group_size` sensors must fit in \
                     the {} sensors; lower `groups` or `group_size`, or raise `sensors`",
                    self.sensors / self.groups,
                    self.groups,
                    self.sensors
                ),
            ));
        }
        in_range(
            "synthetic.train_length",
            self.train_length,
            100,
            100_000_000,
        )?;
        in_range("synthetic.test_length", self.test_length, 100, 100_000_000)?;
        in_range(
            "synthetic.anomaly_min_length",
            self.anomaly_min_length,
            1,
            1_000_000,
        )?;
        in_range(
            "synthetic.anomaly_max_length",
            self.anomaly_max_length,
            self.anomaly_min_length,
            1_000_000,
        )?;
        in_range(
            "synthetic.anomaly_sensors",
            self.anomaly_sensors,
            1,
            self.group_size,
        )?;
        // Each anomaly gets its own slot of the test series, at least twice its longest length.
        let max_anomalies = self.test_length / (2 * self.anomaly_max_length).max(1);
        if self.anomalies > max_anomalies {
            return Err(setting(
                "synthetic.anomalies",
                self.anomalies,
                format!(
                    "expected at most {max_anomalies}: each anomaly needs a slot of twice \
                     `anomaly_max_length` ({}) in the {} test rows; lower `anomalies` or \
                     `anomaly_max_length`, or raise `test_length`",
                    2 * self.anomaly_max_length,
                    self.test_length
                ),
            ));
        }
        let values = self.sensors as u128 * (self.train_length + self.test_length) as u128;
        if values > MAX_VALUES {
            return Err(setting(
                "synthetic.sensors",
                self.sensors,
                format!(
                    "sensors × (train_length + test_length) = {values} values, more than the \
                     {MAX_VALUES} the generator holds in memory; lower one of them"
                ),
            ));
        }
        if !(self.noise_std.is_finite() && self.noise_std >= 0.0) {
            return Err(setting(
                "synthetic.noise_std",
                self.noise_std,
                "expected a number >= 0",
            ));
        }
        if !(self.magnitude.is_finite() && self.magnitude > 0.0) {
            return Err(setting(
                "synthetic.magnitude",
                self.magnitude,
                "expected a number > 0",
            ));
        }
        Ok(())
    }
}

/// Generates the dataset for `seed`. The same settings and seed give the same values.
pub fn generate(settings: &SyntheticSettings, seed: u64) -> Dataset {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5EED_DA7A);
    let total = settings.train_length + settings.test_length;
    let latents: Vec<Vec<f64>> = (0..settings.groups)
        .map(|_| latent_signal(&mut rng, total))
        .collect();
    let sensors = sensor_layout(settings, &mut rng);

    let mut values = vec![0f32; total * settings.sensors];
    for (j, sensor) in sensors.iter().enumerate() {
        let column = sensor.generate(&latents, settings.noise_std, total, &mut rng);
        for (t, v) in column.into_iter().enumerate() {
            values[t * settings.sensors + j] = v as f32;
        }
    }

    let train_values = values[..settings.train_length * settings.sensors].to_vec();
    let mut test_values = values[settings.train_length * settings.sensors..].to_vec();
    let segments = inject_anomalies(settings, &sensors, &latents, &mut test_values, &mut rng);
    let mut test_labels = vec![false; settings.test_length];
    for segment in &segments {
        test_labels[segment.start..=segment.end].fill(true);
    }

    Dataset {
        spec: DatasetSpec::synthetic(),
        sensor_names: sensors.iter().map(|s| s.name.clone()).collect(),
        train: Series::new(train_values, settings.train_length, settings.sensors),
        test: Series::new(test_values, settings.test_length, settings.sensors),
        test_labels,
        segments,
    }
}

/// Sum of three sinusoids plus a slow AR(1) drift, scaled to unit standard deviation.
fn latent_signal(rng: &mut ChaCha8Rng, length: usize) -> Vec<f64> {
    let waves: Vec<(f64, f64, f64)> = (0..3)
        .map(|_| {
            let period = rng.random_range(20.0..200.0);
            let amplitude = rng.random_range(0.5..1.5);
            let phase = rng.random_range(0.0..std::f64::consts::TAU);
            (period, amplitude, phase)
        })
        .collect();
    let innovation = Normal::new(0.0, 0.05).expect("constant standard deviation is valid");
    let mut drift = 0.0;
    let mut signal: Vec<f64> = (0..length)
        .map(|t| {
            drift = 0.99 * drift + innovation.sample(rng);
            let periodic: f64 = waves
                .iter()
                .map(|(period, amplitude, phase)| {
                    amplitude * (std::f64::consts::TAU * t as f64 / period + phase).sin()
                })
                .sum();
            periodic + drift
        })
        .collect();
    standardise(&mut signal);
    signal
}

fn standardise(values: &mut [f64]) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let std = (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
    let std = if std > 0.0 { std } else { 1.0 };
    for v in values {
        *v = (*v - mean) / std;
    }
}

/// How one sensor is produced.
struct SensorModel {
    name: String,
    /// Group index, or `None` for a noise sensor.
    group: Option<usize>,
    scale: f64,
    offset: f64,
    /// AR(1) coefficient of a noise sensor.
    persistence: f64,
}

impl SensorModel {
    fn generate(
        &self,
        latents: &[Vec<f64>],
        noise_std: f64,
        length: usize,
        rng: &mut ChaCha8Rng,
    ) -> Vec<f64> {
        let unit = Normal::new(0.0, 1.0).expect("unit normal is valid");
        match self.group {
            Some(g) => (0..length)
                .map(|t| self.value_from_latent(latents[g][t]) + noise_std * unit.sample(rng))
                .collect(),
            None => {
                // Innovation variance chosen so that the process has unit variance.
                let innovation_std = (1.0 - self.persistence.powi(2)).sqrt();
                let mut value = unit.sample(rng);
                (0..length)
                    .map(|_| {
                        value = self.persistence * value + innovation_std * unit.sample(rng);
                        self.offset + self.scale.abs() * value
                    })
                    .collect()
            }
        }
    }

    fn value_from_latent(&self, latent: f64) -> f64 {
        self.offset + self.scale * latent
    }

    /// Standard deviation of the sensor in the normal regime, ignoring its small noise.
    fn std(&self) -> f64 {
        self.scale.abs()
    }
}

/// Draws the group sensors first, then the noise sensors.
fn sensor_layout(settings: &SyntheticSettings, rng: &mut ChaCha8Rng) -> Vec<SensorModel> {
    let mut sensors = Vec::with_capacity(settings.sensors);
    for g in 0..settings.groups {
        for i in 0..settings.group_size {
            let sign = if rng.random_bool(0.5) { 1.0 } else { -1.0 };
            sensors.push(SensorModel {
                name: format!("group{g}-{i}"),
                group: Some(g),
                scale: sign * rng.random_range(0.5..1.5),
                offset: rng.random_range(-1.0..1.0),
                persistence: 0.0,
            });
        }
    }
    let noise_count = settings.sensors - settings.groups * settings.group_size;
    for i in 0..noise_count {
        sensors.push(SensorModel {
            name: format!("noise-{i}"),
            group: None,
            scale: rng.random_range(0.5..1.5),
            offset: rng.random_range(-1.0..1.0),
            persistence: rng.random_range(0.0..0.9),
        });
    }
    sensors
}

#[derive(Clone, Copy)]
enum AnomalyKind {
    LevelShift,
    Spikes,
    CorrelationBreak,
}

/// Injects anomalies into the row-major test values and returns their segments.
fn inject_anomalies(
    settings: &SyntheticSettings,
    sensors: &[SensorModel],
    latents: &[Vec<f64>],
    test: &mut [f32],
    rng: &mut ChaCha8Rng,
) -> Vec<AnomalySegment> {
    const KINDS: [AnomalyKind; 3] = [
        AnomalyKind::LevelShift,
        AnomalyKind::Spikes,
        AnomalyKind::CorrelationBreak,
    ];
    let k = settings.sensors;
    let slot = settings.test_length / settings.anomalies.max(1);
    let mut segments = Vec::with_capacity(settings.anomalies);
    for a in 0..settings.anomalies {
        let kind = KINDS[a % KINDS.len()];
        let length = match kind {
            AnomalyKind::Spikes => rng.random_range(1..=3),
            _ => rng.random_range(settings.anomaly_min_length..=settings.anomaly_max_length),
        };
        // Spikes ignore the configured lengths, so bound them by the slot as well.
        let length = length.min((slot / 2).max(1));
        // Keep a margin of half a slot so segments never touch.
        let earliest = a * slot + slot / 4;
        let latest = (a * slot + slot - slot / 4)
            .saturating_sub(length)
            .max(earliest);
        let start = rng.random_range(earliest..=latest);
        let end = start + length - 1;
        let group = rng.random_range(0..settings.groups);
        let mut chosen: Vec<usize> = sample(rng, settings.group_size, settings.anomaly_sensors)
            .into_iter()
            .map(|i| group * settings.group_size + i)
            .collect();
        chosen.sort_unstable();

        for &j in &chosen {
            let sensor = &sensors[j];
            let sign = if rng.random_bool(0.5) { 1.0 } else { -1.0 };
            for t in start..=end {
                let cell = &mut test[t * k + j];
                match kind {
                    AnomalyKind::LevelShift => {
                        *cell += (sign * settings.magnitude * sensor.std()) as f32;
                    }
                    AnomalyKind::Spikes => {
                        let sign = if rng.random_bool(0.5) { 1.0 } else { -1.0 };
                        *cell += (sign * 2.0 * settings.magnitude * sensor.std()) as f32;
                    }
                    AnomalyKind::CorrelationBreak => {
                        let absolute = settings.train_length + t;
                        let normal = sensor.value_from_latent(latents[group][absolute]);
                        let delayed = sensor
                            .value_from_latent(latents[group][absolute - CORRELATION_BREAK_DELAY]);
                        *cell += (delayed - normal) as f32;
                    }
                }
            }
        }
        segments.push(AnomalySegment {
            start,
            end,
            sensors: chosen,
        });
    }
    segments
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generator_is_seeded() {
        let settings = SyntheticSettings::default();
        let a = generate(&settings, 3);
        let b = generate(&settings, 3);
        let c = generate(&settings, 4);
        assert_eq!(a.train, b.train);
        assert_eq!(a.test, b.test);
        assert_ne!(a.train, c.train);
    }

    #[test]
    fn generator_shapes_and_labels() {
        let settings = SyntheticSettings::default();
        let data = generate(&settings, 0);
        assert_eq!(data.train.rows, settings.train_length);
        assert_eq!(data.test.rows, settings.test_length);
        assert_eq!(data.train.cols, settings.sensors);
        assert_eq!(data.test_labels.len(), settings.test_length);
        assert_eq!(data.segments.len(), settings.anomalies);
        let labelled = data.test_labels.iter().filter(|&&l| l).count();
        let in_segments: usize = data.segments.iter().map(|s| s.end - s.start + 1).sum();
        assert_eq!(labelled, in_segments, "segments must not overlap");
        for segment in &data.segments {
            assert_eq!(segment.sensors.len(), settings.anomaly_sensors);
            let group = segment.sensors[0] / settings.group_size;
            assert!(
                segment
                    .sensors
                    .iter()
                    .all(|&j| j / settings.group_size == group)
            );
        }
    }

    #[test]
    fn group_sensors_are_correlated() {
        let data = generate(&SyntheticSettings::default(), 1);
        let column = |j: usize| -> Vec<f64> {
            (0..data.train.rows)
                .map(|t| data.train.row(t)[j] as f64)
                .collect()
        };
        let correlation = |a: &[f64], b: &[f64]| {
            let n = a.len() as f64;
            let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
            let cov: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
            let va: f64 = a.iter().map(|x| (x - ma).powi(2)).sum();
            let vb: f64 = b.iter().map(|y| (y - mb).powi(2)).sum();
            cov / (va * vb).sqrt()
        };
        let within = correlation(&column(0), &column(1)).abs();
        let noise = correlation(&column(0), &column(39)).abs();
        assert!(within > 0.95, "sensors of one group correlate: {within}");
        assert!(noise < 0.2, "noise sensors do not: {noise}");
    }

    #[test]
    fn settings_reject_too_many_anomalies() {
        let settings = SyntheticSettings {
            anomalies: 1000,
            ..SyntheticSettings::default()
        };
        let err = settings.validate().unwrap_err();
        assert!(err.to_string().contains("synthetic.anomalies"), "{err}");
        assert!(err.to_string().contains("raise `test_length`"), "{err}");
    }
}
