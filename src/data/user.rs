//! The user's own data: CSV files in the layout TimeEval uses, or NumPy arrays.
//!
//! A CSV dataset is declared in the experiment file and selected as `csv:<name>`:
//!
//! ```toml
//! [data.csv.plant]
//! train = "plant/train.csv"      # relative to the data root
//! test = "plant/test.csv"
//! delimiter = ","                # one character; "\t" for tabs
//! timestamp = "timestamp"        # dropped; "" when no column is a timestamp
//! label = "is_anomaly"           # 0/1; required in the test file, optional in the train file
//! ```
//!
//! Every other column is a sensor, and the train and test files must hold the same sensor columns
//! in the same order. A NumPy dataset (`npy:<name>`) names three arrays saved with `numpy.save`:
//! `train` and `test` of shape (time steps, sensors) and `labels` of shape (test steps,) holding
//! 0 and 1.

use std::path::{Path, PathBuf};

use polars::prelude::*;
use serde::{Deserialize, Serialize};

use super::{Dataset, DatasetKind, DatasetSpec, LoadOptions, MissingValues, Series, npy};
use crate::error::{Error, Result};

/// A CSV dataset of the user's, as declared under `[data.csv.<name>]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CsvSource {
    /// Training file, relative to the data root.
    pub train: PathBuf,
    /// Test file, relative to the data root.
    pub test: PathBuf,
    /// Field separator: one character.
    #[serde(default = "default_delimiter")]
    pub delimiter: String,
    /// Name of the timestamp column, which is dropped; empty when there is none. A name that
    /// matches no column is an error, so that a timestamp is never read as a sensor.
    #[serde(default = "default_timestamp")]
    pub timestamp: String,
    /// Name of the 0/1 label column.
    #[serde(default = "default_label")]
    pub label: String,
}

fn default_delimiter() -> String {
    ",".into()
}

fn default_timestamp() -> String {
    "timestamp".into()
}

fn default_label() -> String {
    "is_anomaly".into()
}

impl CsvSource {
    /// Returns the files to check for before loading.
    pub fn files(&self) -> Vec<&Path> {
        vec![&self.train, &self.test]
    }

    /// Checks the delimiter and the column names.
    pub fn validate(&self, name: &str) -> Result<()> {
        let mut chars = self.delimiter.chars();
        match (chars.next(), chars.next()) {
            (Some(c), None) if c.is_ascii() && c != '"' && c != '\n' && c != '\r' => {}
            _ => {
                return Err(crate::config::setting(
                    &format!("data.csv.{name}.delimiter"),
                    format!("{:?}", self.delimiter),
                    "expected one ASCII character other than a quote or a line break, such as \
                     \",\", \";\" or \"\\t\"",
                ));
            }
        }
        if self.label.is_empty() {
            return Err(crate::config::setting(
                &format!("data.csv.{name}.label"),
                "\"\"",
                "the test file needs a label column; name it here (default \"is_anomaly\")",
            ));
        }
        if self.label == self.timestamp {
            return Err(crate::config::setting(
                &format!("data.csv.{name}.timestamp"),
                format!("{:?}", self.timestamp),
                "the timestamp and label columns must differ",
            ));
        }
        Ok(())
    }

    fn separator(&self) -> u8 {
        self.delimiter.as_bytes()[0]
    }
}

/// A NumPy dataset of the user's, as declared under `[data.npy.<name>]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NpySource {
    /// Training array, (time steps, sensors).
    pub train: PathBuf,
    /// Test array, (time steps, sensors).
    pub test: PathBuf,
    /// Test labels, (time steps,) of 0 and 1.
    pub labels: PathBuf,
}

impl NpySource {
    /// Returns the files to check for before loading.
    pub fn files(&self) -> Vec<&Path> {
        vec![&self.train, &self.test, &self.labels]
    }
}

/// One CSV file read into sensors and optional labels.
struct CsvTable {
    sensors: Vec<String>,
    series: Series,
    labels: Option<Vec<bool>>,
}

