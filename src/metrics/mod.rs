//! Threshold-free and threshold-based scores for binary anomaly detection.
//!
//! This module owns ROC-AUC, average precision, the trapezoidal area under the precision-recall
//! curve, the ROC and precision-recall curves, the confusion counts at one threshold and the best
//! F1 over all thresholds. Its submodules add threshold rules fitted on validation data
//! (`thresholds`), segment-aware scores such as point-adjusted F1 and range-based precision and
//! recall (`ranges`), and the volume under the surface, VUS-ROC and VUS-PR (`volume`). Labels are
//! `true` for an anomaly, and a higher score means more anomalous. A point is flagged as an
//! anomaly when its score is greater than or equal to the threshold.
//!
//! The functions in this file follow the definitions used by scikit-learn 1.9.1 and reproduce its
//! values, which the tests check at a tolerance of 1e-9. Each submodule names the reference it
//! matches. Every function in this file sorts the scores at most once, O(n log n), and allocates
//! only a few vectors of length n.

use thiserror::Error;

mod ranges;
mod thresholds;
mod volume;

pub use ranges::{RangeScores, point_adjusted_f1, range_based, range_based_at_threshold};
pub use thresholds::{ThresholdRule, choose_threshold};
pub use volume::{VUS_THRESHOLD_COUNT, VusScores, vus, vus_with_threshold_count};

/// Invalid input to a metric.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum MetricError {
    /// Labels and scores differ in length.
    #[error(
        "labels have length {labels} but scores have length {scores}, \
         and the two lengths must be equal"
    )]
    LengthMismatch { labels: usize, scores: usize },

    /// A score is NaN or infinite.
    #[error("score at index {index} is {value}, but scores must be finite (not NaN or infinite)")]
    NonFiniteScore { index: usize, value: f64 },

    /// Labels and binary predictions differ in length.
    #[error(
        "labels have length {labels} but predictions have length {predictions}, \
         and the two lengths must be equal"
    )]
    PredictionLengthMismatch { labels: usize, predictions: usize },

    /// The input has no point.
    #[error("labels are empty, but a metric needs at least one point")]
    Empty,

    /// The threshold passed to a thresholded metric, such as [`scores_at_threshold`], is NaN.
    #[error("threshold is NaN, but it must be a number (an infinite threshold is allowed)")]
    NanThreshold,

    /// A parameter of a metric or threshold rule is outside its valid range.
    #[error("{name} is {value}, but it must be {requirement}")]
    InvalidParameter {
        name: &'static str,
        value: f64,
        requirement: &'static str,
    },

    /// [`ThresholdRule::BestFbeta`] was called without validation labels.
    #[error(
        "the best-f-beta threshold needs validation labels, but none were given. Pass the \
         labels of the validation scores (`evaluate --validation-labels FILE`), or use the \
         quantile or mean-std threshold, which needs no labels"
    )]
    MissingValidationLabels,

    /// [`ThresholdRule::BestFbeta`] was called with validation labels of one class only.
    #[error(
        "the best-f-beta threshold needs validation labels of both classes, but they contain \
         {positives} anomalies and {negatives} normal points. Use validation data that \
         contains both, or use the quantile or mean-std threshold"
    )]
    SingleClassValidationLabels { positives: usize, negatives: usize },
}

/// ROC curve points, from the highest threshold to the lowest.
#[derive(Debug, Clone, PartialEq)]
pub struct RocCurve {
    /// False positive rate FP / N at each threshold.
    pub fpr: Vec<f64>,
    /// True positive rate TP / P at each threshold.
    pub tpr: Vec<f64>,
    /// Thresholds in decreasing order, `+inf` first and then every distinct score.
    pub thresholds: Vec<f64>,
}

/// Precision-recall curve points, from the lowest threshold to the highest.
#[derive(Debug, Clone, PartialEq)]
pub struct PrCurve {
    /// Precision TP / (TP + FP) at each threshold, followed by a final 1.0.
    pub precision: Vec<f64>,
    /// Recall TP / P at each threshold, followed by a final 0.0.
    pub recall: Vec<f64>,
    /// Distinct scores in increasing order, one fewer than the precision and recall values.
    pub thresholds: Vec<f64>,
}

/// Confusion-matrix counts for one threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BinaryCounts {
    pub true_positives: usize,
    pub false_positives: usize,
    pub false_negatives: usize,
    pub true_negatives: usize,
}

/// Precision, recall and F1 at one threshold, with the counts they come from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ThresholdScores {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub counts: BinaryCounts,
}

/// Cumulative counts of the points flagged at one distinct score used as threshold.
#[derive(Debug, Clone, Copy)]
struct ThresholdPoint {
    threshold: f64,
    true_positives: usize,
    false_positives: usize,
}

/// Cumulative counts at every distinct score, in decreasing score order.
struct RankedCounts {
    points: Vec<ThresholdPoint>,
    positives: usize,
    negatives: usize,
}

fn validate(labels: &[bool], scores: &[f64]) -> Result<(), MetricError> {
    if labels.len() != scores.len() {
        return Err(MetricError::LengthMismatch {
            labels: labels.len(),
            scores: scores.len(),
        });
    }
    validate_scores(scores)
}

/// Checks that `scores` is not empty and that every score is finite.
fn validate_scores(scores: &[f64]) -> Result<(), MetricError> {
    if scores.is_empty() {
        return Err(MetricError::Empty);
    }
    if let Some((index, &value)) = scores.iter().enumerate().find(|(_, s)| !s.is_finite()) {
        return Err(MetricError::NonFiniteScore { index, value });
    }
    Ok(())
}

