//! Scores that treat each contiguous run of anomaly labels as one event: point-adjusted F1 and
//! the range-based precision and recall of Tatbul et al. (NeurIPS 2018).

use std::ops::Range;

use super::{BinaryCounts, MetricError, ThresholdScores, ratio_or_zero, validate};

/// Range-based precision, recall and F1 of Tatbul et al. (NeurIPS 2018).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RangeScores {
    /// Mean over predicted ranges of the fraction of their points that are labelled anomalies,
    /// or 0.0 when no point is flagged.
    pub precision: f64,
    /// Mean over real anomaly ranges of the fraction of their points that are flagged, or `None`
    /// when no label is an anomaly.
    pub recall: Option<f64>,
    /// 2·P·R / (P + R), 0.0 when P + R = 0, and `None` when recall is `None`.
    pub f1: Option<f64>,
}

/// Half-open index ranges of the maximal runs of `true` in `flags`, in increasing order.
pub(super) fn true_runs(flags: &[bool]) -> Vec<Range<usize>> {
    let mut runs = Vec::new();
    let mut start = None;
    for (index, &flag) in flags.iter().enumerate() {
        match (flag, start) {
            (true, None) => start = Some(index),
            (false, Some(begin)) => {
                runs.push(begin..index);
                start = None;
            }
            _ => {}
        }
    }
    if let Some(begin) = start {
        runs.push(begin..flags.len());
    }
    runs
}

/// Computes precision, recall and F1 at `threshold` under the point-adjustment protocol of Xu et
/// al. (WWW 2018): when any point of a contiguous run of anomaly labels has `score >= threshold`,
/// every point of that run counts as detected. Points outside anomaly runs count as usual.
///
/// Point adjustment inflates results. Kim et al. (AAAI 2022) show that with it even random
/// scores can reach F1 values reported as state of the art, because one flagged point credits a
/// whole anomaly run. Report it only next to [`super::scores_at_threshold`] or range-based
/// scores. A ratio with a zero denominator is 0.0, as in [`super::scores_at_threshold`].
///
/// # Errors
///
/// Besides the input checks shared by every metric, returns [`MetricError::NanThreshold`] for a
/// NaN threshold.
pub fn point_adjusted_f1(
    labels: &[bool],
    scores: &[f64],
    threshold: f64,
) -> Result<ThresholdScores, MetricError> {
    validate(labels, scores)?;
    if threshold.is_nan() {
        return Err(MetricError::NanThreshold);
    }

    let mut counts = BinaryCounts {
        true_positives: 0,
        false_positives: 0,
        false_negatives: 0,
        true_negatives: 0,
    };
    for run in true_runs(labels) {
        let detected = scores[run.clone()].iter().any(|&s| s >= threshold);
        if detected {
            counts.true_positives += run.len();
        } else {
            counts.false_negatives += run.len();
        }
    }
    for (&label, &score) in labels.iter().zip(scores) {
        if !label {
            if score >= threshold {
                counts.false_positives += 1;
            } else {
                counts.true_negatives += 1;
            }
        }
    }

    let tp = counts.true_positives;
    Ok(ThresholdScores {
        precision: ratio_or_zero(tp, tp + counts.false_positives),
        recall: ratio_or_zero(tp, tp + counts.false_negatives),
        f1: ratio_or_zero(
            2 * tp,
            2 * tp + counts.false_positives + counts.false_negatives,
        ),
        counts,
    })
}

/// Computes the range-based precision and recall of Tatbul et al. (NeurIPS 2018) between the
/// runs of anomaly labels (real ranges) and the runs of `true` predictions (predicted ranges).
///
/// The settings are the defaults of that paper and of the `prts` package: existence weight
/// α = 0, cardinality factor γ = 1 ("one") and the flat positional bias. The overlap reward of
/// a range is then the fraction of its points that the ranges of the other side cover. Recall
/// is the mean of that fraction over real ranges, and precision is its mean over predicted
/// ranges. The tests match `prts` 1.0.0.3 at 1e-9.
///
/// With no predicted range, precision is 0.0 (and recall 0.0 unless it is `None`). With no real
/// range, recall and F1 are `None` because they are undefined, and precision is 0.0 whenever a
/// point is flagged. `prts` raises an error in both cases.
///
/// # Errors
///
/// Returns [`MetricError::PredictionLengthMismatch`] when the lengths differ and
/// [`MetricError::Empty`] for empty input.
pub fn range_based(labels: &[bool], predictions: &[bool]) -> Result<RangeScores, MetricError> {
    if labels.len() != predictions.len() {
        return Err(MetricError::PredictionLengthMismatch {
            labels: labels.len(),
            predictions: predictions.len(),
        });
    }
    if labels.is_empty() {
        return Err(MetricError::Empty);
    }

    let precision = mean_covered_fraction(predictions, labels).unwrap_or(0.0);
    let recall = mean_covered_fraction(labels, predictions);
    let f1 = recall.map(|recall| {
        if precision + recall == 0.0 {
            0.0
        } else {
            2.0 * precision * recall / (precision + recall)
        }
    });
    Ok(RangeScores {
        precision,
        recall,
        f1,
    })
}

