//! NASA spacecraft telemetry (MSL and SMAP) in the layout of the telemanom repository.
//!
//! ```text
//! <data_dir>/msl/train/<channel>.npy        float64, rows x 55 (value, then 54 command flags)
//! <data_dir>/msl/test/<channel>.npy         same columns
//! <data_dir>/msl/labeled_anomalies.csv      chan_id,spacecraft,anomaly_sequences,class,num_values
//! ```
//!
//! SMAP uses the same layout under `smap/`. The CSV lists the channels of both spacecraft. Rows
//! of the other spacecraft are ignored, so the whole published archive may be unpacked into
//! either folder. `anomaly_sequences` contains inclusive `[start, end]` test row ranges.
//!
//! Two defects of the public CSV are handled in the open: a channel listed twice gets the union
//! of its rows' ranges, with a warning; a channel file without a CSV row is left out of the
//! entities, with a warning. Ranges past the end of the test file and a `num_values` that
//! differs from the test length are errors.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{Dataset, DatasetKind, DatasetSpec, LoadOptions, Series, npy};
use crate::error::{Error, Result};

const LABELS: &str = "labeled_anomalies.csv";

/// Returns the folder of a telemanom copy (`msl/` or `smap/`) under a data root.
pub fn root(data_dir: &Path, kind: DatasetKind) -> PathBuf {
    data_dir.join(kind.family())
}

fn spacecraft(kind: DatasetKind) -> &'static str {
    match kind {
        DatasetKind::Smap => "SMAP",
        _ => "MSL",
    }
}

fn hint(kind: DatasetKind) -> String {
    format!(
        "Download the telemanom data archive and labeled_anomalies.csv and place train/, test/ \
         and the CSV in <data_dir>/{} (see datasets/README.md, or run `sparse-lstm-ad datasets \
         fetch {}`)",
        kind.family(),
        kind.family()
    )
}

/// One row of `labeled_anomalies.csv` for the selected spacecraft.
#[derive(Debug, Clone, PartialEq)]
struct LabelRow {
    line: usize,
    ranges: Vec<(usize, usize)>,
    num_values: usize,
}

/// Reads the CSV rows of one spacecraft by channel. A channel listed twice keeps every row.
fn read_labels(path: &Path, kind: DatasetKind) -> Result<BTreeMap<String, Vec<LabelRow>>> {
    let text = super::read_text(path)?;
    parse_labels(path, &text, spacecraft(kind))
}

fn parse_labels(path: &Path, text: &str, craft: &str) -> Result<BTreeMap<String, Vec<LabelRow>>> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text.lines().enumerate();
    let header = lines.next().map(|(_, h)| split_csv(h)).unwrap_or_default();
    let column = |name: &str| {
        header.iter().position(|h| h.trim() == name).ok_or_else(|| {
            Error::data(
                path,
                Some(1),
                format!(
                    "no `{name}` column in the header; expected chan_id, spacecraft, \
                     anomaly_sequences, class, num_values"
                ),
            )
        })
    };
    let (chan, craft_col, seqs, num) = (
        column("chan_id")?,
        column("spacecraft")?,
        column("anomaly_sequences")?,
        column("num_values")?,
    );
    let mut rows: BTreeMap<String, Vec<LabelRow>> = BTreeMap::new();
    for (index, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        let fields = split_csv(line);
        let field = |i: usize| {
            fields.get(i).map(|f| f.trim()).ok_or_else(|| {
                Error::data(
                    path,
                    Some(index + 1),
                    format!(
                        "{} fields where the header has {}; quote fields that hold commas",
                        fields.len(),
                        header.len()
                    ),
                )
            })
        };
        if field(craft_col)? != craft {
            continue;
        }
        let num_text = field(num)?;
        let num_values = num_text.parse().map_err(|_| {
            Error::data(
                path,
                Some(index + 1),
                format!("num_values {num_text:?} is not a row count"),
            )
        })?;
        rows.entry(field(chan)?.to_owned())
            .or_default()
            .push(LabelRow {
                line: index + 1,
                ranges: parse_ranges(field(seqs)?)
                    .map_err(|why| Error::data(path, Some(index + 1), why))?,
                num_values,
            });
    }
    Ok(rows)
}

/// Splits a CSV line at commas outside double quotes and removes the quotes.
pub(crate) fn split_csv(line: &str) -> Vec<String> {
    super::split_quoted(line, ',')
}