/// Checks the layout of a CSV text and returns it without trailing blank lines, with the header
/// names.
///
/// Rejected: line breaks made of CR alone, blank lines before the last row, a header that looks
/// split at the wrong delimiter, duplicate column names and rows with another number of fields
/// than the header.
fn check_layout<'a>(path: &Path, text: &'a str, separator: u8) -> Result<(&'a str, Vec<String>)> {
    let separator = separator as char;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text).trim_end();
    if text.contains('\r') && !text.contains('\n') {
        return Err(Error::data(
            path,
            None,
            "lines end in a carriage return alone; convert the line breaks to LF or CRLF",
        ));
    }

    let mut lines = text.lines().enumerate();
    let header = super::split_quoted(lines.next().map_or("", |(_, h)| h), separator);
    if header.iter().all(|h| h.trim().is_empty()) {
        return Err(Error::data(path, Some(1), "the header line is empty"));
    }

    if header.len() == 1
        && let Some(other) = [',', ';', '\t', '|']
            .iter()
            .find(|&&c| header[0].contains(c))
    {
        return Err(Error::data(
            path,
            Some(1),
            format!(
                "the header {:?} is one column when split at {separator:?} but contains \
                 {other:?}; set `delimiter` to the file's separator",
                header[0]
            ),
        ));
    }

    let mut seen = std::collections::BTreeSet::new();
    if let Some(duplicate) = header.iter().find(|h| !seen.insert(h.as_str())) {
        return Err(Error::data(
            path,
            Some(1),
            format!(
                "column {duplicate:?} appears twice in the header; give every column its own name"
            ),
        ));
    }

    for (index, line) in lines {
        if line.trim().is_empty() {
            return Err(Error::data(
                path,
                Some(index + 1),
                "the line is empty; remove it (blank lines are accepted only at the end)",
            ));
        }
        let fields = super::split_quoted(line, separator).len();
        if fields != header.len() {
            return Err(Error::data(
                path,
                Some(index + 1),
                format!(
                    "{fields} fields where the header has {}; every row needs one value per \
                     column (check the delimiter setting, now {separator:?})",
                    header.len()
                ),
            ));
        }
    }
    Ok((text, header))
}

fn polars_error(path: &Path, e: PolarsError) -> Error {
    Error::data(path, None, format!("cannot read the CSV: {e}"))
}

fn read_csv(path: &Path, source: &CsvSource, options: &LoadOptions) -> Result<CsvTable> {
    let text = super::read_text(path)?;
    let (text, header) = check_layout(path, &text, source.separator())?;
    let columns_list = || header.join(", ");
    if !source.timestamp.is_empty() && !header.contains(&source.timestamp) {
        return Err(Error::data(
            path,
            Some(1),
            format!(
                "no timestamp column {:?} among the columns [{}]; name the timestamp column in \
                 `timestamp`, or set `timestamp = \"\"` when the file has none",
                source.timestamp,
                columns_list()
            ),
        ));
    }
    // Every column is read as text and parsed here, so that each bad value is reported with its
    // line in the same words, whatever type the CSV reader would have inferred.
    let frame = CsvReadOptions::default()
        .with_has_header(true)
        .with_infer_schema_length(Some(0))
        .with_parse_options(CsvParseOptions::default().with_separator(source.separator()))
        .into_reader_with_file_handle(std::io::Cursor::new(text.as_bytes()))
        .finish()
        .map_err(|e| polars_error(path, e))?;
    let rows = frame.height();
    if rows == 0 {
        return Err(Error::data(path, None, "the file has a header but no rows"));
    }

    let mut sensors = Vec::new();
    let mut columns = Vec::new();
    let mut labels = None;
    for column in frame.columns() {
        let name = column.name().as_str();
        if !source.timestamp.is_empty() && name == source.timestamp {
            continue;
        }
        if name == source.label {
            labels = Some(label_values(path, column)?);
        } else {
            let values = numeric_column(path, column)?;
            sensors.push(name.to_owned());
            columns.push(values);
        }
    }
    if sensors.is_empty() {
        return Err(Error::data(
            path,
            Some(1),
            "no sensor column: every column is the timestamp or the label",
        ));
    }

    let cols = sensors.len();
    let mut values = vec![0f32; rows * cols];
    for (c, column) in columns.iter().enumerate() {
        for (r, value) in column.iter().enumerate() {
            if let Some(wide) = value.filter(|v| v.is_finite() && !(*v as f32).is_finite()) {
                return Err(Error::data(
                    path,
                    Some(r + 2),
                    super::beyond_f32(&format!("column {:?}", sensors[c]), wide),
                ));
            }
            let value = value.map_or(f32::NAN, |v| v as f32);
            if !value.is_finite() && options.missing == MissingValues::Reject {
                return Err(Error::data(
                    path,
                    Some(r + 2),
                    format!(
                        "column {:?} holds {}; remove such values, or set `missing = \
                         \"forward-fill\"` under [data] to replace them by the last finite value",
                        sensors[c],
                        if value.is_nan() && column[r].is_none() {
                            "an empty field".to_string()
                        } else {
                            value.to_string()
                        }
                    ),
                ));
            }
            values[r * cols + c] = value;
        }
    }
    let mut series = Series::new(values, rows, cols);
    super::handle_missing(&mut series, path, options.missing)?;
    Ok(CsvTable {
        sensors,
        series,
        labels,
    })
}

