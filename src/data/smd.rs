//! The Server Machine Dataset (SMD) of OmniAnomaly, in its published layout.
//!
//! ```text
//! <data_dir>/smd/train/<machine>.txt                 comma-separated, 38 columns, no header
//! <data_dir>/smd/test/<machine>.txt                  same columns as train
//! <data_dir>/smd/test_label/<machine>.txt            one 0 or 1 per test row
//! <data_dir>/smd/interpretation_label/<machine>.txt  optional: `start-end:c1,c2,...` per segment
//! ```
//!
//! The interpretation labels give, for each anomalous segment, the 1-based columns that the
//! operators blamed; they are read into 0-based [`AnomalySegment`]s. The machines present are
//! found by listing `train/`, never assumed.

use std::path::{Path, PathBuf};

use super::{
    AnomalySegment, Dataset, DatasetKind, DatasetSpec, LoadOptions, parse_numeric_table, read_text,
};
use crate::error::{Error, Result};

const HINT: &str = "Run `sparse-lstm-ad datasets fetch smd`, or place the ServerMachineDataset \
                    folder of the OmniAnomaly repository as <data_dir>/smd (see \
                    datasets/README.md), or point `data_dir` in the experiment file or \
                    `--data-dir` at a folder that holds smd/";

/// The folder of the SMD copy under a data root.
pub fn root(data_dir: &Path) -> PathBuf {
    data_dir.join("smd")
}

/// Lists the machines that have a training file, sorted by name.
pub fn list_machines(data_dir: &Path) -> Result<Vec<String>> {
    let train_dir = root(data_dir).join("train");
    let machines =
        super::file_stems(&train_dir, ".txt").ok_or_else(|| Error::DatasetMissing {
            name: "smd".into(),
            path: train_dir.clone(),
            hint: HINT.into(),
        })??;
    if machines.is_empty() {
        return Err(Error::DatasetMissing {
            name: "smd".into(),
            path: train_dir,
            hint: HINT.into(),
        });
    }
    Ok(machines)
}

/// Checks that the train, test and label files of a machine exist.
pub fn check_machine(data_dir: &Path, machine: &str) -> Result<()> {
    for folder in ["train", "test", "test_label"] {
        let path = root(data_dir).join(folder).join(format!("{machine}.txt"));
        if !path.is_file() {
            let known = match list_machines(data_dir) {
                Ok(machines) if machines.iter().any(|m| m == machine) => {
                    format!("the machine has a training file but no {folder} file")
                }
                Ok(machines) => format!("machines present: {}", machines.join(", ")),
                Err(_) => HINT.to_owned(),
            };
            return Err(Error::DatasetMissing {
                name: format!("smd:{machine}"),
                path,
                hint: known,
            });
        }
    }
    Ok(())
}

/// Loads one machine.
pub fn load_machine(data_dir: &Path, machine: &str, options: &LoadOptions) -> Result<Dataset> {
    check_machine(data_dir, machine)?;
    let root = root(data_dir);
    let file = |folder: &str| root.join(folder).join(format!("{machine}.txt"));

    let train_path = file("train");
    let train = parse_numeric_table(&train_path, &read_text(&train_path)?, Some(','), options)?;
    let test_path = file("test");
    let test = parse_numeric_table(&test_path, &read_text(&test_path)?, Some(','), options)?;
    super::check_same_sensors(&train, &train_path, &test, &test_path)?;
    let label_path = file("test_label");
    let test_labels = parse_labels(&label_path, &read_text(&label_path)?)?;
    if test_labels.len() != test.rows {
        return Err(Error::data(
            &label_path,
            None,
            format!(
                "{} labels for {} test rows; there must be one label per test row",
                test_labels.len(),
                test.rows
            ),
        ));
    }
    let interpretation = file("interpretation_label");
    let segments = if interpretation.is_file() {
        parse_interpretation(
            &interpretation,
            &read_text(&interpretation)?,
            test.cols,
            test.rows,
        )?
    } else {
        Vec::new()
    };

    Ok(Dataset {
        spec: DatasetSpec {
            kind: DatasetKind::Smd,
            entity: Some(machine.to_owned()),
        },
        sensor_names: (1..=train.cols).map(|c| format!("col{c}")).collect(),
        train,
        test,
        test_labels,
        segments,
    })
}

/// Parses one `0` or `1` per non-empty line.
pub fn parse_labels(path: &Path, text: &str) -> Result<Vec<bool>> {
    let mut labels = Vec::new();
    for (index, line) in text.lines().enumerate() {
        match line.trim() {
            "" => continue,
            "0" | "0.0" => labels.push(false),
            "1" | "1.0" => labels.push(true),
            other => {
                return Err(Error::data(
                    path,
                    Some(index + 1),
                    format!("label {other:?} is not 0 or 1"),
                ));
            }
        }
    }
    Ok(labels)
}

/// Parses `start-end:c1,c2,...` lines (1-based columns) into 0-based segments.
fn parse_interpretation(
    path: &Path,
    text: &str,
    cols: usize,
    rows: usize,
) -> Result<Vec<AnomalySegment>> {
    let mut segments = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let invalid = |why: &str| {
            Error::data(
                path,
                Some(index + 1),
                format!("{line:?}: {why}; expected `start-end:c1,c2,...`"),
            )
        };
        let (range, columns) = line.split_once(':').ok_or_else(|| invalid("no `:`"))?;
        let (start, end) = range
            .split_once('-')
            .ok_or_else(|| invalid("no `-` in the range"))?;
        let start: usize = start.trim().parse().map_err(|_| invalid("invalid start"))?;
        let end: usize = end.trim().parse().map_err(|_| invalid("invalid end"))?;
        if start > end {
            return Err(invalid("the range starts after it ends"));
        }
        if end >= rows {
            return Err(invalid(&format!("range outside the {rows} test rows")));
        }
        let mut sensors = Vec::new();
        for column in columns.split(',').filter(|c| !c.trim().is_empty()) {
            let column: usize = column
                .trim()
                .parse()
                .map_err(|_| invalid(&format!("column {:?} is not a number", column.trim())))?;
            if column == 0 || column > cols {
                return Err(invalid(&format!("column {column} outside 1..={cols}")));
            }
            sensors.push(column - 1);
        }
        segments.push(AnomalySegment {
            start,
            end,
            sensors,
        });
    }
    Ok(segments)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_accept_only_binary() {
        let path = Path::new("l.txt");
        assert_eq!(
            parse_labels(path, "0\n1\n\n0\n").unwrap(),
            vec![false, true, false]
        );
        let err = parse_labels(path, "0\n2\n").unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
    }

    #[test]
    fn interpretation_is_zero_based() {
        let path = Path::new("i.txt");
        let segments = parse_interpretation(path, "15-20:1,38\n", 38, 100).unwrap();
        assert_eq!(
            segments,
            vec![AnomalySegment {
                start: 15,
                end: 20,
                sensors: vec![0, 37]
            }]
        );
        assert!(parse_interpretation(path, "15-20:39\n", 38, 100).is_err());
        assert!(parse_interpretation(path, "15-200:1\n", 38, 100).is_err());
    }

    #[test]
    fn missing_root_names_hint() {
        let err = list_machines(Path::new("/nonexistent-data-root")).unwrap_err();
        let message = err.to_string();
        assert!(message.contains("datasets/README.md"), "{message}");
    }
}