/// Parses `[[a, b], [c, d]]` into inclusive ranges.
fn parse_ranges(text: &str) -> std::result::Result<Vec<(usize, usize)>, String> {
    let invalid = || format!("anomaly_sequences {text:?} is not a list of [start, end] pairs");
    let inner = text
        .trim()
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .ok_or_else(invalid)?;
    let numbers = inner
        .split(|c: char| c == ',' || c == '[' || c == ']' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<usize>().map_err(|_| invalid()))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    if numbers.len() % 2 != 0 || inner.matches('[').count() * 2 != numbers.len() {
        return Err(invalid());
    }
    let ranges: Vec<(usize, usize)> = numbers.chunks(2).map(|p| (p[0], p[1])).collect();
    if let Some((start, end)) = ranges.iter().find(|(s, e)| s > e) {
        return Err(format!("range [{start}, {end}] starts after it ends"));
    }
    Ok(ranges)
}

/// Lists the channels of the spacecraft that have a test file and a CSV row, sorted by name.
///
/// Files without a CSV row and CSV rows listed more than once are reported as warnings.
pub fn list_channels(data_dir: &Path, kind: DatasetKind) -> Result<Vec<String>> {
    let root = root(data_dir, kind);
    let csv = root.join(LABELS);
    if !csv.is_file() {
        return Err(Error::DatasetMissing {
            name: kind.family().into(),
            path: csv,
            hint: hint(kind),
        });
    }
    let labels = read_labels(&csv, kind)?;
    let mut channels = Vec::new();
    for channel in super::file_stems(&root.join("test"), ".npy").unwrap_or(Ok(Vec::new()))? {
        match labels.get(&channel) {
            Some(rows) => {
                if rows.len() > 1 {
                    warn_duplicate(&csv, &channel, rows);
                }
                channels.push(channel);
            }
            None if listed_for_other(&csv, &channel, kind)? => {}
            None => tracing::warn!(
                channel = %channel,
                csv = %csv.display(),
                "channel file has no row in the CSV, so it has no labels; left out"
            ),
        }
    }
    if channels.is_empty() {
        return Err(Error::DatasetMissing {
            name: kind.family().into(),
            path: root.join("test"),
            hint: format!(
                "no channel file there has a {} row in {LABELS}. {}",
                spacecraft(kind),
                hint(kind)
            ),
        });
    }
    Ok(channels)
}

/// Checks whether the CSV lists `channel` for the other spacecraft.
fn listed_for_other(csv: &Path, channel: &str, kind: DatasetKind) -> Result<bool> {
    let other = match kind {
        DatasetKind::Smap => DatasetKind::Msl,
        _ => DatasetKind::Smap,
    };
    Ok(read_labels(csv, other)?.contains_key(channel))
}

fn warn_duplicate(csv: &Path, channel: &str, rows: &[LabelRow]) {
    let lines: Vec<String> = rows.iter().map(|r| r.line.to_string()).collect();
    tracing::warn!(
        channel = %channel,
        csv = %csv.display(),
        lines = %lines.join(", "),
        "channel listed more than once; its labels are the union of those rows' ranges"
    );
}

fn series_from(path: &Path, array: npy::NpyArray, options: &LoadOptions) -> Result<Series> {
    let (rows, cols) = array.rows_cols();
    let values = super::narrow_to_f32(path, &array.values, cols)?;
    let mut series = Series::new(values, rows, cols);
    super::handle_missing(&mut series, path, options.missing)?;
    Ok(series)
}

