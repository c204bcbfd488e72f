//! The metric suite of a set of scores: threshold-free areas, a threshold chosen without test
//! labels, the scores at that threshold, and the oracle and point-adjusted figures under names
//! that say what they are.
//!
//! Every number comes from [`crate::metrics`]; this module decides which ones are reported and
//! where the threshold comes from. Runs and the `evaluate` command share it, so a detector
//! scored elsewhere is measured with the same definitions.

use std::path::Path;

use serde::{Deserialize, Serialize};
use tracing::warn;

use crate::config::setting;
use crate::error::{Error, Result};
use crate::metrics::{self, ThresholdRule};

/// How the decision threshold is chosen from validation data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ThresholdKind {
    /// The `quantile` of the validation scores.
    #[default]
    Quantile,
    /// Mean plus `std_factor` population standard deviations of the validation scores.
    MeanStd,
    /// The best F-beta on a labelled validation split; only where one exists.
    BestFBeta,
}

/// The `[evaluation]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EvaluationSettings {
    pub threshold: ThresholdKind,
    /// Quantile of the validation scores, in (0, 1).
    pub quantile: f64,
    /// Standard deviations above the mean for `mean-std`.
    pub std_factor: f64,
    /// β of F-beta for `best-f-beta`.
    pub beta: f64,
    /// Largest buffer, in steps, of VUS-ROC and VUS-PR.
    pub vus_window: usize,
    /// Show point-adjusted F1 in `table.md` (it is always in `summary.csv`).
    pub point_adjusted_in_table: bool,
}

impl Default for EvaluationSettings {
    fn default() -> Self {
        EvaluationSettings {
            threshold: ThresholdKind::Quantile,
            // Flags about 1% of normal validation points.
            quantile: 0.99,
            std_factor: 3.0,
            beta: 1.0,
            vus_window: 100,
            point_adjusted_in_table: false,
        }
    }
}

impl EvaluationSettings {
    /// Checks every value, naming the first invalid one.
    pub fn validate(&self) -> Result<()> {
        if !(self.quantile > 0.0 && self.quantile < 1.0) {
            return Err(setting(
                "evaluation.quantile",
                self.quantile,
                "expected a number in (0, 1)",
            ));
        }
        if !self.std_factor.is_finite() {
            return Err(setting(
                "evaluation.std_factor",
                self.std_factor,
                "expected a finite number",
            ));
        }
        if !(self.beta.is_finite() && self.beta > 0.0) {
            return Err(setting(
                "evaluation.beta",
                self.beta,
                "expected a number > 0",
            ));
        }
        crate::config::in_range("evaluation.vus_window", self.vus_window, 0, 1_000_000)
    }

    /// The threshold rule these settings describe.
    pub fn rule(&self) -> ThresholdRule {
        match self.threshold {
            ThresholdKind::Quantile => ThresholdRule::Quantile(self.quantile),
            ThresholdKind::MeanStd => ThresholdRule::MeanStd(self.std_factor),
            ThresholdKind::BestFBeta => ThresholdRule::BestFbeta(self.beta),
        }
    }
}

/// Every metric of one set of test scores. `None` marks a value that is undefined for these
/// labels (one class only) or that needs validation scores that were not given.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MetricSuite {
    /// ROC-AUC, ties counted one half (scikit-learn `roc_auc_score`).
    pub roc_auc: Option<f64>,
    /// Average precision (scikit-learn `average_precision_score`), the PR-AUC of the tables.
    pub pr_auc: Option<f64>,
    /// Trapezoidal area under the precision-recall curve; not average precision.
    pub pr_auc_trapezoid: Option<f64>,
    /// VUS-ROC with buffers up to `vus_window`.
    pub vus_roc: Option<f64>,
    /// VUS-PR with buffers up to `vus_window`.
    pub vus_pr: Option<f64>,
    /// Decision threshold chosen from validation data.
    pub threshold: Option<f64>,
    pub precision: Option<f64>,
    pub recall: Option<f64>,
    pub f1: Option<f64>,
    /// Range-based precision, recall and F1 (Tatbul et al. 2018) at the threshold.
    pub range_precision: Option<f64>,
    pub range_recall: Option<f64>,
    pub range_f1: Option<f64>,
    /// Point-adjusted F1 at the threshold: inflated, reported for comparison only.
    pub f1_point_adjusted: Option<f64>,
    /// Best F1 over all thresholds, chosen with the test labels: an oracle.
    pub f1_oracle: Option<f64>,
    /// The threshold of the oracle F1.
    pub threshold_oracle: Option<f64>,
}