/// Converts a column to optional floats. Text that is not a number is an error naming its line.
fn numeric_column(path: &Path, column: &Column) -> Result<Vec<Option<f64>>> {
    let name = column.name().as_str();
    if let DataType::String = column.dtype() {
        let strings = column.str().map_err(|e| polars_error(path, e))?;
        for (r, value) in strings.iter().enumerate() {
            if let Some(text) = value
                && text.trim().parse::<f64>().is_err()
            {
                return Err(Error::data(
                    path,
                    Some(r + 2),
                    format!(
                        "column {name:?} holds {text:?}, which is not a number; write numbers \
                         with a decimal point, and name a timestamp column in `timestamp`"
                    ),
                ));
            }
        }
        return Ok(strings
            .iter()
            .map(|v| v.and_then(|t| t.trim().parse().ok()))
            .collect());
    }
    if !column.dtype().is_primitive_numeric() && !column.dtype().is_bool() {
        return Err(Error::data(
            path,
            None,
            format!(
                "column {name:?} has type {}, which is not numeric; a timestamp column must be \
                 named in `timestamp`",
                column.dtype()
            ),
        ));
    }
    let floats = column
        .cast(&DataType::Float64)
        .map_err(|e| polars_error(path, e))?;
    let floats = floats.f64().map_err(|e| polars_error(path, e))?;
    Ok(floats.iter().collect())
}

fn label_values(path: &Path, column: &Column) -> Result<Vec<bool>> {
    let name = column.name().as_str();
    let invalid = |line: usize, shown: String| {
        Error::data(
            path,
            Some(line),
            format!("label column {name:?} holds {shown}; labels must be 0 or 1"),
        )
    };
    if let DataType::String = column.dtype() {
        let strings = column.str().map_err(|e| polars_error(path, e))?;
        return strings
            .iter()
            .enumerate()
            .map(|(r, value)| match value.map(str::trim) {
                Some("0" | "0.0") => Ok(false),
                Some("1" | "1.0") => Ok(true),
                Some(other) => Err(invalid(r + 2, format!("{other:?}"))),
                None => Err(invalid(r + 2, "an empty field".into())),
            })
            .collect();
    }
    numeric_column(path, column)?
        .iter()
        .enumerate()
        .map(|(r, value)| match value {
            Some(v) if *v == 0.0 => Ok(false),
            Some(v) if *v == 1.0 => Ok(true),
            Some(v) => Err(invalid(r + 2, v.to_string())),
            None => Err(invalid(r + 2, "an empty field".into())),
        })
        .collect()
}

