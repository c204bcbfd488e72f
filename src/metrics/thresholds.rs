//! Threshold rules that choose a decision threshold from validation data alone, so that the test
//! labels never influence the threshold.

use super::{MetricError, rank_by_score, validate, validate_scores};

/// Rule that computes a decision threshold from validation data. Points with a score greater
/// than or equal to the threshold are flagged as anomalies.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ThresholdRule {
    /// The q-quantile of the validation scores, for q in the open interval (0, 1), by linear
    /// interpolation between order statistics. Equals `numpy.quantile(scores, q)` with numpy's
    /// default method "linear" (checked against numpy 2.4.6).
    Quantile(f64),
    /// Mean plus this many population standard deviations (ddof = 0) of the validation scores,
    /// `numpy.mean(scores) + n * numpy.std(scores)`. The multiplier may be negative.
    MeanStd(f64),
    /// The distinct validation score that maximises F-beta on labelled validation data, for
    /// this β > 0, with F-beta = (1 + β²)·TP / ((1 + β²)·TP + β²·FN + FP).
    BestFbeta(f64),
}

/// Chooses a decision threshold from validation scores by `rule`.
///
/// Only [`ThresholdRule::BestFbeta`] reads `validation_labels`, and it needs labels of both
/// classes. When labels are given to another rule, only their length is checked.
///
/// # Errors
///
/// - The input checks shared by every metric: [`MetricError::Empty`],
///   [`MetricError::NonFiniteScore`], and [`MetricError::LengthMismatch`] when labels are given.
/// - [`MetricError::InvalidParameter`] for a quantile outside (0, 1), a non-finite `MeanStd`
///   multiplier, or a β that is not finite and positive.
/// - [`MetricError::MissingValidationLabels`] when `BestFbeta` gets no labels, and
///   [`MetricError::SingleClassValidationLabels`] when its labels contain one class only.
pub fn choose_threshold(
    rule: &ThresholdRule,
    validation_scores: &[f64],
    validation_labels: Option<&[bool]>,
) -> Result<f64, MetricError> {
    match validation_labels {
        Some(labels) => validate(labels, validation_scores)?,
        None => validate_scores(validation_scores)?,
    }

    match *rule {
        ThresholdRule::Quantile(q) => {
            if !(q > 0.0 && q < 1.0) {
                return Err(MetricError::InvalidParameter {
                    name: "quantile q",
                    value: q,
                    requirement: "in the open interval (0, 1)",
                });
            }
            Ok(linear_quantile(validation_scores, q))
        }
        ThresholdRule::MeanStd(multiplier) => {
            if !multiplier.is_finite() {
                return Err(MetricError::InvalidParameter {
                    name: "MeanStd multiplier",
                    value: multiplier,
                    requirement: "finite",
                });
            }
            let (mean, std) = mean_and_population_std(validation_scores);
            Ok(mean + multiplier * std)
        }
        ThresholdRule::BestFbeta(beta) => {
            if !(beta.is_finite() && beta > 0.0) {
                return Err(MetricError::InvalidParameter {
                    name: "F-beta beta",
                    value: beta,
                    requirement: "finite and greater than 0",
                });
            }
            let labels = validation_labels.ok_or(MetricError::MissingValidationLabels)?;
            best_fbeta_threshold(labels, validation_scores, beta)
        }
    }
}

/// Computes the q-quantile of non-empty `scores` like numpy's method "linear": the virtual index
/// h = (n − 1)·q falls between the order statistics x[⌊h⌋] and x[⌊h⌋ + 1].
///
/// A partial sort finds the two order statistics in O(n) on average.
fn linear_quantile(scores: &[f64], q: f64) -> f64 {
    let mut sorted = scores.to_vec();
    let last = sorted.len() - 1;
    let virtual_index = last as f64 * q;
    let lower = (virtual_index.floor() as usize).min(last);
    let gamma = virtual_index - lower as f64;

    let (_, &mut below, above) = sorted.select_nth_unstable_by(lower, f64::total_cmp);
    let above = above
        .iter()
        .copied()
        .min_by(f64::total_cmp)
        .unwrap_or(below);

    // Interpolating from the nearer order statistic, as numpy's `_lerp` does, rounds like numpy.
    let difference = above - below;
    if gamma >= 0.5 {
        above - difference * (1.0 - gamma)
    } else {
        below + difference * gamma
    }
}

/// Returns the mean and the population standard deviation (ddof = 0) of non-empty `scores`, by
/// the two passes that `numpy.std` makes.
fn mean_and_population_std(scores: &[f64]) -> (f64, f64) {
    let count = scores.len() as f64;
    let mean = scores.iter().sum::<f64>() / count;
    let squared_deviations: f64 = scores.iter().map(|s| (s - mean) * (s - mean)).sum();
    (mean, (squared_deviations / count).sqrt())
}