/// Computes the suite. Threshold metrics need `validation_scores`; the `best-f-beta` rule also
/// needs `validation_labels`.
pub fn metric_suite(
    labels: &[bool],
    scores: &[f64],
    validation_scores: Option<&[f64]>,
    validation_labels: Option<&[bool]>,
    settings: &EvaluationSettings,
) -> Result<MetricSuite> {
    let vus = metrics::vus(labels, scores, settings.vus_window)?;
    let oracle = metrics::best_f1(labels, scores)?;
    let mut suite = MetricSuite {
        roc_auc: metrics::roc_auc(labels, scores)?,
        pr_auc: metrics::average_precision(labels, scores)?,
        pr_auc_trapezoid: metrics::pr_auc_trapezoid(labels, scores)?,
        vus_roc: vus.as_ref().map(|v| v.roc),
        vus_pr: vus.as_ref().map(|v| v.pr),
        f1_oracle: oracle.map(|(f1, _)| f1),
        threshold_oracle: oracle.map(|(_, threshold)| threshold),
        ..MetricSuite::default()
    };
    let Some(validation_scores) = validation_scores else {
        warn!("no validation scores: threshold metrics are left empty");
        return Ok(suite);
    };
    let threshold =
        metrics::choose_threshold(&settings.rule(), validation_scores, validation_labels)?;
    let at = metrics::scores_at_threshold(labels, scores, threshold)?;
    let ranges = metrics::range_based_at_threshold(labels, scores, threshold)?;
    let adjusted = metrics::point_adjusted_f1(labels, scores, threshold)?;
    let has_anomalies = labels.iter().any(|&l| l);
    suite.threshold = Some(threshold);
    suite.precision = Some(at.precision);
    suite.recall = has_anomalies.then_some(at.recall);
    suite.f1 = has_anomalies.then_some(at.f1);
    suite.range_precision = Some(ranges.precision);
    suite.range_recall = ranges.recall;
    suite.range_f1 = ranges.f1;
    suite.f1_point_adjusted = has_anomalies.then_some(adjusted.f1);
    Ok(suite)
}

/// Rows of the printed table: name, value and what the value is.
pub fn describe(suite: &MetricSuite) -> Vec<(&'static str, Option<f64>, &'static str)> {
    vec![
        ("roc_auc", suite.roc_auc, "ROC-AUC, ties count one half"),
        (
            "pr_auc",
            suite.pr_auc,
            "average precision (no interpolation)",
        ),
        (
            "pr_auc_trapezoid",
            suite.pr_auc_trapezoid,
            "trapezoidal PR area, not AP",
        ),
        ("vus_roc", suite.vus_roc, "volume under the ROC surface"),
        ("vus_pr", suite.vus_pr, "volume under the PR surface"),
        (
            "threshold",
            suite.threshold,
            "chosen from validation scores",
        ),
        ("precision", suite.precision, "at the threshold"),
        ("recall", suite.recall, "at the threshold"),
        ("f1", suite.f1, "at the threshold"),
        (
            "range_precision",
            suite.range_precision,
            "Tatbul et al. 2018, at the threshold",
        ),
        (
            "range_recall",
            suite.range_recall,
            "Tatbul et al. 2018, at the threshold",
        ),
        (
            "range_f1",
            suite.range_f1,
            "Tatbul et al. 2018, at the threshold",
        ),
        (
            "f1_point_adjusted",
            suite.f1_point_adjusted,
            "point-adjusted: inflated",
        ),
        (
            "f1_oracle",
            suite.f1_oracle,
            "best over thresholds: uses test labels",
        ),
        (
            "threshold_oracle",
            suite.threshold_oracle,
            "threshold of the oracle F1",
        ),
    ]
}

