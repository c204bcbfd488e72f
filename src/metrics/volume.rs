//! Volume under the surface, VUS-ROC and VUS-PR (Paparrizos et al., VLDB 2022).
//!
//! The definitions follow `RangeAUC_volume_opt` of `basic_metricor` in the PyPI package `TSB-AD`
//! 1.5 (`TSB_AD.evaluation.basic_metrics.generate_curve(labels, scores, window, "opt", 250)`),
//! which computes the same values as `metricor().RangeAUC_volume_opt` in the PyPI package `vus`
//! 0.0.6 on every test case.

use std::ops::Range;

use super::ranges::true_runs;
use super::{MetricError, validate};

/// Number of score thresholds that [`vus`] samples, the default `thre` of the reference.
pub const VUS_THRESHOLD_COUNT: usize = 250;

/// VUS-ROC and VUS-PR over the buffer lengths 0 through the `window` of [`vus`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VusScores {
    /// Mean over buffer lengths of the range-AUC-ROC.
    pub roc: f64,
    /// Mean over buffer lengths of the range-AUC-PR.
    pub pr: f64,
}

/// Computes VUS-ROC and VUS-PR, the means of range-AUC-ROC and range-AUC-PR over the buffer
/// lengths w = 0, 1, …, `window`, with [`VUS_THRESHOLD_COUNT`] sampled thresholds.
///
/// See [`vus_with_threshold_count`] for the definition, the reference and the errors.
pub fn vus(
    labels: &[bool],
    scores: &[f64],
    window: usize,
) -> Result<Option<VusScores>, MetricError> {
    vus_with_threshold_count(labels, scores, window, VUS_THRESHOLD_COUNT)
}

/// Computes VUS-ROC and VUS-PR with `threshold_count` sampled thresholds, equal to
/// `generate_curve(labels, scores, window, "opt", threshold_count)` of TSB-AD 1.5 at 1e-9.
///
/// For each buffer length w in 0..=`window`, with h = ⌊w / 2⌋:
///
/// - Buffered labels: an anomaly point has label 1. A normal point at distance d ≤ h before the
///   start or after the end of an anomaly range gets √(1 − d / w) from that range, and the sum
///   over ranges is capped at 1.
/// - Buffered ranges: every anomaly range widened by h on each side, merged where they overlap.
/// - Thresholds: the scores at ranks ⌊k·(n − 1) / (m − 1)⌋, k = 0..m, of the scores in
///   decreasing order (`numpy.linspace` rounded down), with m = `threshold_count`. A point is
///   flagged when its score is at least the threshold.
/// - At each threshold, with P anomaly points and B the sum of buffered labels over flagged
///   normal points: TP = (flagged anomaly points) + B, P' = P + B / 2 and FP = flagged − TP.
///   The existence reward is the fraction of buffered ranges with a flagged point, so
///   TPR = min(TP / P', 1) · existence, FPR = FP / (n − P') and precision = TP / flagged.
/// - Range-AUC-ROC is the trapezoidal area under (FPR, TPR) from (0, 0) through the thresholds
///   to (1, 1). Range-AUC-PR is Σ (TPRₖ − TPRₖ₋₁) · precisionₖ from TPR₀ = 0.
///
/// With `window` = 0 the value still differs from [`super::roc_auc`] and
/// [`super::average_precision`], because of the existence reward and the sampled thresholds.
///
/// The scores are sorted once, and each buffer length takes O(n + m), so the cost is
/// O(n log n + (`window` + 1)·(n + m)) time and O(n + m) memory.
///
/// Returns `Ok(None)` and logs a warning when the labels contain only one class: with no
/// anomaly the reference raises an error, and with no normal point FPR is 0 / 0. Apart from
/// these cases, the only deviation from the reference is the order of the sums, which changed
/// no test value by more than 3e-16.
///
/// # Errors
///
/// Besides the input checks shared by every metric, returns [`MetricError::InvalidParameter`]
/// when `threshold_count` is 0.
pub fn vus_with_threshold_count(
    labels: &[bool],
    scores: &[f64],
    window: usize,
    threshold_count: usize,
) -> Result<Option<VusScores>, MetricError> {
    validate(labels, scores)?;
    if threshold_count == 0 {
        return Err(MetricError::InvalidParameter {
            name: "VUS threshold count",
            value: 0.0,
            requirement: "at least 1",
        });
    }
    let length = labels.len();
    let anomaly_ranges = true_runs(labels);
    let positives: usize = anomaly_ranges.iter().map(Range::len).sum();
    if positives == 0 || positives == length {
        tracing::warn!(
            positives,
            negatives = length - positives,
            "VUS is undefined when the labels contain only one class; returning None"
        );
        return Ok(None);
    }

    let mut order: Vec<usize> = (0..length).collect();
    order.sort_unstable_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let flagged_counts = sampled_flagged_counts(scores, &order, threshold_count);

    let mut buffered_labels = vec![0.0; length];
    let mut contributions = vec![0_u8; length];
    let mut range_of_point = vec![NO_RANGE; length];
    let mut range_hit = Vec::with_capacity(anomaly_ranges.len());
    let mut roc_sum = 0.0;
    let mut pr_sum = 0.0;
    for buffer in 0..=window {
        fill_buffered_labels(labels, buffer, &mut buffered_labels, &mut contributions);
        let range_count = assign_buffered_ranges(&anomaly_ranges, buffer, &mut range_of_point);
        range_hit.clear();
        range_hit.resize(range_count, false);

        let curve = CurveInputs {
            labels,
            order: &order,
            flagged_counts: &flagged_counts,
            buffered_labels: &buffered_labels,
            range_of_point: &range_of_point,
            positives,
        };
        let (roc, pr) = range_auc(&curve, &mut range_hit);
        roc_sum += roc;
        pr_sum += pr;
    }

    let buffer_count = (window + 1) as f64;
    Ok(Some(VusScores {
        roc: roc_sum / buffer_count,
        pr: pr_sum / buffer_count,
    }))
}

