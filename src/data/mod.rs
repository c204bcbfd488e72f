//! Datasets: loading, the synthetic generator and preparation into windows.
//!
//! A dataset *entity* is one training series and one labelled test series with the same sensors,
//! such as one SMD machine. [`DatasetSelector`] is what an experiment file names (`"smd"` selects
//! every machine present); [`resolve`] turns selectors into [`DatasetSpec`]s, checking that the
//! data exists before any training starts, and [`load`] reads one entity.

pub mod describe;
pub mod fetch;
pub mod npy;
pub mod prep;
pub mod smd;
pub mod synthetic;
pub mod telemanom;
pub mod tep;
pub mod user;

use std::collections::BTreeMap;
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
    /// NASA Mars Science Laboratory telemetry (telemanom), read by [`telemanom`].
    Msl,
    /// NASA Soil Moisture Active Passive telemetry, same layout as MSL.
    Smap,
    /// The Tennessee Eastman Process (Braatz data), read by [`tep`].
    Tep,
    /// The user's own CSV files, declared under `[data.csv.<name>]`, read by [`user`].
    Csv,
    /// The user's own NumPy arrays, declared under `[data.npy.<name>]`, read by [`user`].
    Npy,
}

impl DatasetKind {
    /// The family name used in experiment files, such as `smd`.
    pub fn family(self) -> &'static str {
        match self {
            DatasetKind::Synthetic => "synthetic",
            DatasetKind::Smd => "smd",
            DatasetKind::Msl => "msl",
            DatasetKind::Smap => "smap",
            DatasetKind::Tep => "tep",
            DatasetKind::Csv => "csv",
            DatasetKind::Npy => "npy",
        }
    }
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
        self.kind.family()
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

/// A dataset as named in an experiment file: a family alone (`smd`, every entity present) or
/// `family:entity` (`smd:machine-1-5`, `msl:C-1`, `tep:01`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatasetSelector {
    pub kind: DatasetKind,
    pub entity: Option<String>,
}

const SELECTOR_HELP: &str = "expected `synthetic`, or `smd`, `msl`, `smap` or `tep`, alone for \
                             every entity or as `family:entity` such as `smd:machine-1-1`, \
                             `msl:C-1` or `tep:01`, or `csv:<name>` / `npy:<name>` for a \
                             dataset declared under [data.csv.<name>] / [data.npy.<name>]";