/// Sorts the points by decreasing score and accumulates TP and FP with one point per distinct
/// score. Tied scores therefore move together, which gives the trapezoidal ROC-AUC its rule that
/// a tie between a positive and a negative counts one half.
fn rank_by_score(labels: &[bool], scores: &[f64]) -> Result<RankedCounts, MetricError> {
    validate(labels, scores)?;

    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_unstable_by(|&a, &b| scores[b].total_cmp(&scores[a]));

    let mut points = Vec::new();
    let mut true_positives = 0;
    let mut false_positives = 0;
    for (rank, &index) in order.iter().enumerate() {
        if labels[index] {
            true_positives += 1;
        } else {
            false_positives += 1;
        }
        // The run test uses `==` rather than `total_cmp`, so 0.0 and -0.0 count as one score.
        // The sort places them next to each other, so they form one run.
        let run_ends = match order.get(rank + 1) {
            Some(&next) => scores[next] != scores[index],
            None => true,
        };
        if run_ends {
            points.push(ThresholdPoint {
                threshold: scores[index],
                true_positives,
                false_positives,
            });
        }
    }

    Ok(RankedCounts {
        points,
        positives: true_positives,
        negatives: false_positives,
    })
}

/// Computes the area under the ROC curve by the trapezoidal rule over all distinct scores.
///
/// A positive and a negative with equal scores count one half, so the value equals the
/// Mann-Whitney probability P(score of positive > score of negative) + P(equal) / 2 and matches
/// `sklearn.metrics.roc_auc_score`. Constant scores give 0.5.
///
/// Returns `Ok(None)` and logs a warning when the labels contain only one class, because the
/// area is then undefined.
pub fn roc_auc(labels: &[bool], scores: &[f64]) -> Result<Option<f64>, MetricError> {
    let ranked = rank_by_score(labels, scores)?;
    if ranked.positives == 0 || ranked.negatives == 0 {
        tracing::warn!(
            positives = ranked.positives,
            negatives = ranked.negatives,
            "ROC-AUC is undefined when the labels contain only one class; returning None"
        );
        return Ok(None);
    }

    // Each step adds twice its trapezoid area in count units, ΔFP × (TP_prev + TP). The sum is
    // at most 2·P·N, so u128 stores it exactly and only the final division rounds.
    let mut twice_area: u128 = 0;
    let mut previous_tp = 0;
    let mut previous_fp = 0;
    for point in &ranked.points {
        let delta_fp = (point.false_positives - previous_fp) as u128;
        twice_area += delta_fp * (point.true_positives + previous_tp) as u128;
        previous_tp = point.true_positives;
        previous_fp = point.false_positives;
    }

    let twice_total = 2 * ranked.positives as u128 * ranked.negatives as u128;
    Ok(Some(twice_area as f64 / twice_total as f64))
}

/// Computes average precision AP = Σₙ (Rₙ − Rₙ₋₁) Pₙ over the distinct scores in decreasing
/// order, where Pₙ and Rₙ are precision and recall when flagging every point scored at or above
/// the n-th score.
///
/// The sum uses no interpolation and matches `sklearn.metrics.average_precision_score`. Tied
/// scores form one step. Constant scores give the positive rate P / n, and all-positive labels
/// give 1.0.
///
/// Returns `Ok(None)` and logs a warning when no label is positive, because recall is then
/// undefined.
pub fn average_precision(labels: &[bool], scores: &[f64]) -> Result<Option<f64>, MetricError> {
    let ranked = rank_by_score(labels, scores)?;
    if ranked.positives == 0 {
        tracing::warn!(
            negatives = ranked.negatives,
            "average precision is undefined when no label is positive; returning None"
        );
        return Ok(None);
    }

    let mut sum = 0.0;
    let mut previous_tp = 0;
    for point in &ranked.points {
        let delta_tp = point.true_positives - previous_tp;
        if delta_tp > 0 {
            sum += delta_tp as f64 * precision_of(point);
        }
        previous_tp = point.true_positives;
    }
    Ok(Some(sum / ranked.positives as f64))
}

/// Computes the area under the precision-recall curve by the trapezoidal rule, equal to
/// `sklearn.metrics.auc(recall, precision)` on the output of [`precision_recall_curve`].
///
/// This is NOT average precision. [`average_precision`] sums recall steps times precision
/// without interpolation, while the trapezoids here interpolate precision linearly between the
/// points of the curve. Precision does not change linearly with recall between two thresholds,
/// so the two values can differ in either direction. On the labels `[0,0,1,1,0,1,0,0,1,0]`
/// with scores `[.1,.4,.35,.8,.4,.9,.05,.2,.35,.6]`, AP is 0.786 and this area is 0.743. The
/// curve starts at (recall 0, precision 1) and has one point per distinct score, so tied scores
/// form one point.
///
/// Returns `Ok(None)` and logs a warning when no label is positive, because recall is then
/// undefined.
pub fn pr_auc_trapezoid(labels: &[bool], scores: &[f64]) -> Result<Option<f64>, MetricError> {
    let ranked = rank_by_score(labels, scores)?;
    if ranked.positives == 0 {
        tracing::warn!(
            negatives = ranked.negatives,
            "trapezoidal PR-AUC is undefined when no label is positive; returning None"
        );
        return Ok(None);
    }

    let mut area = 0.0;
    let mut previous_recall = 0.0;
    let mut previous_precision = 1.0;
    for point in &ranked.points {
        let recall = point.true_positives as f64 / ranked.positives as f64;
        let precision = precision_of(point);
        area += (recall - previous_recall) * (precision + previous_precision) / 2.0;
        previous_recall = recall;
        previous_precision = precision;
    }
    Ok(Some(area))
}