/// Marks a point outside every buffered range in `range_of_point`.
const NO_RANGE: usize = usize::MAX;

/// Returns, for each sampled threshold, how many points have a score at or above it.
///
/// The k-th threshold is the score at rank ⌊k·step⌋ of `order` (decreasing scores), with
/// step = (n − 1) / (m − 1) and the last rank n − 1, which is how `numpy.linspace(0, n - 1, m)`
/// followed by `astype(int)` computes it. Ties make a count larger than the rank plus one.
fn sampled_flagged_counts(scores: &[f64], order: &[usize], threshold_count: usize) -> Vec<usize> {
    let last_rank = order.len() - 1;
    let step = if threshold_count > 1 {
        last_rank as f64 / (threshold_count - 1) as f64
    } else {
        0.0
    };

    let mut counts = Vec::with_capacity(threshold_count);
    let mut flagged = 0;
    for k in 0..threshold_count {
        let rank = if k + 1 == threshold_count && threshold_count > 1 {
            last_rank
        } else {
            (k as f64 * step) as usize
        };
        let threshold = scores[order[rank]];
        // Ranks never decrease, so the count only grows. `>=` treats -0.0 and 0.0 as equal,
        // and the sort places them next to each other.
        while flagged < order.len() && scores[order[flagged]] >= threshold {
            flagged += 1;
        }
        counts.push(flagged);
    }
    counts
}