impl FromStr for DatasetSelector {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        let (family, entity) = match text.split_once(':') {
            Some((family, entity)) => (family, Some(entity)),
            None => (text, None),
        };
        let invalid =
            || crate::config::setting("sweep.dataset", format!("{text:?}"), SELECTOR_HELP);
        let kind = match family {
            "synthetic" => DatasetKind::Synthetic,
            "smd" => DatasetKind::Smd,
            "msl" => DatasetKind::Msl,
            "smap" => DatasetKind::Smap,
            "tep" => DatasetKind::Tep,
            "csv" => DatasetKind::Csv,
            "npy" => DatasetKind::Npy,
            _ => return Err(invalid()),
        };
        match entity {
            None if matches!(kind, DatasetKind::Csv | DatasetKind::Npy) => Err(invalid()),
            None => Ok(DatasetSelector { kind, entity: None }),
            Some(_) if kind == DatasetKind::Synthetic => Err(invalid()),
            Some(entity) if is_entity_name(entity) => Ok(DatasetSelector {
                kind,
                entity: Some(entity.to_owned()),
            }),
            Some(_) => Err(invalid()),
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
    settings: &DataSettings,
    skip_missing: bool,
) -> Result<Vec<DatasetSpec>> {
    let mut specs = Vec::new();
    let mut missing = Vec::new();
    let mut first_missing = None;
    for selector in selectors {
        match resolve_one(selector, data_dir, settings) {
            Ok(found) => specs.extend(found),
            Err(e @ Error::DatasetMissing { .. }) if skip_missing => {
                tracing::warn!(error = %e, "dataset left out because it is missing");
            }
            Err(e @ Error::DatasetMissing { .. }) => {
                let label = match &selector.entity {
                    Some(entity) => format!("{}:{entity}", selector.kind.family()),
                    None => selector.kind.family().to_owned(),
                };
                first_missing.get_or_insert(e);
                missing.push((label, selector.kind.family()));
            }
            Err(e) => return Err(e),
        }
    }
    // Name every missing dataset at once, so that one download round fixes them all.
    if missing.len() > 1 {
        let names: Vec<String> = missing.iter().map(|(label, _)| label.clone()).collect();
        let mut families: Vec<&str> = missing.iter().map(|(_, family)| *family).collect();
        families.dedup();
        let fetches: Vec<String> = families
            .iter()
            .map(|f| format!("`sparse-lstm-ad datasets fetch {f}`"))
            .collect();
        return Err(Error::DatasetMissing {
            name: names.join("`, `"),
            path: data_dir.to_owned(),
            hint: format!(
                "Fetch them with {}, point `data_dir` or `--data-dir` at a folder that holds \
                 them, or pass `--skip-missing` to run the others (see datasets/README.md)",
                fetches.join(", ")
            ),
        });
    }
    if let Some(e) = first_missing {
        return Err(e);
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

fn resolve_one(
    selector: &DatasetSelector,
    data_dir: &Path,
    settings: &DataSettings,
) -> Result<Vec<DatasetSpec>> {
    let kind = selector.kind;
    let entities = match (kind, &selector.entity) {
        (DatasetKind::Synthetic, _) => return Ok(vec![DatasetSpec::synthetic()]),
        (DatasetKind::Csv | DatasetKind::Npy, Some(name)) => {
            settings.check_declared(kind, name, data_dir)?;
            vec![name.clone()]
        }
        (DatasetKind::Csv | DatasetKind::Npy, None) => {
            unreachable!("selectors of user datasets always name one")
        }
        (DatasetKind::Smd, Some(machine)) => {
            smd::check_machine(data_dir, machine)?;
            vec![machine.clone()]
        }
        (DatasetKind::Smd, None) => smd::list_machines(data_dir)?,
        (DatasetKind::Tep, Some(fault)) => vec![tep::check_fault(data_dir, fault)?],
        (DatasetKind::Tep, None) => tep::list_faults(data_dir)?,
        (DatasetKind::Msl | DatasetKind::Smap, entity) => {
            let channels = telemanom::list_channels(data_dir, kind)?;
            match entity {
                Some(channel) if channels.contains(channel) => vec![channel.clone()],
                Some(channel) => {
                    return Err(Error::DatasetMissing {
                        name: format!("{}:{channel}", kind.family()),
                        path: telemanom::root(data_dir, kind),
                        hint: format!("channels present: {}", channels.join(", ")),
                    });
                }
                None => channels,
            }
        }
    };
    Ok(entities
        .into_iter()
        .map(|entity| DatasetSpec {
            kind,
            entity: Some(entity),
        })
        .collect())
}

/// Loads one entity. The synthetic set is generated from `seed`.
pub fn load(
    spec: &DatasetSpec,
    data_dir: &Path,
    settings: &DataSettings,
    synthetic: Option<&SyntheticSettings>,
    seed: u64,
) -> Result<Dataset> {
    let entity = || {
        spec.entity
            .as_deref()
            .expect("resolved specs of real datasets always name an entity")
    };
    match spec.kind {
        DatasetKind::Synthetic => {
            let settings = synthetic.cloned().unwrap_or_default();
            Ok(synthetic::generate(&settings, seed))
        }
        DatasetKind::Smd => smd::load_machine(data_dir, entity(), &settings.load_options()),
        DatasetKind::Tep => tep::load_fault(data_dir, entity(), &settings.load_options()),
        DatasetKind::Msl | DatasetKind::Smap => {
            telemanom::load_channel(data_dir, spec.kind, entity(), &settings.load_options())
        }
        DatasetKind::Csv => {
            let source = settings
                .csv
                .get(entity())
                .expect("resolved user datasets are declared");
            user::load_csv(data_dir, entity(), source, &settings.load_options())
        }
        DatasetKind::Npy => {
            let source = settings
                .npy
                .get(entity())
                .expect("resolved user datasets are declared");
            user::load_npy(data_dir, entity(), source, &settings.load_options())
        }
    }
}

/// Rule for NaN or infinite values in the data files.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MissingValues {
    /// Stop with an error naming the first such value.
    #[default]
    Reject,
    /// Replace each by the last finite value of its sensor (a leading run takes the first finite
    /// value), and log a warning with the count.
    ForwardFill,
}

/// Options every loader follows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoadOptions {
    pub missing: MissingValues,
}

/// The `[data]` table of an experiment file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSettings {
    /// NaN and infinite values: `reject` (the default) or `forward-fill`.
    #[serde(default)]
    pub missing: MissingValues,
    /// The user's CSV datasets by name, selected as `csv:<name>`.
    #[serde(default)]
    pub csv: BTreeMap<String, user::CsvSource>,
    /// The user's NumPy datasets by name, selected as `npy:<name>`.
    #[serde(default)]
    pub npy: BTreeMap<String, user::NpySource>,
}

impl DataSettings {
    /// Returns the options handed to every loader.
    pub fn load_options(&self) -> LoadOptions {
        LoadOptions {
            missing: self.missing,
        }
    }

    /// Checks the declared user datasets: names and delimiters.
    pub fn validate(&self) -> Result<()> {
        for name in self.csv.keys().chain(self.npy.keys()) {
            if !is_entity_name(name) {
                return Err(crate::config::setting(
                    "data.csv / data.npy",
                    format!("{name:?}"),
                    "dataset names may hold letters, digits, `-`, `_` and `.`",
                ));
            }
        }
        for (name, source) in &self.csv {
            source.validate(name)?;
        }
        Ok(())
    }

