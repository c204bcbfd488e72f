//! Preparation of a dataset for training: chronological split, z-scores and windows.

use serde::{Deserialize, Serialize};

use super::{Dataset, Series};
use crate::error::{Error, Result};

/// Standard deviations below this are treated as a constant sensor.
const MIN_STD: f64 = 1e-8;

/// Per-sensor z-score scaling fitted on the training part.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scaler {
    pub mean: Vec<f64>,
    /// Standard deviation (population form), replaced by 1 for constant sensors so that they
    /// scale to 0 instead of NaN.
    pub std: Vec<f64>,
}

impl Scaler {
    /// Fits means and standard deviations per sensor.
    pub fn fit(series: &Series) -> Scaler {
        let n = series.rows as f64;
        let mut mean = vec![0.0; series.cols];
        for t in 0..series.rows {
            for (m, &v) in mean.iter_mut().zip(series.row(t)) {
                *m += v as f64;
            }
        }
        mean.iter_mut().for_each(|m| *m /= n);
        let mut var = vec![0.0; series.cols];
        for t in 0..series.rows {
            for ((s, &v), m) in var.iter_mut().zip(series.row(t)).zip(&mean) {
                *s += (v as f64 - m).powi(2);
            }
        }
        let std = var
            .into_iter()
            .map(|s| (s / n).sqrt())
            .map(|s| if s < MIN_STD { 1.0 } else { s })
            .collect();
        Scaler { mean, std }
    }

    /// Returns the scaled series.
    pub fn transform(&self, series: &Series) -> Series {
        let mut values = series.values.clone();
        for row in values.chunks_mut(series.cols) {
            for ((v, m), s) in row.iter_mut().zip(&self.mean).zip(&self.std) {
                *v = ((*v as f64 - m) / s) as f32;
            }
        }
        Series::new(values, series.rows, series.cols)
    }
}

/// A dataset split and scaled for one run.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub train: Series,
    pub validation: Series,
    pub test: Series,
    pub test_labels: Vec<bool>,
    pub scaler: Scaler,
}

/// Splits the training series chronologically, fits the scaler on the training part only and
/// scales all three parts.
///
/// Fails when the training part, the validation part or the test series is shorter than one
/// window.
pub fn prepare(data: &Dataset, validation_fraction: f64, window: usize) -> Result<Prepared> {
    let (train_rows, _) = check_lengths(data, validation_fraction, window)?;
    let rows = data.train.rows;
    let train = data.train.rows_range(0, train_rows);
    let validation = data.train.rows_range(train_rows, rows);
    let scaler = Scaler::fit(&train);
    Ok(Prepared {
        train: scaler.transform(&train),
        validation: scaler.transform(&validation),
        test: scaler.transform(&data.test),
        test_labels: data.test_labels.clone(),
        scaler,
    })
}

/// Returns the lengths of the training and validation parts, or an error naming the part that
/// is shorter than one window.
pub fn check_lengths(
    data: &Dataset,
    validation_fraction: f64,
    window: usize,
) -> Result<(usize, usize)> {
    let rows = data.train.rows;
    let validation_rows = ((rows as f64) * validation_fraction).round() as usize;
    let train_rows = rows - validation_rows;
    let too_short = |part: &str, length: usize| Error::Data {
        path: data.spec.label().into(),
        line: None,
        message: format!(
            "the {part} has {length} rows, fewer than the window of {window}; use a shorter \
             `window`{}",
            if part == "test series" {
                ""
            } else {
                " or a different `training.validation_fraction`"
            }
        ),
    };
    if train_rows < window {
        return Err(too_short("training part", train_rows));
    }
    if validation_rows < window {
        return Err(too_short("validation part", validation_rows));
    }
    if data.test.rows < window {
        return Err(too_short("test series", data.test.rows));
    }
    Ok((train_rows, validation_rows))
}

/// Start indices of windows of length `window` every `stride` steps. The last window always
/// ends at the last row, so that every row is covered. Requires `rows >= window`.
pub fn window_starts(rows: usize, window: usize, stride: usize) -> Vec<usize> {
    assert!(rows >= window && stride > 0, "window must fit the series");
    let last = rows - window;
    let mut starts: Vec<usize> = (0..=last).step_by(stride).collect();
    if starts.last() != Some(&last) {
        starts.push(last);
    }
    starts
}

/// Copies the windows starting at `starts` into one row-major `[n, window, cols]` buffer.
pub fn gather_windows(series: &Series, starts: &[usize], window: usize) -> Vec<f32> {
    let width = window * series.cols;
    let mut out = Vec::with_capacity(starts.len() * width);
    for &start in starts {
        out.extend_from_slice(&series.values[start * series.cols..start * series.cols + width]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::DatasetSpec;

    #[test]
    fn window_starts_cover_end() {
        assert_eq!(window_starts(10, 4, 3), vec![0, 3, 6]);
        assert_eq!(window_starts(10, 4, 4), vec![0, 4, 6]);
        assert_eq!(window_starts(4, 4, 1), vec![0]);
    }

    #[test]
    fn scaler_handles_constant_sensor() {
        let series = Series::new(vec![1.0, 5.0, 3.0, 5.0], 2, 2);
        let scaler = Scaler::fit(&series);
        assert_eq!(scaler.mean, vec![2.0, 5.0]);
        assert_eq!(scaler.std, vec![1.0, 1.0]);
        let scaled = scaler.transform(&series);
        assert_eq!(scaled.values, vec![-1.0, 0.0, 1.0, 0.0]);
    }

    #[test]
    fn prepare_fits_on_training_part_only() {
        // The validation part and test hold large values; the scaler must not see them.
        let train: Vec<f32> = (0..10)
            .map(|t| if t < 8 { (t % 2) as f32 } else { 100.0 })
            .collect();
        let data = Dataset {
            spec: DatasetSpec::synthetic(),
            sensor_names: vec!["a".into()],
            train: Series::new(train, 10, 1),
            test: Series::new(vec![1000.0; 4], 4, 1),
            test_labels: vec![false; 4],
            segments: vec![],
        };
        let prepared = prepare(&data, 0.2, 2).unwrap();
        assert_eq!(prepared.train.rows, 8);
        assert_eq!(prepared.validation.rows, 2);
        assert_eq!(prepared.scaler.mean, vec![0.5]);
        assert_eq!(prepared.scaler.std, vec![0.5]);
        assert!(
            prepare(&data, 0.2, 3).is_err(),
            "validation part shorter than window"
        );
    }

    #[test]
    fn gather_copies_windows() {
        let series = Series::new((0..12).map(|v| v as f32).collect(), 6, 2);
        let windows = gather_windows(&series, &[0, 4], 2);
        assert_eq!(windows, vec![0.0, 1.0, 2.0, 3.0, 8.0, 9.0, 10.0, 11.0]);
    }
}