/// Reads one number per line, or a one-column CSV whose first line may be a header. Empty lines
/// are skipped.
pub fn read_column(path: &Path) -> Result<Vec<f64>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let mut values = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let field = line.trim();
        if field.is_empty() {
            continue;
        }
        if field.contains(',') {
            let columns = field.split(',').count();
            return Err(Error::data(
                path,
                Some(index + 1),
                format!("{columns} columns; the file must hold one value per line"),
            ));
        }
        match field.parse::<f64>() {
            Ok(value) => values.push(value),
            // A first line that is not a number is a header.
            Err(_) if values.is_empty() && index == first_content_line(&text) => continue,
            Err(_) => {
                return Err(Error::data(
                    path,
                    Some(index + 1),
                    format!("{field:?} is not a number"),
                ));
            }
        }
    }
    if values.is_empty() {
        return Err(Error::data(path, None, "file holds no values"));
    }
    Ok(values)
}

fn first_content_line(text: &str) -> usize {
    text.lines().position(|l| !l.trim().is_empty()).unwrap_or(0)
}

/// Reads labels, one `0` or `1` per line (as [`read_column`] reads numbers).
pub fn read_labels(path: &Path) -> Result<Vec<bool>> {
    let values = read_column(path)?;
    values
        .iter()
        .enumerate()
        .map(|(index, &v)| match v {
            0.0 => Ok(false),
            1.0 => Ok(true),
            other => Err(Error::data(
                path,
                None,
                format!("value {other} at index {index} is not a label; labels must be 0 or 1"),
            )),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_column_accepts_header_and_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.csv");
        std::fs::write(&path, "score\n0.5\n\n1e-3\n").unwrap();
        assert_eq!(read_column(&path).unwrap(), vec![0.5, 1e-3]);
        std::fs::write(&path, "0.5\nx\n").unwrap();
        let err = read_column(&path).unwrap_err().to_string();
        assert!(err.contains("line 2"), "{err}");
        std::fs::write(&path, "0.5,1\n").unwrap();
        assert!(read_column(&path).is_err(), "two columns are rejected");
        std::fs::write(&path, "0\n2\n").unwrap();
        let err = read_labels(&path).unwrap_err().to_string();
        assert!(err.contains("index 1"), "{err}");
    }

    #[test]
    fn suite_on_reference_case() {
        let labels: Vec<bool> = [0, 0, 1, 1, 0, 1, 0, 0, 1, 0]
            .iter()
            .map(|&l| l == 1)
            .collect();
        let scores = [0.1, 0.4, 0.35, 0.8, 0.4, 0.9, 0.05, 0.2, 0.35, 0.6];
        let validation = [0.1, 0.2, 0.3, 0.4, 0.5];
        let settings = EvaluationSettings {
            quantile: 0.5,
            vus_window: 2,
            ..EvaluationSettings::default()
        };
        let suite = metric_suite(&labels, &scores, Some(&validation), None, &settings).unwrap();
        assert!((suite.roc_auc.unwrap() - 0.75).abs() < 1e-12);
        assert!((suite.pr_auc.unwrap() - 0.7857142857142857).abs() < 1e-12);
        assert_eq!(
            suite.threshold,
            Some(0.3),
            "median of the validation scores"
        );
        // Flagged at >= 0.3: indices 1, 2, 3, 4, 5, 8, 9 -> 4 of 7 are anomalies, all 4 found.
        assert!((suite.precision.unwrap() - 4.0 / 7.0).abs() < 1e-12);
        assert_eq!(suite.recall, Some(1.0));
        assert!(
            suite.f1_oracle.unwrap() >= suite.f1.unwrap(),
            "the oracle is an upper bound"
        );
        let without = metric_suite(&labels, &scores, None, None, &settings).unwrap();
        assert_eq!(
            without.threshold, None,
            "no validation scores, no threshold"
        );
        assert_eq!(without.roc_auc, suite.roc_auc);
    }
}
