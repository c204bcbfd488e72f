//! Sensor attribution: does the model point at the sensors that were blamed for an anomaly?
//!
//! HitRate@P% (Su et al., "Robust Anomaly Detection for Multivariate Time Series through
//! Stochastic Recurrent Neural Network", KDD 2019) ranks the sensors at each anomalous point by
//! their contribution to the score. With `G` the blamed sensors of the point's segment, it counts
//! the fraction of `G` found among the top `⌈P · |G|⌉` sensors, and averages that fraction over
//! every labelled point of every segment that names blamed sensors.

use crate::data::AnomalySegment;

/// HitRate at `percent` (100 for HitRate@100%), or `None` when no segment names blamed
/// sensors.
///
/// `contributions` is row-major `[points, k]`. Ties in the ranking are broken by the lower
/// sensor index, so the result does not depend on sort stability.
pub fn hit_rate(
    contributions: &[f32],
    k: usize,
    segments: &[AnomalySegment],
    labels: &[bool],
    percent: f64,
) -> Option<f64> {
    let mut total = 0.0;
    let mut points = 0usize;
    let mut order: Vec<usize> = Vec::with_capacity(k);
    for segment in segments.iter().filter(|s| !s.sensors.is_empty()) {
        let blamed = &segment.sensors;
        let top = ((percent / 100.0 * blamed.len() as f64).ceil() as usize).min(k);
        for t in segment.start..=segment.end {
            if !labels.get(t).copied().unwrap_or(false) {
                continue;
            }
            let row = &contributions[t * k..(t + 1) * k];
            order.clear();
            order.extend(0..k);
            order.sort_by(|&a, &b| row[b].total_cmp(&row[a]).then(a.cmp(&b)));
            let hits = order[..top].iter().filter(|j| blamed.contains(j)).count();
            total += hits as f64 / blamed.len() as f64;
            points += 1;
        }
    }
    (points > 0).then(|| total / points as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(start: usize, end: usize, sensors: &[usize]) -> AnomalySegment {
        AnomalySegment {
            start,
            end,
            sensors: sensors.to_vec(),
        }
    }

    #[test]
    fn hit_rate_hand_cases() {
        // Three sensors, two anomalous points blaming sensors {0, 2}.
        let contributions = [
            0.0, 0.0, 0.0, // t = 0, normal
            5.0, 1.0, 4.0, // t = 1: ranking 0, 2, 1 -> both blamed in the top 2
            5.0, 4.0, 1.0, // t = 2: ranking 0, 1, 2 -> one of two in the top 2
        ];
        let labels = [false, true, true];
        let segments = [segment(1, 2, &[0, 2])];
        let at_100 = hit_rate(&contributions, 3, &segments, &labels, 100.0).unwrap();
        assert!((at_100 - 0.75).abs() < 1e-12, "(1 + 0.5) / 2, got {at_100}");
        // 150% of two sensors is the top 3, which holds every sensor.
        let at_150 = hit_rate(&contributions, 3, &segments, &labels, 150.0).unwrap();
        assert!((at_150 - 1.0).abs() < 1e-12, "{at_150}");
    }

    #[test]
    fn hit_rate_skips_unlabelled_and_unblamed() {
        let contributions = [1.0, 0.0, 0.0, 1.0];
        let labels = [true, false];
        let segments = [segment(0, 1, &[1]), segment(0, 0, &[])];
        // Only t = 0 counts; sensor 1 ranks second, outside the top 1.
        assert_eq!(
            hit_rate(&contributions, 2, &segments, &labels, 100.0),
            Some(0.0)
        );
        assert_eq!(
            hit_rate(&contributions, 2, &[segment(0, 0, &[])], &labels, 100.0),
            None
        );
    }
}