/// Computes the ROC curve with one point per distinct score, like
/// `sklearn.metrics.roc_curve(labels, scores, drop_intermediate=False)`.
///
/// The curve starts at (FPR 0, TPR 0) with threshold `+inf` and then lists every distinct score
/// in decreasing order, so tied scores form one point. When the labels contain no negative,
/// every FPR is NaN, and when they contain no positive, every TPR is NaN. Either case logs a
/// warning, as scikit-learn does.
pub fn roc_curve(labels: &[bool], scores: &[f64]) -> Result<RocCurve, MetricError> {
    let ranked = rank_by_score(labels, scores)?;
    if ranked.negatives == 0 {
        tracing::warn!("ROC curve has no negative label, so every false positive rate is NaN");
    }
    if ranked.positives == 0 {
        tracing::warn!("ROC curve has no positive label, so every true positive rate is NaN");
    }

    let length = ranked.points.len() + 1;
    let mut curve = RocCurve {
        fpr: Vec::with_capacity(length),
        tpr: Vec::with_capacity(length),
        thresholds: Vec::with_capacity(length),
    };
    let start = ThresholdPoint {
        threshold: f64::INFINITY,
        true_positives: 0,
        false_positives: 0,
    };
    for point in std::iter::once(&start).chain(&ranked.points) {
        curve
            .fpr
            .push(rate(point.false_positives, ranked.negatives));
        curve.tpr.push(rate(point.true_positives, ranked.positives));
        curve.thresholds.push(point.threshold);
    }
    Ok(curve)
}

/// Computes the precision-recall curve with one point per distinct score, like
/// `sklearn.metrics.precision_recall_curve` in scikit-learn 1.9.1.
///
/// Thresholds are the distinct scores in increasing order, so tied scores form one point.
/// Precision and recall list the value at each threshold and then a final point with precision
/// 1.0 and recall 0.0 that has no threshold. When no label is positive, recall is 1.0 at every
/// threshold (then the final 0.0), and a warning is logged, as scikit-learn does.
pub fn precision_recall_curve(labels: &[bool], scores: &[f64]) -> Result<PrCurve, MetricError> {
    let ranked = rank_by_score(labels, scores)?;
    if ranked.positives == 0 {
        tracing::warn!("precision-recall curve has no positive label, so recall is 1.0");
    }

    let length = ranked.points.len() + 1;
    let mut curve = PrCurve {
        precision: Vec::with_capacity(length),
        recall: Vec::with_capacity(length),
        thresholds: Vec::with_capacity(length - 1),
    };
    for point in ranked.points.iter().rev() {
        curve.precision.push(precision_of(point));
        let recall = if ranked.positives == 0 {
            1.0
        } else {
            point.true_positives as f64 / ranked.positives as f64
        };
        curve.recall.push(recall);
        curve.thresholds.push(point.threshold);
    }
    curve.precision.push(1.0);
    curve.recall.push(0.0);
    Ok(curve)
}