/// Returns the distinct score with the highest F-beta when every point scored at or above it is
/// flagged. Among equal F-beta values the highest threshold wins, as in [`super::best_f1`].
fn best_fbeta_threshold(labels: &[bool], scores: &[f64], beta: f64) -> Result<f64, MetricError> {
    let ranked = rank_by_score(labels, scores)?;
    if ranked.positives == 0 || ranked.negatives == 0 {
        return Err(MetricError::SingleClassValidationLabels {
            positives: ranked.positives,
            negatives: ranked.negatives,
        });
    }

    let beta_squared = beta * beta;
    // The scores are not empty, so `ranked.points` has at least one entry.
    let mut best_threshold = ranked.points[0].threshold;
    let mut best_fbeta = f64::NEG_INFINITY;
    for point in &ranked.points {
        let true_positives = point.true_positives as f64;
        let false_negatives = (ranked.positives - point.true_positives) as f64;
        let weighted_true_positives = (1.0 + beta_squared) * true_positives;
        let denominator =
            weighted_true_positives + beta_squared * false_negatives + point.false_positives as f64;
        let fbeta = weighted_true_positives / denominator;
        // Points come in decreasing threshold order, so strict `>` keeps the highest threshold.
        if fbeta > best_fbeta {
            best_fbeta = fbeta;
            best_threshold = point.threshold;
        }
    }
    Ok(best_threshold)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::tests::{
        REFERENCE_LABELS, REFERENCE_SCORES, assert_close, named_case, named_cases, to_labels,
    };

    // Expected values came from numpy.quantile(scores, q) in numpy 2.4.6.
    #[test]
    fn quantile_matches_numpy() {
        let table: [(&str, f64, f64); 24] = [
            ("reference", 0.01, 0.0545),
            ("reference", 0.25, 0.2375),
            ("reference", 0.5, 0.375),
            ("reference", 0.9, 0.81),
            ("reference", 0.95, 0.855),
            ("reference", 0.995, 0.8955000000000001),
            ("ties", 0.01, 0.1),
            ("ties", 0.25, 0.25),
            ("ties", 0.5, 0.4),
            ("ties", 0.9, 0.9),
            ("ties", 0.95, 0.9),
            ("ties", 0.995, 0.9),
            ("lcg", 0.01, 0.01),
            ("lcg", 0.25, 0.26),
            ("lcg", 0.5, 0.48),
            ("lcg", 0.9, 0.8),
            ("lcg", 0.95, 0.9),
            ("lcg", 0.995, 0.99),
            ("segments", 0.01, 0.0),
            ("segments", 0.25, 0.21),
            ("segments", 0.5, 0.42),
            ("segments", 0.9, 0.68),
            ("segments", 0.95, 0.7854999999999995),
            ("segments", 0.995, 0.9875499999999999),
        ];
        for (name, q, expected) in table {
            let (_, scores) = named_case(name);
            let threshold = choose_threshold(&ThresholdRule::Quantile(q), &scores, None).unwrap();
            assert_close(threshold, expected, &format!("{name}: quantile {q}"));
        }
    }

    // Expected values came from numpy.mean(scores) + n * numpy.std(scores) in numpy 2.4.6.
    #[test]
    fn mean_std_matches_numpy() {
        let table: [(&str, f64, f64); 16] = [
            ("reference", 0.0, 0.41500000000000004),
            ("reference", 1.0, 0.6805654344977901),
            ("reference", 3.0, 1.21169630349337),
            ("reference", -0.5, 0.282217282751105),
            ("ties", 0.0, 0.45),
            ("ties", 1.0, 0.7458039891549808),
            ("ties", 3.0, 1.3374119674649423),
            ("ties", -0.5, 0.30209800542250964),
            ("lcg", 0.0, 0.45803),
            ("lcg", 1.0, 0.7145252613597374),
            ("lcg", 3.0, 1.2275157840792121),
            ("lcg", -0.5, 0.3297823693201313),
            ("segments", 0.0, 0.40282222222222225),
            ("segments", 1.0, 0.6404574037635353),
            ("segments", 3.0, 1.1157277668461616),
            ("segments", -0.5, 0.2840046314515657),
        ];
        for (name, multiplier, expected) in table {
            let (_, scores) = named_case(name);
            let rule = ThresholdRule::MeanStd(multiplier);
            let threshold = choose_threshold(&rule, &scores, None).unwrap();
            assert_close(
                threshold,
                expected,
                &format!("{name}: MeanStd({multiplier})"),
            );
        }
    }

    // Expected thresholds came from a brute force of sklearn.metrics.fbeta_score (scikit-learn
    // 1.9.1, zero_division=0) over the distinct scores, keeping the highest threshold among equal
    // maxima.
    #[test]
    fn best_fbeta_matches_sklearn() {
        let table: [(&str, f64, f64); 12] = [
            ("reference", 0.5, 0.8),
            ("reference", 1.0, 0.35),
            ("reference", 2.0, 0.35),
            ("ties", 0.5, 0.1),
            ("ties", 1.0, 0.1),
            ("ties", 2.0, 0.1),
            ("lcg", 0.5, 0.71),
            ("lcg", 1.0, 0.69),
            ("lcg", 2.0, 0.4),
            ("segments", 0.5, 0.74),
            ("segments", 1.0, 0.65),
            ("segments", 2.0, 0.65),
        ];
        for (name, beta, expected) in table {
            let (labels, scores) = named_case(name);
            let rule = ThresholdRule::BestFbeta(beta);
            let threshold = choose_threshold(&rule, &scores, Some(&labels)).unwrap();
            assert_eq!(threshold, expected, "{name}: BestFbeta({beta}) threshold");
        }
    }

    #[test]
    fn best_f1_rule_equals_best_f1() {
        for (name, labels, scores) in named_cases() {
            let rule = ThresholdRule::BestFbeta(1.0);
            let threshold = choose_threshold(&rule, &scores, Some(&labels)).unwrap();
            let (_, best_threshold) = crate::metrics::best_f1(&labels, &scores).unwrap().unwrap();
            assert_eq!(threshold, best_threshold, "{name}: threshold");
        }
    }

    #[test]
    fn best_fbeta_needs_labels() {
        let rule = ThresholdRule::BestFbeta(1.0);
        let result = choose_threshold(&rule, &REFERENCE_SCORES, None);
        assert_eq!(
            result,
            Err(MetricError::MissingValidationLabels),
            "no labels"
        );

        let message = MetricError::MissingValidationLabels.to_string();
        assert!(message.contains("quantile"), "fix missing: {message}");
        assert!(
            message.contains("--validation-labels"),
            "fix missing: {message}"
        );
    }

    #[test]
    fn best_fbeta_one_class() {
        let rule = ThresholdRule::BestFbeta(1.0);
        let scores = [0.1, 0.4, 0.3];
        let expected = Err(MetricError::SingleClassValidationLabels {
            positives: 0,
            negatives: 3,
        });
        let result = choose_threshold(&rule, &scores, Some(&[false; 3]));
        assert_eq!(result, expected, "all normal");

        let expected = Err(MetricError::SingleClassValidationLabels {
            positives: 3,
            negatives: 0,
        });
        let result = choose_threshold(&rule, &scores, Some(&[true; 3]));
        assert_eq!(result, expected, "all anomalous");

        let message = MetricError::SingleClassValidationLabels {
            positives: 0,
            negatives: 3,
        }
        .to_string();
        assert!(message.contains("0 anomalies"), "count missing: {message}");
        assert!(message.contains("both"), "fix missing: {message}");
    }

    #[test]
    fn rules_reject_bad_parameters() {
        let scores = REFERENCE_SCORES;
        let labels = to_labels(&REFERENCE_LABELS);
        let bad_rules = [
            ThresholdRule::Quantile(0.0),
            ThresholdRule::Quantile(1.0),
            ThresholdRule::Quantile(-0.2),
            ThresholdRule::Quantile(f64::NAN),
            ThresholdRule::MeanStd(f64::INFINITY),
            ThresholdRule::MeanStd(f64::NAN),
            ThresholdRule::BestFbeta(0.0),
            ThresholdRule::BestFbeta(-1.0),
            ThresholdRule::BestFbeta(f64::NAN),
        ];
        for rule in bad_rules {
            let result = choose_threshold(&rule, &scores, Some(&labels));
            assert!(
                matches!(result, Err(MetricError::InvalidParameter { .. })),
                "{rule:?}: got {result:?}"
            );
        }
    }

    #[test]
    fn rules_check_inputs() {
        let rule = ThresholdRule::Quantile(0.5);
        assert_eq!(
            choose_threshold(&rule, &[], None),
            Err(MetricError::Empty),
            "empty scores"
        );
        let result = choose_threshold(&rule, &[0.1, f64::NAN], None);
        assert!(
            matches!(result, Err(MetricError::NonFiniteScore { index: 1, .. })),
            "NaN score: got {result:?}"
        );
        let result = choose_threshold(&rule, &[0.1, 0.2], Some(&[true]));
        let expected = Err(MetricError::LengthMismatch {
            labels: 1,
            scores: 2,
        });
        assert_eq!(result, expected, "label length");
    }

    #[test]
    fn quantile_single_score() {
        let rule = ThresholdRule::Quantile(0.9);
        assert_eq!(choose_threshold(&rule, &[0.3], None), Ok(0.3), "one score");
    }
}