/// Loads one channel.
pub fn load_channel(
    data_dir: &Path,
    kind: DatasetKind,
    channel: &str,
    options: &LoadOptions,
) -> Result<Dataset> {
    let root = root(data_dir, kind);
    let csv = root.join(LABELS);
    let labels = read_labels(&csv, kind)?;
    let rows = labels.get(channel).ok_or_else(|| Error::DatasetMissing {
        name: format!("{}:{channel}", kind.family()),
        path: csv.clone(),
        hint: format!("{LABELS} has no {} row for this channel", spacecraft(kind)),
    })?;
    let file = |folder: &str| root.join(folder).join(format!("{channel}.npy"));
    let (train_path, test_path) = (file("train"), file("test"));
    for path in [&train_path, &test_path] {
        if !path.is_file() {
            return Err(Error::DatasetMissing {
                name: format!("{}:{channel}", kind.family()),
                path: path.clone(),
                hint: hint(kind),
            });
        }
    }
    let train = series_from(&train_path, npy::read(&train_path)?, options)?;
    let test = series_from(&test_path, npy::read(&test_path)?, options)?;
    super::check_same_sensors(&train, &train_path, &test, &test_path)?;

    let mut test_labels = vec![false; test.rows];
    for row in rows {
        if row.num_values != test.rows {
            return Err(Error::data(
                &csv,
                Some(row.line),
                format!(
                    "num_values {} for {channel} but {} has {} rows; the CSV and the data \
                     files come from different releases",
                    row.num_values,
                    test_path.display(),
                    test.rows
                ),
            ));
        }
        for &(start, end) in &row.ranges {
            if end >= test.rows {
                return Err(Error::data(
                    &csv,
                    Some(row.line),
                    format!(
                        "range [{start}, {end}] of {channel} ends past the {} test rows of {}",
                        test.rows,
                        test_path.display()
                    ),
                ));
            }
            test_labels[start..=end].fill(true);
        }
    }
    if rows.len() > 1 {
        warn_duplicate(&csv, channel, rows);
    }
    let sensor_names = std::iter::once("value".to_string())
        .chain((1..train.cols).map(|c| format!("cmd{c}")))
        .collect();
    Ok(Dataset {
        spec: DatasetSpec {
            kind,
            entity: Some(channel.to_owned()),
        },
        sensor_names,
        train,
        test,
        test_labels,
        // The CSV blames no sensor, so there is nothing for attribution to check.
        segments: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CSV: &str = "chan_id,spacecraft,anomaly_sequences,class,num_values\n\
                       A-1,MSL,\"[[2, 3], [6, 6]]\",\"[point, point]\",8\n\
                       P-2,SMAP,\"[[1, 1]]\",[point],8\n\
                       P-2,SMAP,\"[[4, 5]]\",[point],8\n\
                       B-1,MSL,\"[[0, 9]]\",[point],8\n";

    fn write_channel(root: &Path, channel: &str, rows: usize) {
        for folder in ["train", "test"] {
            std::fs::create_dir_all(root.join(folder)).unwrap();
            let values: Vec<f64> = (0..rows * 2).map(|i| i as f64).collect();
            std::fs::write(
                root.join(folder).join(format!("{channel}.npy")),
                npy::encode_f64(rows, 2, &values),
            )
            .unwrap();
        }
    }

    #[test]
    fn parses_quoted_ranges() {
        assert_eq!(split_csv("a,\"[1, 2]\",c"), vec!["a", "[1, 2]", "c"]);
        assert_eq!(
            parse_ranges("[[2, 3], [6, 6]]").unwrap(),
            vec![(2, 3), (6, 6)]
        );
        assert_eq!(parse_ranges("[]").unwrap(), vec![]);
        assert!(parse_ranges("[[2, 3], [6]]").is_err());
        assert!(
            parse_ranges("[[5, 3]]")
                .unwrap_err()
                .contains("starts after")
        );
        let rows = parse_labels(Path::new("l.csv"), CSV, "SMAP").unwrap();
        assert_eq!(rows["P-2"].len(), 2);
        assert_eq!(rows["P-2"][1].line, 4);
    }

    #[test]
    fn loads_channels_of_one_spacecraft() {
        let dir = tempfile::tempdir().unwrap();
        let msl = root(dir.path(), DatasetKind::Msl);
        write_channel(&msl, "A-1", 8);
        write_channel(&msl, "P-2", 8);
        write_channel(&msl, "Z-9", 8);
        std::fs::write(msl.join(LABELS), CSV).unwrap();
        // P-2 belongs to SMAP and Z-9 has no row: neither is an MSL entity.
        assert_eq!(
            list_channels(dir.path(), DatasetKind::Msl).unwrap(),
            vec!["A-1"]
        );
        let data =
            load_channel(dir.path(), DatasetKind::Msl, "A-1", &LoadOptions::default()).unwrap();
        let expected = [false, false, true, true, false, false, true, false];
        assert_eq!(data.test_labels, expected);
        assert_eq!(data.sensor_names, vec!["value", "cmd1"]);
        assert_eq!(data.train.row(1), &[2.0, 3.0]);
    }

    #[test]
    fn duplicate_rows_give_the_union() {
        let dir = tempfile::tempdir().unwrap();
        let smap = root(dir.path(), DatasetKind::Smap);
        write_channel(&smap, "P-2", 8);
        std::fs::write(smap.join(LABELS), CSV).unwrap();
        let data = load_channel(
            dir.path(),
            DatasetKind::Smap,
            "P-2",
            &LoadOptions::default(),
        )
        .unwrap();
        let anomalous: Vec<usize> = (0..8).filter(|&t| data.test_labels[t]).collect();
        assert_eq!(anomalous, vec![1, 4, 5]);
    }

    #[test]
    fn ranges_past_the_test_end_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let msl = root(dir.path(), DatasetKind::Msl);
        write_channel(&msl, "B-1", 8);
        std::fs::write(msl.join(LABELS), CSV).unwrap();
        let err =
            load_channel(dir.path(), DatasetKind::Msl, "B-1", &LoadOptions::default()).unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains("line 5") && message.contains("[0, 9]"),
            "{message}"
        );
        let short = CSV.replace("point]\",8\n", "point]\",7\n");
        std::fs::write(msl.join(LABELS), short).unwrap();
        write_channel(&msl, "A-1", 8);
        let err =
            load_channel(dir.path(), DatasetKind::Msl, "A-1", &LoadOptions::default()).unwrap_err();
        assert!(err.to_string().contains("num_values 7"), "{err}");
    }
}
