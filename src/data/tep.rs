//! The Tennessee Eastman Process data of Braatz et al., in its published layout.
//!
//! ```text
//! <data_dir>/tep/d00.dat      normal run, 500 samples, stored transposed: 52 rows of 500 values
//! <data_dir>/tep/dNN_te.dat   test run under fault NN (01..21), 960 rows of 52 values
//! ```
//!
//! Values are separated by whitespace. Each entity is one fault: the model trains on the normal
//! run `d00.dat` and is tested on `dNN_te.dat`, whose first [`FAULT_ONSET`] samples are normal
//! and the rest faulty. The faulty training runs `dNN.dat` are not used, because training data
//! must be normal. `d00_te.dat` contains no anomaly, so no metric exists for it and it is not an
//! entity.

use std::path::{Path, PathBuf};

use super::{Dataset, DatasetKind, DatasetSpec, LoadOptions, Series, parse_numeric_table};
use crate::error::{Error, Result};

/// Test samples before the fault is introduced.
pub const FAULT_ONSET: usize = 160;

/// Rows of each published test run.
const PUBLISHED_TEST_ROWS: usize = 960;

const HINT: &str = "Download the Braatz TEP files (d00.dat and dNN_te.dat) and place them in \
                    <data_dir>/tep (see datasets/README.md, or run `sparse-lstm-ad datasets \
                    fetch tep`)";

/// Returns the folder of the TEP copy under a data root.
pub fn root(data_dir: &Path) -> PathBuf {
    data_dir.join("tep")
}

fn test_file(data_dir: &Path, fault: &str) -> PathBuf {
    root(data_dir).join(format!("d{fault}_te.dat"))
}

/// Lists the faults (`01` to `21`) whose test file is present, with the normal run checked.
pub fn list_faults(data_dir: &Path) -> Result<Vec<String>> {
    let train = root(data_dir).join("d00.dat");
    if !train.is_file() {
        return Err(Error::DatasetMissing {
            name: "tep".into(),
            path: train,
            hint: HINT.into(),
        });
    }
    let faults: Vec<String> = (1..=21)
        .map(|n| format!("{n:02}"))
        .filter(|fault| test_file(data_dir, fault).is_file())
        .collect();
    if faults.is_empty() {
        return Err(Error::DatasetMissing {
            name: "tep".into(),
            path: root(data_dir),
            hint: format!("no test file d01_te.dat to d21_te.dat. {HINT}"),
        });
    }
    Ok(faults)
}

/// Checks that a fault exists and returns its two-digit name (`1` becomes `01`).
pub fn check_fault(data_dir: &Path, fault: &str) -> Result<String> {
    let number = fault.parse::<u32>().ok().filter(|n| (1..=21).contains(n));
    let Some(number) = number else {
        return Err(Error::DatasetMissing {
            name: format!("tep:{fault}"),
            path: root(data_dir),
            hint: "TEP faults are numbered 01 to 21 (fault 00, the normal test run, has no \
                   anomaly to detect)"
                .into(),
        });
    };
    let name = format!("{number:02}");
    let faults = list_faults(data_dir)?;
    if !faults.contains(&name) {
        return Err(Error::DatasetMissing {
            name: format!("tep:{fault}"),
            path: test_file(data_dir, &name),
            hint: format!("faults present: {}", faults.join(", ")),
        });
    }
    Ok(name)
}

/// Names of the 52 process variables: 41 measurements, then 11 manipulated variables.
fn sensor_names(cols: usize) -> Vec<String> {
    if cols == 52 {
        (1..=41)
            .map(|i| format!("xmeas{i}"))
            .chain((1..=11).map(|i| format!("xmv{i}")))
            .collect()
    } else {
        (1..=cols).map(|c| format!("var{c}")).collect()
    }
}