/// Counts the confusion matrix when every point with `score >= threshold` is flagged, and
/// derives precision, recall and F1 from it.
///
/// A ratio with a zero denominator is 0.0, like scikit-learn's `zero_division=0`. So precision
/// and F1 are 0.0 when no point is flagged, and recall is 0.0 when no label is positive. An
/// infinite threshold is allowed, and `+inf` flags no point.
///
/// # Errors
///
/// Besides the input checks shared by every metric, returns [`MetricError::NanThreshold`] for a
/// NaN threshold.
pub fn scores_at_threshold(
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
    for (&label, &score) in labels.iter().zip(scores) {
        match (label, score >= threshold) {
            (true, true) => counts.true_positives += 1,
            (false, true) => counts.false_positives += 1,
            (true, false) => counts.false_negatives += 1,
            (false, false) => counts.true_negatives += 1,
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

/// Finds the threshold with the highest F1 = 2·TP / (2·TP + FP + FN) among all distinct scores
/// and returns `(f1, threshold)`.
///
/// This is an oracle score: it picks the threshold with the same labels it is evaluated on, so it
/// overstates what a detector with a threshold fixed in advance would reach. When several
/// thresholds give the same F1, the highest of them is returned.
///
/// Returns `Ok(None)` and logs a warning when no label is positive, because F1 is then 0 at every
/// threshold.
pub fn best_f1(labels: &[bool], scores: &[f64]) -> Result<Option<(f64, f64)>, MetricError> {
    let ranked = rank_by_score(labels, scores)?;
    if ranked.positives == 0 {
        tracing::warn!(
            negatives = ranked.negatives,
            "best F1 is undefined when no label is positive; returning None"
        );
        return Ok(None);
    }

    let mut best: Option<(f64, f64)> = None;
    for point in &ranked.points {
        // FN = P − TP, so 2·TP + FP + FN = TP + FP + P.
        let denominator = point.true_positives + point.false_positives + ranked.positives;
        let f1 = (2 * point.true_positives) as f64 / denominator as f64;
        // Strict `>` keeps the first, and so highest, threshold among equal F1 values.
        if best.is_none_or(|(best_f1, _)| f1 > best_f1) {
            best = Some((f1, point.threshold));
        }
    }
    Ok(best)
}

/// Precision at a point of the ranking. Every point flags at least one score, so TP + FP > 0.
fn precision_of(point: &ThresholdPoint) -> f64 {
    point.true_positives as f64 / (point.true_positives + point.false_positives) as f64
}

/// `count / total`, or NaN when `total` is 0, as scikit-learn's `roc_curve` does.
fn rate(count: usize, total: usize) -> f64 {
    if total == 0 {
        f64::NAN
    } else {
        count as f64 / total as f64
    }
}

fn ratio_or_zero(numerator: usize, denominator: usize) -> f64 {
    if denominator == 0 {
        0.0
    } else {
        numerator as f64 / denominator as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOLERANCE: f64 = 1e-9;

    pub(super) fn assert_close(actual: f64, expected: f64, what: &str) {
        assert!(
            (actual - expected).abs() <= TOLERANCE,
            "{what}: got {actual}, expected {expected} (tolerance {TOLERANCE})"
        );
    }

    fn assert_all_close(actual: &[f64], expected: &[f64], what: &str) {
        assert_eq!(actual.len(), expected.len(), "{what}: length differs");
        for (i, (&a, &e)) in actual.iter().zip(expected).enumerate() {
            if e.is_infinite() {
                assert_eq!(a, e, "{what}[{i}]: got {a}, expected {e}");
            } else {
                assert_close(a, e, &format!("{what}[{i}]"));
            }
        }
    }

    pub(super) fn to_labels(bits: &[u8]) -> Vec<bool> {
        bits.iter().map(|&b| b == 1).collect()
    }

    /// Label and score sets shared by the reference tables of the range and threshold
    /// metrics, as (name, labels, scores).
    pub(super) fn named_cases() -> Vec<(&'static str, Vec<bool>, Vec<f64>)> {
        let (lcg_labels, lcg_scores) = lcg_case(1000, 42);
        let (segment_labels, segment_scores) = segments_case();
        vec![
            (
                "reference",
                to_labels(&REFERENCE_LABELS),
                REFERENCE_SCORES.to_vec(),
            ),
            (
                "ties",
                to_labels(&[1, 0, 1, 0, 1, 0, 0, 1]),
                vec![0.5, 0.5, 0.3, 0.3, 0.9, 0.1, 0.9, 0.1],
            ),
            ("lcg", lcg_labels, lcg_scores),
            ("segments", segment_labels, segment_scores),
        ]
    }

    /// Returns the labels and scores of the set of [`named_cases`] called `name`.
    pub(super) fn named_case(name: &str) -> (Vec<bool>, Vec<f64>) {
        let (_, labels, scores) = named_cases()
            .into_iter()
            .find(|(case, _, _)| *case == name)
            .unwrap_or_else(|| panic!("no case named {name}"));
        (labels, scores)
    }

    pub(super) const REFERENCE_LABELS: [u8; 10] = [0, 0, 1, 1, 0, 1, 0, 0, 1, 0];
    pub(super) const REFERENCE_SCORES: [f64; 10] =
        [0.1, 0.4, 0.35, 0.8, 0.4, 0.9, 0.05, 0.2, 0.35, 0.6];

    /// 64-bit LCG with Knuth's MMIX constants. The Python script that produced the expected
    /// values draws the same sequence: per point, one draw for the label (30 % anomalies) and
    /// one for an integer k, and the score is k / 100, so many scores tie.
    pub(super) fn lcg_case(n: usize, seed: u64) -> (Vec<bool>, Vec<f64>) {
        let mut state = seed;
        let mut next = || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            state >> 33
        };
        let mut labels = Vec::with_capacity(n);
        let mut scores = Vec::with_capacity(n);
        for _ in 0..n {
            let label = next() % 10 < 3;
            let draw = next();
            let k = if label { draw % 61 + 40 } else { draw % 71 };
            labels.push(label);
            scores.push(k as f64 / 100.0);
        }
        (labels, scores)
    }

    /// 450 points with 8 anomaly segments: segment k starts at 15 + 55k + (17k²) mod 41 and has
    /// 2 + (5k) mod 11 points. With q = (7919·i + 13) mod 1009, an anomaly scores
    /// (40 + q mod 61) / 100, the 2 points after a segment score (30 + q mod 61) / 100 like a
    /// late detector, and other points score (q mod 71) / 100. The Python script that produced
    /// the expected values builds the same arrays.
    pub(super) fn segments_case() -> (Vec<bool>, Vec<f64>) {
        let n = 450;
        let mut labels = vec![false; n];
        for k in 0..8 {
            let start = 15 + 55 * k + (17 * k * k) % 41;
            let length = 2 + (5 * k) % 11;
            labels[start..start + length].fill(true);
        }
        let mut scores = Vec::with_capacity(n);
        for i in 0..n {
            let q = (i * 7919 + 13) % 1009;
            let after_segment = (i >= 1 && labels[i - 1]) || (i >= 2 && labels[i - 2]);
            let score = if labels[i] {
                40 + q % 61
            } else if after_segment {
                30 + q % 61
            } else {
                q % 71
            };
            scores.push(score as f64 / 100.0);
        }
        (labels, scores)
    }

    struct RankingCase {
        name: &'static str,
        labels: Vec<bool>,
        scores: Vec<f64>,
        roc_auc: f64,
        average_precision: f64,
        best_f1: f64,
        best_threshold: f64,
    }

    // Expected values came from scikit-learn 1.9.1 with numpy 2.4.6. ROC-AUC is roc_auc_score,
    // AP is average_precision_score, and best F1 is a brute force of f1_score over the thresholds
    // of precision_recall_curve that keeps the highest threshold among equal maxima.
    fn ranking_cases() -> Vec<RankingCase> {
        let (lcg_labels, lcg_scores) = lcg_case(1000, 42);
        vec![
            RankingCase {
                name: "reference",
                labels: to_labels(&REFERENCE_LABELS),
                scores: REFERENCE_SCORES.to_vec(),
                roc_auc: 0.75,
                average_precision: 0.7857142857142857,
                best_f1: 0.7272727272727273,
                best_threshold: 0.35,
            },
            RankingCase {
                name: "ties across classes",
                labels: to_labels(&[1, 0, 1, 0, 1, 0, 0, 1]),
                scores: vec![0.5, 0.5, 0.3, 0.3, 0.9, 0.1, 0.9, 0.1],
                roc_auc: 0.5,
                average_precision: 0.5,
                best_f1: 0.6666666666666666,
                best_threshold: 0.1,
            },
            RankingCase {
                name: "all scores tied",
                labels: to_labels(&[0, 1, 0, 0, 1]),
                scores: vec![0.7; 5],
                roc_auc: 0.5,
                average_precision: 0.4,
                best_f1: 0.5714285714285714,
                best_threshold: 0.7,
            },
            RankingCase {
                name: "perfect ranking",
                labels: to_labels(&[0, 0, 1, 1, 0, 1]),
                scores: vec![0.1, 0.2, 0.8, 0.9, 0.3, 0.7],
                roc_auc: 1.0,
                average_precision: 1.0,
                best_f1: 1.0,
                best_threshold: 0.7,
            },
            RankingCase {
                name: "inverted ranking",
                labels: to_labels(&[0, 0, 1, 1, 0, 1]),
                scores: vec![0.9, 0.8, 0.2, 0.1, 0.7, 0.3],
                roc_auc: 0.0,
                average_precision: 0.38333333333333336,
                best_f1: 0.6666666666666666,
                best_threshold: 0.1,
            },
            RankingCase {
                name: "one positive",
                labels: to_labels(&[0, 0, 0, 1, 0, 0]),
                scores: vec![0.3, 0.9, 0.1, 0.5, 0.2, 0.6],
                roc_auc: 0.6,
                average_precision: 0.3333333333333333,
                best_f1: 0.5,
                best_threshold: 0.5,
            },
            RankingCase {
                name: "lcg n=1000 seed 42",
                labels: lcg_labels,
                scores: lcg_scores,
                roc_auc: 0.8800144362224899,
                average_precision: 0.8043163556423576,
                best_f1: 0.6750524109014675,
                best_threshold: 0.69,
            },
        ]
    }

    #[test]
    fn lcg_case_matches_python() {
        // First values and positive count printed by the same generator in Python.
        let (labels, scores) = lcg_case(1000, 42);
        let first_labels: Vec<bool> = labels.iter().take(8).copied().collect();
        assert_eq!(
            first_labels,
            to_labels(&[0, 0, 0, 0, 0, 0, 1, 0]),
            "first labels"
        );
        let first_scores = [0.64, 0.07, 0.1, 0.07, 0.19, 0.54, 0.68, 0.63];
        assert_eq!(&scores[..8], &first_scores, "first scores");
        let positives = labels.iter().filter(|&&l| l).count();
        assert_eq!(positives, 298, "positive count");
    }

    #[test]
    fn segments_case_matches_python() {
        // Segment starts, positive count and first scores printed by the same generator in Python.
        let (labels, scores) = segments_case();
        let starts: Vec<usize> = (0..labels.len())
            .filter(|&i| labels[i] && (i == 0 || !labels[i - 1]))
            .collect();
        assert_eq!(
            starts,
            [15, 87, 152, 210, 261, 305, 383, 413],
            "segment starts"
        );
        let positives = labels.iter().filter(|&&l| l).count();
        assert_eq!(positives, 57, "positive count");
        let first_scores = [0.13, 0.17, 0.06, 0.66, 0.55, 0.44];
        assert_eq!(&scores[..6], &first_scores, "first scores");
    }

    // Expected values came from sklearn.metrics.auc(recall, precision) on the output of
    // precision_recall_curve(labels, scores) in scikit-learn 1.9.1.
    #[test]
    fn pr_auc_trapezoid_matches_sklearn() {
        let (lcg_labels, lcg_scores) = lcg_case(1000, 42);
        let (segment_labels, segment_scores) = segments_case();
        let table = [
            (
                "reference",
                to_labels(&REFERENCE_LABELS),
                REFERENCE_SCORES.to_vec(),
                0.7428571428571429,
            ),
            (
                "ties across classes",
                to_labels(&[1, 0, 1, 0, 1, 0, 0, 1]),
                vec![0.5, 0.5, 0.3, 0.3, 0.9, 0.1, 0.9, 0.1],
                0.5625,
            ),
            (
                "lcg n=1000 seed 42",
                lcg_labels,
                lcg_scores,
                0.8084965580480518,
            ),
            (
                "segments",
                segment_labels,
                segment_scores,
                0.6784712289764685,
            ),
        ];
        for (name, labels, scores, expected) in table {
            let area = pr_auc_trapezoid(&labels, &scores).unwrap();
            let area = area.unwrap_or_else(|| panic!("{name}: PR-AUC is None"));
            assert_close(area, expected, &format!("{name}: trapezoidal PR-AUC"));
        }
    }

    #[test]
    fn pr_auc_trapezoid_equals_curve_area() {
        for case in ranking_cases() {
            let curve = precision_recall_curve(&case.labels, &case.scores).unwrap();
            let mut area = 0.0;
            for i in 1..curve.recall.len() {
                let width = curve.recall[i - 1] - curve.recall[i];
                area += width * (curve.precision[i] + curve.precision[i - 1]) / 2.0;
            }
            let trapezoid = pr_auc_trapezoid(&case.labels, &case.scores)
                .unwrap()
                .unwrap();
            assert_close(
                trapezoid,
                area,
                &format!("{}: trapezoidal PR-AUC against curve area", case.name),
            );
        }
    }

    #[test]
    fn pr_auc_trapezoid_no_positive() {
        let result = pr_auc_trapezoid(&[false; 3], &[0.1, 0.5, 0.9]);
        assert_eq!(result, Ok(None), "no positive label");
        let result = pr_auc_trapezoid(&[true; 3], &[0.1, 0.5, 0.5]);
        assert_eq!(result, Ok(Some(1.0)), "all positive");
        assert_eq!(pr_auc_trapezoid(&[], &[]), Err(MetricError::Empty), "empty");
    }

    #[test]
    fn roc_auc_matches_sklearn() {
        for case in ranking_cases() {
            let auc = roc_auc(&case.labels, &case.scores).unwrap();
            let auc = auc.unwrap_or_else(|| panic!("{}: ROC-AUC is None", case.name));
            assert_close(auc, case.roc_auc, &format!("{}: ROC-AUC", case.name));
        }
    }

    #[test]
    fn average_precision_matches_sklearn() {
        for case in ranking_cases() {
            let ap = average_precision(&case.labels, &case.scores).unwrap();
            let ap = ap.unwrap_or_else(|| panic!("{}: AP is None", case.name));
            assert_close(ap, case.average_precision, &format!("{}: AP", case.name));
        }
    }

    #[test]
    fn best_f1_matches_brute_force() {
        for case in ranking_cases() {
            let best = best_f1(&case.labels, &case.scores).unwrap();
            let (f1, threshold) = best.unwrap_or_else(|| panic!("{}: best F1 is None", case.name));
            assert_close(f1, case.best_f1, &format!("{}: best F1", case.name));
            assert_eq!(
                threshold, case.best_threshold,
                "{}: best threshold",
                case.name
            );
        }
    }

    #[test]
    fn best_f1_agrees_with_threshold_scores() {
        for case in ranking_cases() {
            let (f1, threshold) = best_f1(&case.labels, &case.scores).unwrap().unwrap();
            let scored = scores_at_threshold(&case.labels, &case.scores, threshold).unwrap();
            assert_close(
                scored.f1,
                f1,
                &format!("{}: F1 at best threshold", case.name),
            );
        }
    }

    // Expected arrays came from roc_curve(labels, scores, drop_intermediate=False) in
    // scikit-learn 1.9.1 on the reference case.
    #[test]
    fn roc_curve_reference_points() {
        let curve = roc_curve(&to_labels(&REFERENCE_LABELS), &REFERENCE_SCORES).unwrap();
        let fpr = [
            0.0,
            0.0,
            0.0,
            0.16666666666666666,
            0.5,
            0.5,
            0.6666666666666666,
            0.8333333333333334,
            1.0,
        ];
        let tpr = [0.0, 0.25, 0.5, 0.5, 0.5, 1.0, 1.0, 1.0, 1.0];
        let thresholds = [f64::INFINITY, 0.9, 0.8, 0.6, 0.4, 0.35, 0.2, 0.1, 0.05];
        assert_all_close(&curve.fpr, &fpr, "fpr");
        assert_all_close(&curve.tpr, &tpr, "tpr");
        assert_all_close(&curve.thresholds, &thresholds, "thresholds");
    }

    // Expected arrays came from precision_recall_curve(labels, scores) in scikit-learn 1.9.1 on
    // the reference case.
    #[test]
    fn pr_curve_reference_points() {
        let curve =
            precision_recall_curve(&to_labels(&REFERENCE_LABELS), &REFERENCE_SCORES).unwrap();
        let precision = [
            0.4,
            0.4444444444444444,
            0.5,
            0.5714285714285714,
            0.4,
            0.6666666666666666,
            1.0,
            1.0,
            1.0,
        ];
        let recall = [1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.25, 0.0];
        let thresholds = [0.05, 0.1, 0.2, 0.35, 0.4, 0.6, 0.8, 0.9];
        assert_all_close(&curve.precision, &precision, "precision");
        assert_all_close(&curve.recall, &recall, "recall");
        assert_all_close(&curve.thresholds, &thresholds, "thresholds");
    }

    #[test]
    fn roc_auc_equals_curve_area() {
        for case in ranking_cases() {
            let curve = roc_curve(&case.labels, &case.scores).unwrap();
            let mut area = 0.0;
            for i in 1..curve.fpr.len() {
                area += (curve.fpr[i] - curve.fpr[i - 1]) * (curve.tpr[i] + curve.tpr[i - 1]) / 2.0;
            }
            let auc = roc_auc(&case.labels, &case.scores).unwrap().unwrap();
            assert_close(
                auc,
                area,
                &format!("{}: ROC-AUC against curve area", case.name),
            );
        }
    }

    // Expected values came from scikit-learn 1.9.1 on the all-negative labels [0, 0, 0] with
    // scores [0.2, 0.5, 0.5] (roc_curve with drop_intermediate=False, precision_recall_curve).
    #[test]
    fn curves_all_negative() {
        let labels = [false; 3];
        let scores = [0.2, 0.5, 0.5];

        let roc = roc_curve(&labels, &scores).unwrap();
        assert_all_close(&roc.fpr, &[0.0, 0.6666666666666666, 1.0], "ROC fpr");
        assert!(
            roc.tpr.iter().all(|t| t.is_nan()),
            "ROC tpr must be NaN: {:?}",
            roc.tpr
        );
        assert_all_close(
            &roc.thresholds,
            &[f64::INFINITY, 0.5, 0.2],
            "ROC thresholds",
        );

        let pr = precision_recall_curve(&labels, &scores).unwrap();
        assert_all_close(&pr.precision, &[0.0, 0.0, 1.0], "PR precision");
        assert_all_close(&pr.recall, &[1.0, 1.0, 0.0], "PR recall");
        assert_all_close(&pr.thresholds, &[0.2, 0.5], "PR thresholds");
    }

    // Expected values came from scikit-learn 1.9.1 on the all-positive labels [1, 1, 1] with
    // scores [0.2, 0.5, 0.5].
    #[test]
    fn curves_all_positive() {
        let labels = [true; 3];
        let scores = [0.2, 0.5, 0.5];

        let roc = roc_curve(&labels, &scores).unwrap();
        assert!(
            roc.fpr.iter().all(|f| f.is_nan()),
            "ROC fpr must be NaN: {:?}",
            roc.fpr
        );
        assert_all_close(&roc.tpr, &[0.0, 0.6666666666666666, 1.0], "ROC tpr");

        let pr = precision_recall_curve(&labels, &scores).unwrap();
        assert_all_close(&pr.precision, &[1.0, 1.0, 1.0], "PR precision");
        assert_all_close(&pr.recall, &[1.0, 0.6666666666666666, 0.0], "PR recall");
    }

    struct ThresholdCase {
        threshold: f64,
        precision: f64,
        recall: f64,
        f1: f64,
        counts: [usize; 4],
    }

    fn check_threshold_table(name: &str, labels: &[bool], scores: &[f64], table: &[ThresholdCase]) {
        for case in table {
            let scored = scores_at_threshold(labels, scores, case.threshold).unwrap();
            let what = format!("{name} at threshold {}", case.threshold);
            assert_close(
                scored.precision,
                case.precision,
                &format!("{what}: precision"),
            );
            assert_close(scored.recall, case.recall, &format!("{what}: recall"));
            assert_close(scored.f1, case.f1, &format!("{what}: F1"));
            let [tp, fp, fn_, tn] = case.counts;
            assert_eq!(scored.counts.true_positives, tp, "{what}: true positives");
            assert_eq!(scored.counts.false_positives, fp, "{what}: false positives");
            assert_eq!(
                scored.counts.false_negatives, fn_,
                "{what}: false negatives"
            );
            assert_eq!(scored.counts.true_negatives, tn, "{what}: true negatives");
        }
    }

    // Expected values came from precision_score, recall_score and f1_score with zero_division=0
    // in scikit-learn 1.9.1, on the predictions scores >= threshold. Counts are [TP, FP, FN, TN].
    #[test]
    fn threshold_scores_reference() {
        let table = [
            ThresholdCase {
                threshold: 0.35,
                precision: 0.5714285714285714,
                recall: 1.0,
                f1: 0.7272727272727273,
                counts: [4, 3, 0, 3],
            },
            ThresholdCase {
                threshold: 0.5,
                precision: 0.6666666666666666,
                recall: 0.5,
                f1: 0.5714285714285714,
                counts: [2, 1, 2, 5],
            },
            ThresholdCase {
                threshold: 0.95,
                precision: 0.0,
                recall: 0.0,
                f1: 0.0,
                counts: [0, 0, 4, 6],
            },
        ];
        let labels = to_labels(&REFERENCE_LABELS);
        check_threshold_table("reference", &labels, &REFERENCE_SCORES, &table);
    }

    // Expected values came from scikit-learn 1.9.1, as for the reference case above.
    #[test]
    fn threshold_scores_ties() {
        let table = [
            ThresholdCase {
                threshold: 0.35,
                precision: 0.5,
                recall: 0.5,
                f1: 0.5,
                counts: [2, 2, 2, 2],
            },
            ThresholdCase {
                threshold: 0.5,
                precision: 0.5,
                recall: 0.5,
                f1: 0.5,
                counts: [2, 2, 2, 2],
            },
        ];
        let labels = to_labels(&[1, 0, 1, 0, 1, 0, 0, 1]);
        let scores = [0.5, 0.5, 0.3, 0.3, 0.9, 0.1, 0.9, 0.1];
        check_threshold_table("ties", &labels, &scores, &table);
    }

    // Expected values came from scikit-learn 1.9.1, as for the reference case above.
    #[test]
    fn threshold_scores_lcg() {
        let table = [
            ThresholdCase {
                threshold: 0.35,
                precision: 0.45565749235474007,
                recall: 1.0,
                f1: 0.6260504201680672,
                counts: [298, 356, 0, 346],
            },
            ThresholdCase {
                threshold: 0.5,
                precision: 0.5221987315010571,
                recall: 0.8288590604026845,
                f1: 0.6407263294422828,
                counts: [247, 226, 51, 476],
            },
            ThresholdCase {
                threshold: 0.95,
                precision: 1.0,
                recall: 0.09731543624161074,
                f1: 0.17737003058103976,
                counts: [29, 0, 269, 702],
            },
        ];
        let (labels, scores) = lcg_case(1000, 42);
        check_threshold_table("lcg", &labels, &scores, &table);
    }

    #[test]
    fn threshold_scores_infinite() {
        let labels = to_labels(&REFERENCE_LABELS);
        let none = scores_at_threshold(&labels, &REFERENCE_SCORES, f64::INFINITY).unwrap();
        assert_eq!(none.counts.true_positives, 0, "+inf flags no positive");
        assert_eq!(none.counts.false_positives, 0, "+inf flags no negative");
        assert_eq!(none.precision, 0.0, "precision with nothing flagged");
        assert_eq!(none.f1, 0.0, "F1 with nothing flagged");

        let all = scores_at_threshold(&labels, &REFERENCE_SCORES, f64::NEG_INFINITY).unwrap();
        assert_eq!(all.counts.false_negatives, 0, "-inf misses no positive");
        assert_eq!(
            all.counts.true_negatives, 0,
            "-inf leaves no negative unflagged"
        );
        assert_eq!(all.recall, 1.0, "recall with everything flagged");
    }

    #[test]
    fn threshold_scores_no_positive() {
        let scored = scores_at_threshold(&[false; 3], &[0.1, 0.5, 0.9], 0.5).unwrap();
        assert_eq!(scored.recall, 0.0, "recall with no positive label");
        assert_eq!(scored.precision, 0.0, "precision with no true positive");
        assert_eq!(scored.f1, 0.0, "F1 with no positive label");
    }

    #[test]
    fn threshold_scores_nan_threshold() {
        let result = scores_at_threshold(&[true, false], &[0.1, 0.2], f64::NAN);
        assert_eq!(result, Err(MetricError::NanThreshold), "NaN threshold");
    }

    #[test]
    fn single_class_all_negative() {
        let labels = [false; 4];
        let scores = [0.1, 0.2, 0.2, 0.9];
        assert_eq!(roc_auc(&labels, &scores), Ok(None), "ROC-AUC");
        assert_eq!(average_precision(&labels, &scores), Ok(None), "AP");
        assert_eq!(best_f1(&labels, &scores), Ok(None), "best F1");
    }

    // average_precision_score of scikit-learn 1.9.1 returns 1.0 for all-positive labels.
    #[test]
    fn single_class_all_positive() {
        let labels = [true; 4];
        let scores = [0.1, 0.2, 0.2, 0.9];
        assert_eq!(roc_auc(&labels, &scores), Ok(None), "ROC-AUC");
        assert_eq!(average_precision(&labels, &scores), Ok(Some(1.0)), "AP");
        assert_eq!(best_f1(&labels, &scores), Ok(Some((1.0, 0.1))), "best F1");
    }

    #[test]
    fn errors_length_mismatch() {
        let expected = Err(MetricError::LengthMismatch {
            labels: 3,
            scores: 2,
        });
        let labels = [true, false, true];
        let scores = [0.1, 0.2];
        assert_eq!(roc_auc(&labels, &scores), expected, "roc_auc");
        assert_eq!(
            average_precision(&labels, &scores),
            expected,
            "average_precision"
        );
        assert_eq!(best_f1(&labels, &scores).map(|_| None), expected, "best_f1");
        let scored = scores_at_threshold(&labels, &scores, 0.5);
        assert_eq!(scored.map(|_| None), expected, "scores_at_threshold");
        let roc = roc_curve(&labels, &scores);
        assert_eq!(roc.map(|_| None), expected, "roc_curve");
        let pr = precision_recall_curve(&labels, &scores);
        assert_eq!(pr.map(|_| None), expected, "precision_recall_curve");
    }

    #[test]
    fn errors_non_finite_score() {
        let labels = [true, false, true, false];
        for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let scores = [0.1, 0.2, bad, 0.4];
            let error = roc_auc(&labels, &scores).unwrap_err();
            let MetricError::NonFiniteScore { index, value } = error else {
                panic!("score {bad}: expected NonFiniteScore, got {error:?}");
            };
            assert_eq!(index, 2, "score {bad}: index");
            assert!(
                value.is_nan() == bad.is_nan(),
                "score {bad}: NaN value, got {value}"
            );
            assert!(
                bad.is_nan() || value == bad,
                "score {bad}: infinite value, got {value}"
            );

            let error = average_precision(&labels, &scores).unwrap_err();
            assert!(
                matches!(error, MetricError::NonFiniteScore { index: 2, .. }),
                "average_precision with score {bad}: got {error:?}"
            );
            let error = scores_at_threshold(&labels, &scores, 0.5).unwrap_err();
            assert!(
                matches!(error, MetricError::NonFiniteScore { index: 2, .. }),
                "scores_at_threshold with score {bad}: got {error:?}"
            );
        }
    }

    #[test]
    fn errors_empty() {
        assert_eq!(roc_auc(&[], &[]), Err(MetricError::Empty), "roc_auc");
        assert_eq!(
            average_precision(&[], &[]),
            Err(MetricError::Empty),
            "average_precision"
        );
        assert_eq!(best_f1(&[], &[]), Err(MetricError::Empty), "best_f1");
        assert_eq!(roc_curve(&[], &[]), Err(MetricError::Empty), "roc_curve");
        let pr = precision_recall_curve(&[], &[]);
        assert_eq!(pr, Err(MetricError::Empty), "precision_recall_curve");
        let scored = scores_at_threshold(&[], &[], 0.5);
        assert_eq!(scored, Err(MetricError::Empty), "scores_at_threshold");
    }

    #[test]
    fn error_messages_name_values() {
        let mismatch = MetricError::LengthMismatch {
            labels: 3,
            scores: 2,
        };
        let message = mismatch.to_string();
        assert!(message.contains('3'), "label length missing: {message}");
        assert!(message.contains('2'), "score length missing: {message}");
        assert!(message.contains("must be equal"), "rule missing: {message}");

        let non_finite = MetricError::NonFiniteScore {
            index: 7,
            value: f64::NAN,
        };
        let message = non_finite.to_string();
        assert!(message.contains("index 7"), "index missing: {message}");
        assert!(message.contains("NaN"), "value missing: {message}");
        assert!(message.contains("finite"), "rule missing: {message}");
    }

    #[test]
    fn negative_zero_ties_positive_zero() {
        // -0.0 == 0.0, so the two must form one threshold, as in numpy.
        let curve = roc_curve(&[true, false], &[0.0, -0.0]).unwrap();
        assert_eq!(
            curve.thresholds.len(),
            2,
            "thresholds: {:?}",
            curve.thresholds
        );
        let auc = roc_auc(&[true, false], &[0.0, -0.0]).unwrap();
        assert_eq!(auc, Some(0.5), "ROC-AUC of tied zeros");
    }
}
