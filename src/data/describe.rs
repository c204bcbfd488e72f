//! Summaries of loaded datasets for `datasets describe`.

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use super::synthetic::SyntheticSettings;
use super::{DataSettings, Dataset, DatasetSelector, Series};
use crate::error::Result;

/// Lists the published datasets: entities and files present under `data_dir`, how many files
/// match their recorded digests, and where each set comes from.
pub fn list(data_dir: &Path) -> Result<String> {
    let mut out = String::from(
        "| dataset | entities | files (verified) | where | contents | source | licence |\n\
         |---|---|---|---|---|---|---|\n",
    );
    for name in super::fetch::known() {
        let presence = match super::fetch::presence(name, data_dir) {
            Ok(presence) => presence,
            Err(e) => {
                let _ = writeln!(out, "| {name} | unreadable: {e} | | | | | |");
                continue;
            }
        };
        let selector: DatasetSelector = name.parse()?;
        let entities = match super::resolve(&[selector], data_dir, &DataSettings::default(), false)
        {
            Ok(specs) => specs.len().to_string(),
            Err(crate::error::Error::DatasetMissing { .. }) => {
                format!("none: `sparse-lstm-ad datasets fetch {name}`")
            }
            Err(e) => format!("unreadable: {e}"),
        };
        let expected = presence
            .expected
            .map_or(String::new(), |n| format!(" of {n}"));
        let mut files = format!("{}{expected} ({})", presence.present, presence.verified);
        if !presence.changed.is_empty() {
            files.push_str(&format!(", changed: {}", presence.changed.join(", ")));
        }
        let _ = writeln!(
            out,
            "| {name} | {entities} | {files} | {} | {} | {} | {} |",
            presence.path.display(),
            presence.description,
            presence.source,
            presence.license
        );
    }
    Ok(out)
}

/// Loads every entity a selector names and summarises each.
pub fn describe(
    selector: &DatasetSelector,
    data_dir: &Path,
    settings: &DataSettings,
    synthetic: &SyntheticSettings,
) -> Result<Vec<EntitySummary>> {
    let specs = super::resolve(std::slice::from_ref(selector), data_dir, settings, false)?;
    specs
        .iter()
        .map(|spec| {
            super::load(spec, data_dir, settings, Some(synthetic), 0).map(|d| summarise(&d))
        })
        .collect()
}

/// What a user checks before training on an entity.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EntitySummary {
    pub dataset: String,
    pub sensors: usize,
    pub train_rows: usize,
    pub test_rows: usize,
    /// Share of test rows labelled anomalous.
    pub anomaly_rate: f64,
    /// Runs of consecutive anomalous test rows.
    pub segments: usize,
    /// Sensors that hold one value over the whole training series.
    pub constant_sensors: Vec<String>,
}

/// Counts runs of consecutive `true` labels.
pub fn count_segments(labels: &[bool]) -> usize {
    labels
        .iter()
        .enumerate()
        .filter(|&(t, &a)| a && (t == 0 || !labels[t - 1]))
        .count()
}

/// Returns the columns that the z-score scaling treats as constant: standard deviation below
/// 1e-8.
pub fn constant_columns(series: &Series) -> Vec<usize> {
    super::prep::Scaler::fit(series).constant
}

/// Summarises one entity.
pub fn summarise(dataset: &Dataset) -> EntitySummary {
    let anomalous = dataset.test_labels.iter().filter(|&&a| a).count();
    EntitySummary {
        dataset: dataset.spec.label(),
        sensors: dataset.train.cols,
        train_rows: dataset.train.rows,
        test_rows: dataset.test.rows,
        anomaly_rate: anomalous as f64 / dataset.test.rows.max(1) as f64,
        segments: count_segments(&dataset.test_labels),
        constant_sensors: constant_columns(&dataset.train)
            .into_iter()
            .map(|c| dataset.sensor_names[c].clone())
            .collect(),
    }
}

/// Renders summaries as a Markdown table; long lists of constant sensors are cut after ten names.
pub fn table(summaries: &[EntitySummary]) -> String {
    let mut out = String::from(
        "| dataset | sensors | train rows | test rows | anomaly rate | segments | constant in \
         train |\n|---|---:|---:|---:|---:|---:|---|\n",
    );
    for s in summaries {
        let constant = match s.constant_sensors.len() {
            0 => "none".to_string(),
            n if n > 10 => format!("{n}: {}, ...", s.constant_sensors[..10].join(", ")),
            n => format!("{n}: {}", s.constant_sensors.join(", ")),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {:.2}% | {} | {} |",
            s.dataset,
            s.sensors,
            s.train_rows,
            s.test_rows,
            100.0 * s.anomaly_rate,
            s.segments,
            constant
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::DatasetSpec;

    #[test]
    fn summary_counts_segments_and_constant_sensors() {
        assert_eq!(
            count_segments(&[true, true, false, true, false, false, true]),
            3
        );
        assert_eq!(count_segments(&[]), 0);
        let dataset = Dataset {
            spec: DatasetSpec::synthetic(),
            sensor_names: vec!["a".into(), "b".into()],
            train: Series::new(vec![1.0, 5.0, 2.0, 5.0, 3.0, 5.0], 3, 2),
            test: Series::new(vec![0.0; 8], 4, 2),
            test_labels: vec![false, true, true, false],
            segments: Vec::new(),
        };
        let summary = summarise(&dataset);
        assert_eq!(summary.constant_sensors, vec!["b"]);
        assert_eq!(summary.segments, 1);
        assert_eq!(summary.anomaly_rate, 0.5);
        let table = table(&[summary]);
        assert!(
            table.contains("| synthetic | 2 | 3 | 4 | 50.00% | 1 | 1: b |"),
            "{table}"
        );
    }
}