/// Writes the buffered label of every point for buffer length `buffer` into `output`.
///
/// A normal point gets √(1 − d / w) from each anomaly range within h = ⌊w / 2⌋ points, and the
/// reference caps the sum at 1. Every term is at least √(1 − h / w) ≥ √0.5, so two or more terms
/// always reach the cap. The value therefore depends only on the nearest range end before the
/// point, the nearest range start after it and the second-nearest of each, which one pass in
/// each direction finds in O(n). `contributions` is scratch space that counts the terms.
fn fill_buffered_labels(
    labels: &[bool],
    buffer: usize,
    output: &mut [f64],
    contributions: &mut [u8],
) {
    let half = buffer / 2;
    let term = |distance: usize| (1.0 - distance as f64 / buffer as f64).sqrt();

    // Forward pass: the last index of the latest anomaly range and the one before it.
    let mut nearest_end: Option<usize> = None;
    let mut second_end: Option<usize> = None;
    for index in 0..labels.len() {
        if labels[index] {
            if index == 0 || !labels[index - 1] {
                second_end = nearest_end;
            }
            nearest_end = Some(index);
            output[index] = 1.0;
            continue;
        }
        let within = |end: Option<usize>| end.is_some_and(|e| index - e <= half);
        contributions[index] = u8::from(within(nearest_end)) + u8::from(within(second_end));
        output[index] = match (contributions[index], nearest_end) {
            (1, Some(end)) => term(index - end),
            (0, _) => 0.0,
            _ => 1.0,
        };
    }

    // Backward pass: the first index of the next anomaly range and the one after it.
    let mut nearest_start: Option<usize> = None;
    let mut second_start: Option<usize> = None;
    for index in (0..labels.len()).rev() {
        if labels[index] {
            if index + 1 == labels.len() || !labels[index + 1] {
                second_start = nearest_start;
            }
            nearest_start = Some(index);
            continue;
        }
        let within = |start: Option<usize>| start.is_some_and(|s| s - index <= half);
        let after = u8::from(within(nearest_start)) + u8::from(within(second_start));
        match (contributions[index] + after, nearest_start) {
            (0, _) => {}
            (1, Some(start)) if after == 1 => output[index] = term(start - index),
            (1, _) => {}
            _ => output[index] = 1.0,
        }
    }
}

/// Writes, for each point, the index of the buffered range that contains it (or [`NO_RANGE`])
/// into `range_of_point`, and returns the number of buffered ranges.
///
/// A buffered range is an anomaly range widened by h = ⌊`buffer` / 2⌋ on each side and clipped
/// to the series. Two neighbours merge unless end + h < next start − h, as in the reference's
/// `new_sequence`.
fn assign_buffered_ranges(
    anomaly_ranges: &[Range<usize>],
    buffer: usize,
    range_of_point: &mut [usize],
) -> usize {
    range_of_point.fill(NO_RANGE);
    let half = buffer / 2;
    let length = range_of_point.len();

    let mut range_count = 0;
    let mut current: Option<Range<usize>> = None;
    for range in anomaly_ranges {
        let start = range.start.saturating_sub(half);
        let end = (range.end + half).min(length);
        current = match current {
            // Half-open ends: the reference's `end + h < next start - h` on inclusive ends.
            Some(open) if open.end > start => Some(open.start..end),
            Some(open) => {
                range_of_point[open].fill(range_count);
                range_count += 1;
                Some(start..end)
            }
            None => Some(start..end),
        };
    }
    if let Some(open) = current {
        range_of_point[open].fill(range_count);
        range_count += 1;
    }
    range_count
}

/// Inputs of one range-AUC computation at a fixed buffer length.
struct CurveInputs<'a> {
    labels: &'a [bool],
    /// Point indices by decreasing score.
    order: &'a [usize],
    /// Number of flagged points at each sampled threshold, non-decreasing.
    flagged_counts: &'a [usize],
    buffered_labels: &'a [f64],
    range_of_point: &'a [usize],
    positives: usize,
}

