//! Datasets: loading, the synthetic generator and preparation into windows.
//!
//! A dataset *entity* is one training series and one labelled test series with the same sensors,
//! such as one SMD machine. [`DatasetSelector`] is what an experiment file names (`"smd"` selects
//! every machine present); [`resolve`] turns selectors into [`DatasetSpec`]s, checking that the
//! data exists before any training starts, and [`load`] reads one entity.

pub mod prep;
pub mod smd;
pub mod synthetic;

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use synthetic::SyntheticSettings;

/// A multivariate series, row-major: `rows` time steps of `cols` sensors.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub values: Vec<f32>,
    pub rows: usize,
    pub cols: usize,
}

impl Series {
    /// Wraps row-major values; `values.len()` must equal `rows * cols`.
    pub fn new(values: Vec<f32>, rows: usize, cols: usize) -> Series {
        assert_eq!(
            values.len(),
            rows * cols,
            "series values must fill rows x cols"
        );
        Series { values, rows, cols }
    }

    /// The sensor values at time step `t`.
    pub fn row(&self, t: usize) -> &[f32] {
        &self.values[t * self.cols..(t + 1) * self.cols]
    }

    /// The time steps `start..end` as a new series.
    pub fn rows_range(&self, start: usize, end: usize) -> Series {
        Series::new(
            self.values[start * self.cols..end * self.cols].to_vec(),
            end - start,
            self.cols,
        )
    }
}

/// An anomalous segment of a test series with the sensors blamed for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnomalySegment {
    /// First test row of the segment.
    pub start: usize,
    /// Last test row of the segment (inclusive).
    pub end: usize,
    /// 0-based indices of the blamed sensors.
    pub sensors: Vec<usize>,
}

/// One loaded dataset entity.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub spec: DatasetSpec,
    pub sensor_names: Vec<String>,
    pub train: Series,
    pub test: Series,
    /// One label per test row, `true` for anomalous.
    pub test_labels: Vec<bool>,
    /// Blamed sensors per anomalous segment, where the dataset provides them.
    pub segments: Vec<AnomalySegment>,
}

/// The dataset families this crate reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DatasetKind {
    /// The seeded generator of [`synthetic`].
    Synthetic,
    /// The Server Machine Dataset (OmniAnomaly), read by [`smd`].
    Smd,
}

/// One dataset entity of a run.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct DatasetSpec {
    pub kind: DatasetKind,
    /// Entity within the family, such as `machine-1-5`; `None` for the synthetic set.
    pub entity: Option<String>,
}

impl DatasetSpec {
    /// The synthetic dataset.
    pub fn synthetic() -> DatasetSpec {
        DatasetSpec {
            kind: DatasetKind::Synthetic,
            entity: None,
        }
    }

    /// Whether this is the synthetic dataset.
    pub fn is_synthetic(&self) -> bool {
        self.kind == DatasetKind::Synthetic
    }

    /// The family name, such as `smd`.
    pub fn family(&self) -> &'static str {
        match self.kind {
            DatasetKind::Synthetic => "synthetic",
            DatasetKind::Smd => "smd",
        }
    }

    /// `family:entity`, or the family alone when there is no entity.
    pub fn label(&self) -> String {
        match &self.entity {
            Some(entity) => format!("{}:{entity}", self.family()),
            None => self.family().to_owned(),
        }
    }
}

impl fmt::Display for DatasetSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label())
    }
}

/// A dataset as named in an experiment file: `synthetic`, `smd` (every machine) or
/// `smd:<machine>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatasetSelector {
    Synthetic,
    Smd { machine: Option<String> },
}

const SELECTOR_HELP: &str =
    "expected `synthetic`, `smd` or `smd:<machine>` such as `smd:machine-1-1`";

impl FromStr for DatasetSelector {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        let (family, entity) = match text.split_once(':') {
            Some((family, entity)) => (family, Some(entity)),
            None => (text, None),
        };
        let invalid =
            || crate::config::setting("sweep.dataset", format!("{text:?}"), SELECTOR_HELP);
        match (family, entity) {
            ("synthetic", None) => Ok(DatasetSelector::Synthetic),
            ("smd", None) => Ok(DatasetSelector::Smd { machine: None }),
            ("smd", Some(machine)) if is_entity_name(machine) => Ok(DatasetSelector::Smd {
                machine: Some(machine.to_owned()),
            }),
            _ => Err(invalid()),
        }
    }
}

/// Entity names become file names, so they may not contain path separators.
fn is_entity_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
}