    /// Checks that a user dataset is declared and its files exist.
    fn check_declared(&self, kind: DatasetKind, name: &str, data_dir: &Path) -> Result<()> {
        let family = kind.family();
        let declared: Vec<&String> = match kind {
            DatasetKind::Csv => self.csv.keys().collect(),
            _ => self.npy.keys().collect(),
        };
        if !declared.iter().any(|d| *d == name) {
            return Err(crate::config::setting(
                "sweep.dataset",
                format!("\"{family}:{name}\""),
                format!(
                    "no [data.{family}.{name}] table declares it; declared {family} datasets: {}",
                    if declared.is_empty() {
                        "none".to_string()
                    } else {
                        declared
                            .iter()
                            .map(|d| d.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    }
                ),
            ));
        }
        let files = match kind {
            DatasetKind::Csv => self.csv[name].files(),
            _ => self.npy[name].files(),
        };
        for file in files {
            let path = data_dir.join(file);
            if !path.is_file() {
                return Err(Error::DatasetMissing {
                    name: format!("{family}:{name}"),
                    path,
                    hint: format!(
                        "paths in [data.{family}.{name}] are relative to the data root {}",
                        data_dir.display()
                    ),
                });
            }
        }
        Ok(())
    }
}

/// Describes a finite value too large for `f32`, which every series is stored in.
pub(crate) fn beyond_f32(column: &str, value: f64) -> String {
    format!(
        "{column} holds {value:e}, beyond the range of f32 (about ±3.4e38); rescale the column, \
         for example to other units"
    )
}

/// Converts the row-major `f64` values of an array read from `path` to `f32`, failing on the
/// first finite value beyond the range of `f32` (its position counted from 0, as in NumPy).
pub(crate) fn narrow_to_f32(path: &Path, values: &[f64], cols: usize) -> Result<Vec<f32>> {
    if let Some(index) = values
        .iter()
        .position(|v| v.is_finite() && !(*v as f32).is_finite())
    {
        let (row, col) = (index / cols.max(1), index % cols.max(1));
        let place = format!("row {row}, column {col} (both counting from 0)");
        return Err(Error::data(path, None, beyond_f32(&place, values[index])));
    }
    Ok(values.iter().map(|&v| v as f32).collect())
}

/// Applies the missing-value rule to a series read from `path`.
///
/// Rejecting names the first non-finite value by row and column, both counted from 0 as NumPy
/// does, and the message states this. Filling returns how many values were replaced. A sensor with no finite value at all cannot be
/// filled and is an error either way.
pub fn handle_missing(series: &mut Series, path: &Path, missing: MissingValues) -> Result<usize> {
    let Some(first) = series.values.iter().position(|v| !v.is_finite()) else {
        return Ok(0);
    };
    let (row, col) = (first / series.cols, first % series.cols);
    if missing == MissingValues::Reject {
        return Err(Error::data(
            path,
            None,
            format!(
                "row {row}, column {col} (both counting from 0) holds {}; remove such values, or \
                 set `missing = \"forward-fill\"` under [data] to replace them by the last \
                 finite value",
                series.values[first]
            ),
        ));
    }
    let mut filled = 0;
    for c in 0..series.cols {
        let column = (0..series.rows).map(|r| series.values[r * series.cols + c]);
        let Some(mut last) = column.clone().find(|v| v.is_finite()) else {
            return Err(Error::data(
                path,
                None,
                format!(
                    "column {c} (counting from 0) holds no finite value, so it cannot be filled; \
                     remove it"
                ),
            ));
        };
        for r in 0..series.rows {
            let v = &mut series.values[r * series.cols + c];
            if v.is_finite() {
                last = *v;
            } else {
                *v = last;
                filled += 1;
            }
        }
    }
    tracing::warn!(
        path = %path.display(),
        values = filled,
        "non-finite values replaced by the last finite value of their sensor"
    );
    Ok(filled)
}

/// Parses a text file of delimited numbers into a series, naming the line of every problem.
///
/// Fields are split at `delimiter`, or at runs of whitespace when it is `None`. Rows must all
/// have the same number of fields. Non-finite values follow `options.missing`.
pub fn parse_numeric_table(
    path: &Path,
    text: &str,
    delimiter: Option<char>,
    options: &LoadOptions,
) -> Result<Series> {
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
        let fields: Box<dyn Iterator<Item = &str>> = match delimiter {
            Some(delimiter) => Box::new(line.split(delimiter)),
            None => Box::new(line.split_whitespace()),
        };
        for (col, field) in fields.enumerate() {
            let field = field.trim();
            let wide: f64 = field.parse().map_err(|_| {
                Error::data(
                    path,
                    Some(line_number),
                    format!("column {} holds {field:?}, which is not a number", col + 1),
                )
            })?;
            let value = wide as f32;
            if wide.is_finite() && !value.is_finite() {
                return Err(Error::data(
                    path,
                    Some(line_number),
                    beyond_f32(&format!("column {}", col + 1), wide),
                ));
            }
            if !value.is_finite() && options.missing == MissingValues::Reject {
                return Err(Error::data(
                    path,
                    Some(line_number),
                    format!(
                        "column {} holds {field}; remove such values, or set `missing = \
                         \"forward-fill\"` under [data] to replace them by the last finite \
                         value",
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
    let mut series = Series::new(values, rows, cols);
    handle_missing(&mut series, path, options.missing)?;
    Ok(series)
}

/// Splits a line at `separator` outside double quotes and removes the quotes.
pub(crate) fn split_quoted(line: &str, separator: char) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => quoted = !quoted,
            c if c == separator && !quoted => fields.push(String::new()),
            c => fields.last_mut().expect("never empty").push(c),
        }
    }
    fields
}

/// Checks that a test series has as many sensors as its training series.
pub(crate) fn check_same_sensors(
    train: &Series,
    train_path: &Path,
    test: &Series,
    test_path: &Path,
) -> Result<()> {
    if train.cols == test.cols {
        return Ok(());
    }
    Err(Error::data(
        test_path,
        None,
        format!(
            "test has {} sensors but train ({}) has {}; both must hold the same sensors",
            test.cols,
            train_path.display(),
            train.cols
        ),
    ))
}

/// Names of the files in `dir` that end in `suffix`, with the suffix removed, sorted; `None`
/// when the folder cannot be read.
pub(crate) fn file_stems(dir: &Path, suffix: &str) -> Option<Result<Vec<String>>> {
    let entries = std::fs::read_dir(dir).ok()?;
    let mut stems = Vec::new();
    for entry in entries {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) => return Some(Err(Error::io(dir, e))),
        };
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(stem) = name.strip_suffix(suffix) {
            stems.push(stem.to_owned());
        }
    }
    stems.sort();
    Some(Ok(stems))
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
        let parsed = |text: &str| text.parse::<DatasetSelector>().unwrap();
        let selector = |kind, entity: Option<&str>| DatasetSelector {
            kind,
            entity: entity.map(String::from),
        };
        assert_eq!(parsed("synthetic"), selector(DatasetKind::Synthetic, None));
        assert_eq!(parsed("smd"), selector(DatasetKind::Smd, None));
        assert_eq!(
            parsed("smd:machine-1-5"),
            selector(DatasetKind::Smd, Some("machine-1-5"))
        );
        assert_eq!(parsed("msl:C-1"), selector(DatasetKind::Msl, Some("C-1")));
        assert_eq!(parsed("tep:01"), selector(DatasetKind::Tep, Some("01")));
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
        let parse = |text| parse_numeric_table(path, text, Some(','), &LoadOptions::default());
        let series = parse("1,2\n3,1e-05\n").unwrap();
        assert_eq!(series.rows, 2);
        assert_eq!(series.cols, 2);
        assert_eq!(series.row(1), &[3.0, 1e-5]);
        let err = parse("1,2\n3\n").unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
        let err = parse("1,2\n3,x\n").unwrap_err();
        assert!(err.to_string().contains("\"x\""), "{err}");
        let err = parse("1,NaN\n").unwrap_err();
        assert!(err.to_string().contains("line 1"), "{err}");
        assert!(parse("\n").is_err());
        let series = parse_numeric_table(path, "1 2\n3  4\n", None, &LoadOptions::default());
        assert_eq!(series.unwrap().values, vec![1.0, 2.0, 3.0, 4.0]);
    }

    #[test]
    fn forward_fill_replaces_non_finite_values() {
        let path = Path::new("t.txt");
        let fill = LoadOptions {
            missing: MissingValues::ForwardFill,
        };
        let series = parse_numeric_table(path, "nan,1\n2,inf\n3,NaN\n", Some(','), &fill);
        assert_eq!(series.unwrap().values, vec![2.0, 1.0, 2.0, 1.0, 3.0, 1.0]);
        let err = parse_numeric_table(path, "nan,1\nnan,2\n", Some(','), &fill).unwrap_err();
        assert!(
            err.to_string()
                .contains("column 0 (counting from 0) holds no finite value"),
            "{err}"
        );
        let mut series = Series::new(vec![1.0, f32::NAN], 1, 2);
        let err = handle_missing(&mut series, path, MissingValues::Reject).unwrap_err();
        assert!(
            err.to_string()
                .contains("row 0, column 1 (both counting from 0) holds NaN"),
            "{err}"
        );
    }
}