/// Computes [`range_based`] scores for the predictions `score >= threshold`.
///
/// # Errors
///
/// Besides the input checks shared by every metric, returns [`MetricError::NanThreshold`] for a
/// NaN threshold.
pub fn range_based_at_threshold(
    labels: &[bool],
    scores: &[f64],
    threshold: f64,
) -> Result<RangeScores, MetricError> {
    validate(labels, scores)?;
    if threshold.is_nan() {
        return Err(MetricError::NanThreshold);
    }
    let predictions: Vec<bool> = scores.iter().map(|&s| s >= threshold).collect();
    range_based(labels, &predictions)
}

/// Mean over the runs of `true` in `ranges` of the fraction of run points where `cover` is true,
/// or `None` when `ranges` has no run.
fn mean_covered_fraction(ranges: &[bool], cover: &[bool]) -> Option<f64> {
    let runs = true_runs(ranges);
    if runs.is_empty() {
        return None;
    }
    let sum: f64 = runs
        .iter()
        .map(|run| {
            let covered = cover[run.clone()].iter().filter(|&&c| c).count();
            covered as f64 / run.len() as f64
        })
        .sum();
    Some(sum / runs.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::tests::{assert_close, named_case, to_labels};

    #[test]
    fn true_runs_edges() {
        assert_eq!(true_runs(&[]), Vec::<Range<usize>>::new(), "empty");
        assert_eq!(true_runs(&[false; 3]), Vec::<Range<usize>>::new(), "none");
        assert_eq!(true_runs(&[true; 3]), vec![0..3], "all");
        let flags = to_labels(&[1, 0, 1, 1, 0, 0, 1]);
        assert_eq!(true_runs(&flags), vec![0..1, 2..4, 6..7], "mixed");
    }

    // Labels [0,1,1,1,0,0,1,1,0,1] have the runs [1,3], [6,7] and [9]. At threshold 0.5 the
    // flagged points are 0, 2, 5 and 9: the run [1,3] is detected through point 2 and [9]
    // through itself, so TP = 3 + 1, FN = 2 (run [6,7]), FP = 2 (points 0 and 5) and TN = 2.
    // At 0.15 every run is detected: TP = 6, FN = 0, FP = 4 (points 0, 4, 5, 8) and TN = 0.
    #[test]
    fn point_adjusted_hand_worked() {
        let labels = to_labels(&[0, 1, 1, 1, 0, 0, 1, 1, 0, 1]);
        let scores = [0.6, 0.1, 0.7, 0.2, 0.3, 0.9, 0.4, 0.1, 0.2, 0.5];

        let adjusted = point_adjusted_f1(&labels, &scores, 0.5).unwrap();
        assert_eq!(adjusted.counts.true_positives, 4, "0.5: TP");
        assert_eq!(adjusted.counts.false_negatives, 2, "0.5: FN");
        assert_eq!(adjusted.counts.false_positives, 2, "0.5: FP");
        assert_eq!(adjusted.counts.true_negatives, 2, "0.5: TN");
        assert_close(adjusted.precision, 2.0 / 3.0, "0.5: precision");
        assert_close(adjusted.recall, 2.0 / 3.0, "0.5: recall");
        assert_close(adjusted.f1, 2.0 / 3.0, "0.5: F1");

        let adjusted = point_adjusted_f1(&labels, &scores, 0.15).unwrap();
        assert_eq!(adjusted.counts.true_positives, 6, "0.15: TP");
        assert_eq!(adjusted.counts.false_negatives, 0, "0.15: FN");
        assert_eq!(adjusted.counts.false_positives, 4, "0.15: FP");
        assert_eq!(adjusted.counts.true_negatives, 0, "0.15: TN");
        assert_close(adjusted.precision, 0.6, "0.15: precision");
        assert_close(adjusted.recall, 1.0, "0.15: recall");
        assert_close(adjusted.f1, 0.75, "0.15: F1");
    }

    #[test]
    fn point_adjusted_beats_plain() {
        let labels = to_labels(&[0, 1, 1, 1, 0, 0, 1, 1, 0, 1]);
        let scores = [0.6, 0.1, 0.7, 0.2, 0.3, 0.9, 0.4, 0.1, 0.2, 0.5];
        let plain = crate::metrics::scores_at_threshold(&labels, &scores, 0.5).unwrap();
        let adjusted = point_adjusted_f1(&labels, &scores, 0.5).unwrap();
        assert_close(plain.f1, 0.4, "plain F1");
        assert!(adjusted.f1 > plain.f1, "adjusted F1 {}", adjusted.f1);
    }

    // Expected values came from TSB-AD 1.5 (`basic_metricor()._adjust_predicts` with
    // pred = scores >= threshold) followed by precision_score, recall_score and f1_score of
    // scikit-learn 1.9.1. No anomaly run in these cases starts at index 0 with more than one
    // point, where `_adjust_predicts` skips index 0.
    #[test]
    fn point_adjusted_matches_tsb_ad() {
        let table: [(&str, f64, f64, f64, f64); 12] = [
            (
                "reference",
                0.35,
                0.5714285714285714,
                1.0,
                0.7272727272727273,
            ),
            ("reference", 0.5, 0.75, 0.75, 0.75),
            ("reference", 0.7, 1.0, 0.75, 0.8571428571428571),
            ("ties", 0.35, 0.5, 0.5, 0.5),
            ("ties", 0.5, 0.5, 0.5, 0.5),
            ("ties", 0.7, 0.5, 0.25, 0.3333333333333333),
            ("lcg", 0.35, 0.45565749235474007, 1.0, 0.6260504201680672),
            (
                "lcg",
                0.5,
                0.5489021956087824,
                0.9228187919463087,
                0.688360450563204,
            ),
            (
                "lcg",
                0.7,
                0.954954954954955,
                0.7114093959731543,
                0.8153846153846154,
            ),
            (
                "segments",
                0.35,
                0.21923076923076923,
                1.0,
                0.35962145110410093,
            ),
            ("segments", 0.5, 0.3202247191011236, 1.0, 0.4851063829787234),
            ("segments", 0.7, 0.8636363636363636, 1.0, 0.926829268292683),
        ];
        for (name, threshold, precision, recall, f1) in table {
            let (labels, scores) = named_case(name);
            let adjusted = point_adjusted_f1(&labels, &scores, threshold).unwrap();
            let what = format!("{name} at {threshold}");
            assert_close(adjusted.precision, precision, &format!("{what}: precision"));
            assert_close(adjusted.recall, recall, &format!("{what}: recall"));
            assert_close(adjusted.f1, f1, &format!("{what}: F1"));
        }
    }

    #[test]
    fn point_adjusted_errors() {
        let result = point_adjusted_f1(&[true, false], &[0.1, 0.2], f64::NAN);
        assert_eq!(result, Err(MetricError::NanThreshold), "NaN threshold");
        let result = point_adjusted_f1(&[true], &[0.1, 0.2], 0.5);
        let expected = Err(MetricError::LengthMismatch {
            labels: 1,
            scores: 2,
        });
        assert_eq!(result, expected, "length mismatch");
        assert_eq!(
            point_adjusted_f1(&[], &[], 0.5),
            Err(MetricError::Empty),
            "empty"
        );
    }

    // Real ranges are [1,3] and [6,7], predicted ranges [0,1], [3,6] and [9]. Recall: [1,3] has
    // points 1 and 3 flagged, 2/3, and [6,7] has point 6, 1/2, so R = 7/12. Precision: [0,1]
    // covers label 1 (1/2), [3,6] covers labels 3 and 6 (2/4) and [9] covers none, so P = 1/3.
    // F1 = 2·(1/3)·(7/12) / (1/3 + 7/12) = 14/33. prts 1.0.0.3 returns 1/3 and 7/12 as well.
    #[test]
    fn range_based_hand_worked() {
        let labels = to_labels(&[0, 1, 1, 1, 0, 0, 1, 1, 0, 0]);
        let predictions = to_labels(&[1, 1, 0, 1, 1, 1, 1, 0, 0, 1]);
        let scores = range_based(&labels, &predictions).unwrap();
        assert_close(scores.precision, 1.0 / 3.0, "precision");
        let recall = scores.recall.expect("recall is defined");
        assert_close(recall, 7.0 / 12.0, "recall");
        let f1 = scores.f1.expect("F1 is defined");
        assert_close(f1, 14.0 / 33.0, "F1");
    }

    // Expected values came from prts 1.0.0.3 (ts_precision and ts_recall with their defaults
    // alpha=0.0, cardinality="one", bias="flat") on pred = scores >= threshold.
    #[test]
    fn range_based_matches_prts() {
        let table: [(&str, f64, f64, f64); 12] = [
            ("reference", 0.35, 0.55, 1.0),
            ("reference", 0.5, 0.6666666666666666, 0.5),
            ("reference", 0.7, 1.0, 0.5),
            ("ties", 0.35, 0.5, 0.5),
            ("ties", 0.5, 0.5, 0.5),
            ("ties", 0.7, 0.5, 0.25),
            ("lcg", 0.35, 0.4611262090075649, 1.0),
            ("lcg", 0.5, 0.5314538807649043, 0.8421095008051531),
            ("lcg", 0.7, 0.9464285714285714, 0.5384057971014492),
            ("segments", 0.35, 0.07820795556644614, 1.0),
            ("segments", 0.5, 0.16383219954648529, 0.8785714285714286),
            ("segments", 0.7, 0.7352941176470589, 0.4656926406926407),
        ];
        for (name, threshold, precision, recall) in table {
            let (labels, scores) = named_case(name);
            let ranged = range_based_at_threshold(&labels, &scores, threshold).unwrap();
            let what = format!("{name} at {threshold}");
            assert_close(ranged.precision, precision, &format!("{what}: precision"));
            let actual_recall = ranged.recall.expect("recall is defined");
            assert_close(actual_recall, recall, &format!("{what}: recall"));
            let expected_f1 = 2.0 * precision * recall / (precision + recall);
            let actual_f1 = ranged.f1.expect("F1 is defined");
            assert_close(actual_f1, expected_f1, &format!("{what}: F1"));
        }
    }

    #[test]
    fn range_based_no_prediction() {
        let labels = to_labels(&[0, 1, 1, 0]);
        let scores = range_based(&labels, &[false; 4]).unwrap();
        assert_eq!(scores.precision, 0.0, "precision");
        assert_eq!(scores.recall, Some(0.0), "recall");
        assert_eq!(scores.f1, Some(0.0), "F1");
    }

    #[test]
    fn range_based_no_anomaly() {
        let predictions = to_labels(&[0, 1, 1, 0]);
        let scores = range_based(&[false; 4], &predictions).unwrap();
        assert_eq!(scores.precision, 0.0, "precision");
        assert_eq!(scores.recall, None, "recall");
        assert_eq!(scores.f1, None, "F1");

        let scores = range_based(&[false; 4], &[false; 4]).unwrap();
        assert_eq!(scores.precision, 0.0, "precision with nothing flagged");
        assert_eq!(scores.recall, None, "recall with nothing flagged");
    }

    #[test]
    fn range_based_errors() {
        let result = range_based(&[true, false], &[true]);
        let expected = Err(MetricError::PredictionLengthMismatch {
            labels: 2,
            predictions: 1,
        });
        assert_eq!(result, expected, "length mismatch");
        assert_eq!(range_based(&[], &[]), Err(MetricError::Empty), "empty");

        let result = range_based_at_threshold(&[true, false], &[0.1, 0.2], f64::NAN);
        assert_eq!(result, Err(MetricError::NanThreshold), "NaN threshold");
        let result = range_based_at_threshold(&[true, false], &[0.1, f64::INFINITY], 0.5);
        assert!(
            matches!(result, Err(MetricError::NonFiniteScore { index: 1, .. })),
            "infinite score: got {result:?}"
        );
    }
}
