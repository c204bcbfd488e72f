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
    /// 0-based indices of the constant sensors: standard deviation below 1e-8.
    #[serde(default)]
    pub constant: Vec<usize>,
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
        let std: Vec<f64> = var.into_iter().map(|s| (s / n).sqrt()).collect();
        let constant = (0..std.len()).filter(|&j| std[j] < MIN_STD).collect();
        let std = std
            .into_iter()
            .map(|s| if s < MIN_STD { 1.0 } else { s })
            .collect();
        Scaler {
            mean,
            std,
            constant,
        }
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
    let scaled = |part: &str, series: &Series, first_row: usize| -> Result<Series> {
        let out = scaler.transform(series);
        check_scaled(data, &scaler, part, series, &out, first_row)?;
        Ok(out)
    };
    Ok(Prepared {
        train: scaled("training series", &train, 0)?,
        validation: scaled("training series", &validation, train_rows)?,
        test: scaled("test series", &data.test, 0)?,
        test_labels: data.test_labels.clone(),
        scaler,
    })
}

/// Fails on the first scaled value that is not finite: a value so far from the training mean,
/// in training standard deviations, that it leaves the range of `f32`.
fn check_scaled(
    data: &Dataset,
    scaler: &Scaler,
    part: &str,
    raw: &Series,
    scaled: &Series,
    first_row: usize,
) -> Result<()> {
    let Some(index) = scaled.values.iter().position(|v| !v.is_finite()) else {
        return Ok(());
    };
    let (row, col) = (index / raw.cols, index % raw.cols);
    let sensor = data
        .sensor_names
        .get(col)
        .cloned()
        .unwrap_or_else(|| format!("column {}", col + 1));
    Err(Error::Data {
        path: data.spec.label().into(),
        line: None,
        message: format!(
            "sensor {sensor}, row {} of the {part} (counting from 1): the value {:e} lies {:.1e} \
             training standard deviations from the training mean {}, beyond the range of f32; \
             rescale or drop the sensor",
            first_row + row + 1,
            raw.values[index],
            (raw.values[index] as f64 - scaler.mean[col]) / scaler.std[col],
            scaler.mean[col] as f32
        ),
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

    #[test]
    fn scaled_value_beyond_f32_named() {
        // Training values vary by about 0.01, so 1e37 is about 1e39 standard deviations away.
        let train: Vec<f32> = (0..40).map(|i| 1.0 + (i % 2) as f32 * 0.01).collect();
        let mut test = vec![1.0f32; 20];
        test[13] = 1e37;
        let data = Dataset {
            spec: DatasetSpec::synthetic(),
            sensor_names: vec!["pressure".into()],
            train: Series::new(train, 40, 1),
            test: Series::new(test, 20, 1),
            test_labels: vec![false; 20],
            segments: vec![],
        };
        let err = prepare(&data, 0.25, 5).unwrap_err().to_string();
        assert!(
            err.contains("sensor pressure, row 14 of the test series"),
            "{err}"
        );
        assert!(err.contains("the value 1e37 lies 2.0e39"), "{err}");
        assert!(err.contains("training mean 1.005,"), "{err}");
        assert!(err.contains("rescale or drop the sensor"), "{err}");
    }
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