/// Loads one fault.
pub fn load_fault(data_dir: &Path, fault: &str, options: &LoadOptions) -> Result<Dataset> {
    let fault = check_fault(data_dir, fault)?;
    let train_path = root(data_dir).join("d00.dat");
    let test_path = test_file(data_dir, &fault);
    let test = parse_numeric_table(&test_path, &super::read_text(&test_path)?, None, options)?;
    let stored = parse_numeric_table(&train_path, &super::read_text(&train_path)?, None, options)?;
    let train = if stored.cols == test.cols {
        stored
    } else if stored.rows == test.cols {
        tracing::debug!(path = %train_path.display(), "normal run stored transposed, as published");
        transpose(&stored)
    } else {
        return Err(Error::data(
            &train_path,
            None,
            format!(
                "{} rows of {} values, but {} has {} columns: the normal run must hold the same \
                 variables as the test runs (52 in the published files), in either orientation",
                stored.rows,
                stored.cols,
                test_path.display(),
                test.cols
            ),
        ));
    };
    if test.rows <= FAULT_ONSET {
        return Err(Error::data(
            &test_path,
            None,
            format!(
                "{} rows, but the fault starts after row {FAULT_ONSET}; the published test \
                 runs have 960 rows",
                test.rows
            ),
        ));
    }
    if test.rows != PUBLISHED_TEST_ROWS {
        tracing::warn!(
            path = %test_path.display(),
            rows = test.rows,
            "the published test runs have {PUBLISHED_TEST_ROWS} rows; rows from {FAULT_ONSET} on \
             are labelled faulty all the same"
        );
    }
    let test_labels = (0..test.rows).map(|t| t >= FAULT_ONSET).collect();
    Ok(Dataset {
        spec: DatasetSpec {
            kind: DatasetKind::Tep,
            entity: Some(fault),
        },
        sensor_names: sensor_names(train.cols),
        train,
        test,
        test_labels,
        segments: Vec::new(),
    })
}

fn transpose(series: &Series) -> Series {
    let (rows, cols) = (series.rows, series.cols);
    let mut values = vec![0.0; rows * cols];
    for r in 0..rows {
        for c in 0..cols {
            values[c * rows + r] = series.values[r * cols + c];
        }
    }
    Series::new(values, cols, rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_tep(dir: &Path, vars: usize, train_rows: usize, test_rows: usize) {
        let root = root(dir);
        std::fs::create_dir_all(&root).unwrap();
        // Stored transposed: one line per variable.
        let train: String = (0..vars)
            .map(|v| {
                let row: Vec<String> = (0..train_rows)
                    .map(|t| format!("{}", v * 1000 + t))
                    .collect();
                format!("  {}\n", row.join("   "))
            })
            .collect();
        std::fs::write(root.join("d00.dat"), train).unwrap();
        let test: String = (0..test_rows)
            .map(|t| {
                let row: Vec<String> = (0..vars)
                    .map(|v| format!("{:.4e}", (v + t) as f64))
                    .collect();
                format!("{}\n", row.join(" "))
            })
            .collect();
        std::fs::write(root.join("d04_te.dat"), test).unwrap();
    }

    #[test]
    fn loads_transposed_normal_run_and_labels_after_onset() {
        let dir = tempfile::tempdir().unwrap();
        write_tep(dir.path(), 3, 5, 200);
        assert_eq!(list_faults(dir.path()).unwrap(), vec!["04"]);
        let data = load_fault(dir.path(), "4", &LoadOptions::default()).unwrap();
        assert_eq!(data.spec.entity.as_deref(), Some("04"));
        assert_eq!((data.train.rows, data.train.cols), (5, 3));
        assert_eq!(data.train.row(2), &[2.0, 1002.0, 2002.0]);
        assert_eq!((data.test.rows, data.test.cols), (200, 3));
        assert!(!data.test_labels[FAULT_ONSET - 1]);
        assert!(data.test_labels[FAULT_ONSET]);
        assert_eq!(data.test_labels.iter().filter(|&&a| a).count(), 40);
    }

    #[test]
    fn rejects_unknown_faults_and_short_runs() {
        let dir = tempfile::tempdir().unwrap();
        write_tep(dir.path(), 3, 5, 100);
        let err = check_fault(dir.path(), "07").unwrap_err();
        assert!(err.to_string().contains("faults present: 04"), "{err}");
        let err = check_fault(dir.path(), "00").unwrap_err();
        assert!(err.to_string().contains("01 to 21"), "{err}");
        let err = load_fault(dir.path(), "04", &LoadOptions::default()).unwrap_err();
        assert!(
            err.to_string().contains("fault starts after row 160"),
            "{err}"
        );
    }
}