/// Resolves selectors into entities, checking that their files exist under `data_dir`.
///
/// Every problem is found here, before any training starts, and a missing dataset's error says
/// where to get it. With `skip_missing`, a missing dataset is left out with a warning instead.
pub fn resolve(
    selectors: &[DatasetSelector],
    data_dir: &Path,
    skip_missing: bool,
) -> Result<Vec<DatasetSpec>> {
    let mut specs = Vec::new();
    for selector in selectors {
        match resolve_one(selector, data_dir) {
            Ok(found) => specs.extend(found),
            Err(e @ Error::DatasetMissing { .. }) if skip_missing => {
                tracing::warn!(error = %e, "dataset left out because it is missing");
            }
            Err(e) => return Err(e),
        }
    }
    specs.dedup();
    if specs.is_empty() {
        return Err(Error::data(
            data_dir,
            None,
            "none of the sweep's datasets is present, so nothing is left to run; see \
             datasets/README.md",
        ));
    }
    Ok(specs)
}

fn resolve_one(selector: &DatasetSelector, data_dir: &Path) -> Result<Vec<DatasetSpec>> {
    match selector {
        DatasetSelector::Synthetic => Ok(vec![DatasetSpec::synthetic()]),
        DatasetSelector::Smd { machine } => {
            let machines = match machine {
                Some(machine) => {
                    smd::check_machine(data_dir, machine)?;
                    vec![machine.clone()]
                }
                None => smd::list_machines(data_dir)?,
            };
            Ok(machines
                .into_iter()
                .map(|m| DatasetSpec {
                    kind: DatasetKind::Smd,
                    entity: Some(m),
                })
                .collect())
        }
    }
}

/// Loads one entity. The synthetic set is generated from `seed`.
pub fn load(
    spec: &DatasetSpec,
    data_dir: &Path,
    synthetic: Option<&SyntheticSettings>,
    seed: u64,
) -> Result<Dataset> {
    match spec.kind {
        DatasetKind::Synthetic => {
            let settings = synthetic.cloned().unwrap_or_default();
            Ok(synthetic::generate(&settings, seed))
        }
        DatasetKind::Smd => {
            let machine = spec
                .entity
                .as_deref()
                .expect("resolved SMD specs always name a machine");
            smd::load_machine(data_dir, machine)
        }
    }
}

/// Parses a text file of delimited numbers into a series, naming the line of every problem.
///
/// Rows must all have the same number of fields, and every value must be finite.
pub fn parse_numeric_table(path: &Path, text: &str, delimiter: char) -> Result<Series> {
    let mut values = Vec::new();
    let mut cols = 0;
    let mut rows = 0;
    for (index, line) in text.lines().enumerate() {
        let line_number = index + 1;
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let before = values.len();
        for (col, field) in line.split(delimiter).enumerate() {
            let field = field.trim();
            let value: f32 = field.parse().map_err(|_| {
                Error::data(
                    path,
                    Some(line_number),
                    format!("column {} holds {field:?}, which is not a number", col + 1),
                )
            })?;
            if !value.is_finite() {
                return Err(Error::data(
                    path,
                    Some(line_number),
                    format!(
                        "column {} holds {field}; remove or impute non-finite values",
                        col + 1
                    ),
                ));
            }
            values.push(value);
        }
        let width = values.len() - before;
        if rows == 0 {
            cols = width;
        } else if width != cols {
            return Err(Error::data(
                path,
                Some(line_number),
                format!("row has {width} columns but the first row has {cols}"),
            ));
        }
        rows += 1;
    }
    if rows == 0 {
        return Err(Error::data(path, None, "file holds no rows"));
    }
    Ok(Series::new(values, rows, cols))
}

/// Reads a file to a string, mapping the error to one that names the path.
pub(crate) fn read_text(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| Error::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selector_parses_families() {
        assert_eq!(
            "synthetic".parse::<DatasetSelector>().unwrap(),
            DatasetSelector::Synthetic
        );
        assert_eq!(
            "smd".parse::<DatasetSelector>().unwrap(),
            DatasetSelector::Smd { machine: None }
        );
        assert_eq!(
            "smd:machine-1-5".parse::<DatasetSelector>().unwrap(),
            DatasetSelector::Smd {
                machine: Some("machine-1-5".into())
            }
        );
    }

    #[test]
    fn selector_rejects_paths_and_unknown() {
        for text in ["smd:../etc", "smd:", "mnist", "synthetic:x", "smd:a/b"] {
            assert!(
                text.parse::<DatasetSelector>().is_err(),
                "{text} should be rejected"
            );
        }
    }

    #[test]
    fn table_parse_reports_line() {
        let path = Path::new("t.txt");
        let series = parse_numeric_table(path, "1,2\n3,1e-05\n", ',').unwrap();
        assert_eq!(series.rows, 2);
        assert_eq!(series.cols, 2);
        assert_eq!(series.row(1), &[3.0, 1e-5]);
        let err = parse_numeric_table(path, "1,2\n3\n", ',').unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
        let err = parse_numeric_table(path, "1,2\n3,x\n", ',').unwrap_err();
        assert!(err.to_string().contains("\"x\""), "{err}");
        let err = parse_numeric_table(path, "1,NaN\n", ',').unwrap_err();
        assert!(err.to_string().contains("line 1"), "{err}");
        assert!(parse_numeric_table(path, "\n", ',').is_err());
    }
}