/// Returns (range-AUC-ROC, range-AUC-PR) for one buffer length. Points are added in decreasing
/// score order as the threshold falls, so each threshold costs only its new points.
/// `range_hit` must hold one `false` per buffered range.
fn range_auc(curve: &CurveInputs, range_hit: &mut [bool]) -> (f64, f64) {
    let length = curve.labels.len() as f64;
    let positives = curve.positives as f64;
    let range_count = range_hit.len() as f64;

    let mut added = 0;
    let mut anomaly_hits = 0_usize;
    let mut buffered_mass = 0.0;
    let mut ranges_hit = 0_usize;
    let mut previous_tpr = 0.0;
    let mut previous_fpr = 0.0;
    let mut roc = 0.0;
    let mut pr = 0.0;
    for &flagged in curve.flagged_counts {
        while added < flagged {
            let index = curve.order[added];
            if curve.labels[index] {
                anomaly_hits += 1;
            } else {
                buffered_mass += curve.buffered_labels[index];
            }
            let range = curve.range_of_point[index];
            if range != NO_RANGE && !range_hit[range] {
                range_hit[range] = true;
                ranges_hit += 1;
            }
            added += 1;
        }

        let true_positives = anomaly_hits as f64 + buffered_mass;
        // The reference's P' = (P + N_labels) / 2, where N_labels = P + B.
        let soft_positives = positives + buffered_mass / 2.0;
        let existence = ranges_hit as f64 / range_count;
        let tpr = (true_positives / soft_positives).min(1.0) * existence;
        let fpr = (flagged as f64 - true_positives) / (length - soft_positives);
        let precision = true_positives / flagged as f64;

        roc += (fpr - previous_fpr) * (tpr + previous_tpr) / 2.0;
        pr += (tpr - previous_tpr) * precision;
        previous_tpr = tpr;
        previous_fpr = fpr;
    }
    // The reference closes the ROC curve at (1, 1).
    roc += (1.0 - previous_fpr) * (1.0 + previous_tpr) / 2.0;
    (roc, pr)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::tests::{
        REFERENCE_LABELS, REFERENCE_SCORES, assert_close, lcg_case, segments_case, to_labels,
    };

    struct VusCase {
        name: &'static str,
        window: usize,
        threshold_count: usize,
        roc: f64,
        pr: f64,
    }

    fn case_data(name: &str) -> (Vec<bool>, Vec<f64>) {
        match name {
            "reference" => (to_labels(&REFERENCE_LABELS), REFERENCE_SCORES.to_vec()),
            "ties" => (
                to_labels(&[1, 0, 1, 0, 1, 0, 0, 1]),
                vec![0.5, 0.5, 0.3, 0.3, 0.9, 0.1, 0.9, 0.1],
            ),
            "lcg" => lcg_case(1000, 42),
            "segments" => segments_case(),
            // Anomaly ranges touch both ends of the series, so the buffers are clipped.
            "edges" => (
                to_labels(&[1, 1, 0, 0, 0, 1, 0, 0, 0, 1, 1]),
                vec![0.9, 0.3, 0.2, 0.6, 0.1, 0.7, 0.5, 0.2, 0.4, 0.8, 0.35],
            ),
            _ => panic!("no VUS case named {name}"),
        }
    }

    // Expected values came from TSB-AD 1.5: generate_curve(labels, scores, window, "opt",
    // threshold_count) from TSB_AD.evaluation.basic_metrics, returning VUS_ROC and VUS_PR, with
    // numpy 2.4.6. The vus 0.0.6 package (metricor().RangeAUC_volume_opt) gives the same values.
    fn vus_cases() -> Vec<VusCase> {
        let table: [(&'static str, usize, usize, f64, f64); 20] = [
            ("reference", 2, 250, 0.7618048325398857, 0.7843535560682541),
            ("reference", 2, 17, 0.7618048325398856, 0.7843535560682541),
            ("reference", 3, 250, 0.8140082298933727, 0.8263659136139033),
            ("reference", 3, 17, 0.8140082298933726, 0.8263659136139033),
            ("ties", 0, 250, 0.34375, 0.5),
            ("ties", 0, 17, 0.34375, 0.5),
            ("ties", 5, 250, 0.7617126456404764, 0.8070752381067928),
            ("ties", 5, 17, 0.7617126456404764, 0.8070752381067928),
            ("lcg", 1, 250, 0.8249984550928039, 0.72177917859989),
            ("lcg", 1, 17, 0.8209344716412771, 0.693394234331571),
            ("lcg", 6, 250, 0.9204702002656618, 0.8612890425664111),
            ("lcg", 6, 17, 0.9178406617762764, 0.8429824546119187),
            ("segments", 4, 250, 0.9150773549025029, 0.7048835183184249),
            ("segments", 4, 17, 0.9136495139098543, 0.6673157982232697),
            ("segments", 24, 250, 0.9577730174577583, 0.8239612845100999),
            ("segments", 24, 17, 0.9563308380612675, 0.7927276914008249),
            ("edges", 2, 250, 0.8308096098384757, 0.8611292838521033),
            ("edges", 2, 17, 0.8308096098384757, 0.8611292838521033),
            ("edges", 6, 250, 0.911246976391577, 0.9258643855336505),
            ("edges", 6, 17, 0.911246976391577, 0.9258643855336507),
        ];
        table
            .into_iter()
            .map(|(name, window, threshold_count, roc, pr)| VusCase {
                name,
                window,
                threshold_count,
                roc,
                pr,
            })
            .collect()
    }

    #[test]
    fn vus_matches_tsb_ad() {
        for case in vus_cases() {
            let (labels, scores) = case_data(case.name);
            let what = format!(
                "{} window {} with {} thresholds",
                case.name, case.window, case.threshold_count
            );
            let result =
                vus_with_threshold_count(&labels, &scores, case.window, case.threshold_count)
                    .unwrap()
                    .unwrap_or_else(|| panic!("{what}: VUS is None"));
            assert_close(result.roc, case.roc, &format!("{what}: VUS-ROC"));
            assert_close(result.pr, case.pr, &format!("{what}: VUS-PR"));
        }
    }

    #[test]
    fn vus_uses_250_thresholds() {
        let (labels, scores) = segments_case();
        let default = vus(&labels, &scores, 4).unwrap();
        let explicit = vus_with_threshold_count(&labels, &scores, 4, 250).unwrap();
        assert_eq!(default, explicit, "default threshold count");
    }

    // Direct evaluation of the reference's `sequencing`: add every term, then cap at 1.
    fn buffered_labels_by_definition(labels: &[bool], buffer: usize) -> Vec<f64> {
        let mut output: Vec<f64> = labels.iter().map(|&l| f64::from(u8::from(l))).collect();
        let half = buffer / 2;
        let term = |distance: usize| (1.0 - distance as f64 / buffer as f64).sqrt();
        for range in true_runs(labels) {
            let after_end = (range.end + half).min(labels.len());
            for (distance, value) in (1..).zip(&mut output[range.end..after_end]) {
                *value += term(distance);
            }
            let before_start = range.start.saturating_sub(half);
            for (distance, value) in (1..).zip(output[before_start..range.start].iter_mut().rev()) {
                *value += term(distance);
            }
        }
        output.iter().map(|v| v.min(1.0)).collect()
    }

    #[test]
    fn buffered_labels_match_definition() {
        let series = [
            to_labels(&[0, 0, 1, 0, 1, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 1]),
            to_labels(&[1, 0, 1, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
            to_labels(&REFERENCE_LABELS),
            segments_case().0,
        ];
        for (series_index, labels) in series.iter().enumerate() {
            for buffer in [0, 1, 2, 3, 4, 7, 12, 24] {
                let mut output = vec![0.0; labels.len()];
                let mut contributions = vec![0; labels.len()];
                fill_buffered_labels(labels, buffer, &mut output, &mut contributions);
                let expected = buffered_labels_by_definition(labels, buffer);
                for (index, (&a, &e)) in output.iter().zip(&expected).enumerate() {
                    assert_eq!(
                        a, e,
                        "series {series_index}, buffer {buffer}, point {index}"
                    );
                }
            }
        }
    }

    #[test]
    fn buffered_ranges_merge() {
        let labels = to_labels(&[0, 1, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 1]);
        let ranges = true_runs(&labels);
        let mut range_of_point = vec![0; labels.len()];

        let count = assign_buffered_ranges(&ranges, 0, &mut range_of_point);
        assert_eq!(count, 3, "buffer 0: count");
        assert_eq!(range_of_point[0], NO_RANGE, "buffer 0: point 0");
        assert_eq!(range_of_point[6], 1, "buffer 0: point 6");

        // h = 2: [0, 3] and [3, 8] merge because 1 + 2 < 5 - 2 is false, and [10, 12] stays
        // apart because 6 + 2 < 12 - 2.
        let count = assign_buffered_ranges(&ranges, 4, &mut range_of_point);
        assert_eq!(count, 2, "buffer 4: count");
        assert!(
            range_of_point[..9].iter().all(|&r| r == 0),
            "buffer 4: {range_of_point:?}"
        );
        assert_eq!(range_of_point[9], NO_RANGE, "buffer 4: point 9");
        assert_eq!(range_of_point[10], 1, "buffer 4: point 10");
        assert_eq!(range_of_point[12], 1, "buffer 4: point 12");

        // h = 1 gives [0, 2], [4, 7] and [11, 12], and 2 + 1 < 5 - 1 holds, so nothing merges.
        let count = assign_buffered_ranges(&ranges, 2, &mut range_of_point);
        assert_eq!(count, 3, "buffer 2: count");
        assert_eq!(range_of_point[3], NO_RANGE, "buffer 2: point 3");
        assert_eq!(range_of_point[4], 1, "buffer 2: point 4");
        assert_eq!(range_of_point[10], NO_RANGE, "buffer 2: point 10");
    }

    #[test]
    fn buffered_ranges_adjacent() {
        // h = 1: [0, 2] and [3, 5] touch without overlap, and 1 + 1 < 4 - 1, so they stay apart.
        let labels = to_labels(&[0, 1, 0, 0, 1, 0]);
        let mut range_of_point = vec![0; labels.len()];
        let count = assign_buffered_ranges(&true_runs(&labels), 2, &mut range_of_point);
        assert_eq!(count, 2, "count");
        assert_eq!(range_of_point[2], 0, "point 2");
        assert_eq!(range_of_point[3], 1, "point 3");
    }

    #[test]
    fn sampled_counts_follow_linspace() {
        // numpy.linspace(0, 9, 4).astype(int) is [0, 3, 6, 9].
        let scores = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0];
        let order: Vec<usize> = (0..scores.len()).collect();
        assert_eq!(
            sampled_flagged_counts(&scores, &order, 4),
            vec![1, 4, 7, 10],
            "distinct scores"
        );
        assert_eq!(
            sampled_flagged_counts(&scores, &order, 1),
            vec![1],
            "one threshold"
        );

        // Ties: the threshold at rank 0 flags both points scored 0.9.
        let tied = [0.9, 0.9, 0.5];
        let order = [0, 1, 2];
        assert_eq!(
            sampled_flagged_counts(&tied, &order, 3),
            vec![2, 2, 3],
            "tied scores"
        );
    }

    #[test]
    fn vus_one_class() {
        let scores = [0.1, 0.5, 0.3];
        assert_eq!(vus(&[false; 3], &scores, 2), Ok(None), "no anomaly");
        assert_eq!(vus(&[true; 3], &scores, 2), Ok(None), "no normal point");
    }

    #[test]
    fn vus_errors() {
        let result = vus(&[true, false], &[0.1], 2);
        let expected = Err(MetricError::LengthMismatch {
            labels: 2,
            scores: 1,
        });
        assert_eq!(result, expected, "length mismatch");
        assert_eq!(vus(&[], &[], 2), Err(MetricError::Empty), "empty");
        let result = vus(&[true, false], &[0.1, f64::NAN], 2);
        assert!(
            matches!(result, Err(MetricError::NonFiniteScore { index: 1, .. })),
            "NaN score: got {result:?}"
        );
        let result = vus_with_threshold_count(&[true, false], &[0.1, 0.2], 2, 0);
        assert!(
            matches!(result, Err(MetricError::InvalidParameter { .. })),
            "zero thresholds: got {result:?}"
        );
    }
}