fn warn_labelled_training(path: &Path, labels: Option<&[bool]>) {
    let anomalous = labels.map_or(0, |l| l.iter().filter(|&&a| a).count());
    if anomalous > 0 {
        tracing::warn!(
            path = %path.display(),
            rows = anomalous,
            "training rows labelled anomalous are kept: the models treat training data as normal"
        );
    }
}

/// Loads a CSV dataset of the user's.
pub fn load_csv(
    data_dir: &Path,
    name: &str,
    source: &CsvSource,
    options: &LoadOptions,
) -> Result<Dataset> {
    let train_path = data_dir.join(&source.train);
    let test_path = data_dir.join(&source.test);
    let train = read_csv(&train_path, source, options)?;
    let test = read_csv(&test_path, source, options)?;
    let test_labels = test.labels.ok_or_else(|| {
        Error::data(
            &test_path,
            Some(1),
            format!(
                "no label column {:?} among the columns [{}]; add one holding 0 or 1 per row, or \
                 name the right column in `label`",
                source.label,
                test.sensors.join(", ")
            ),
        )
    })?;
    if train.sensors != test.sensors {
        return Err(Error::data(
            &test_path,
            Some(1),
            format!(
                "sensor columns [{}] differ from those of {} [{}]; both files must hold the \
                 same sensors in the same order",
                test.sensors.join(", "),
                train_path.display(),
                train.sensors.join(", ")
            ),
        ));
    }
    warn_labelled_training(&train_path, train.labels.as_deref());
    Ok(Dataset {
        spec: DatasetSpec {
            kind: DatasetKind::Csv,
            entity: Some(name.to_owned()),
        },
        sensor_names: train.sensors,
        train: train.series,
        test: test.series,
        test_labels,
        segments: Vec::new(),
    })
}

fn npy_series(path: &Path, options: &LoadOptions) -> Result<Series> {
    let array = npy::read(path)?;
    if array.shape.len() != 2 {
        return Err(Error::data(
            path,
            None,
            format!(
                "the array has shape ({},); expected (time steps, sensors), for one sensor \
                 save x.reshape(-1, 1)",
                array.shape[0]
            ),
        ));
    }
    let (rows, cols) = array.rows_cols();
    if rows == 0 || cols == 0 {
        return Err(Error::data(
            path,
            None,
            format!("the array is empty ({rows}, {cols})"),
        ));
    }
    let values = super::narrow_to_f32(path, &array.values, cols)?;
    let mut series = Series::new(values, rows, cols);
    super::handle_missing(&mut series, path, options.missing)?;
    Ok(series)
}

/// Loads a NumPy dataset of the user's.
pub fn load_npy(
    data_dir: &Path,
    name: &str,
    source: &NpySource,
    options: &LoadOptions,
) -> Result<Dataset> {
    let train_path = data_dir.join(&source.train);
    let test_path = data_dir.join(&source.test);
    let labels_path = data_dir.join(&source.labels);
    let train = npy_series(&train_path, options)?;
    let test = npy_series(&test_path, options)?;
    super::check_same_sensors(&train, &train_path, &test, &test_path)?;
    let labels = npy::read(&labels_path)?;
    let (label_rows, label_cols) = labels.rows_cols();
    if label_cols != 1 || label_rows != test.rows {
        return Err(Error::data(
            &labels_path,
            None,
            format!(
                "labels have shape {:?} but the test array has {} time steps; expected ({},)",
                labels.shape, test.rows, test.rows
            ),
        ));
    }
    let test_labels = labels
        .values
        .iter()
        .enumerate()
        .map(|(i, &v)| match v {
            0.0 => Ok(false),
            1.0 => Ok(true),
            other => Err(Error::data(
                &labels_path,
                None,
                format!("index {i} holds {other}; labels must be 0 or 1"),
            )),
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Dataset {
        spec: DatasetSpec {
            kind: DatasetKind::Npy,
            entity: Some(name.to_owned()),
        },
        sensor_names: (0..train.cols).map(|c| format!("sensor{c}")).collect(),
        train,
        test,
        test_labels,
        segments: Vec::new(),
    })
}
