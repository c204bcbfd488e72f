//! Statistics that compare variants across datasets: average ranks and the Wilcoxon
//! signed-rank test.

/// 1-based ranks of `values`, largest first, ties sharing the mean of their ranks.
pub fn ranks_descending(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[b].total_cmp(&values[a]));
    let mut ranks = vec![0.0; values.len()];
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && values[order[end]] == values[order[start]] {
            end += 1;
        }
        // Positions start..end share ranks start + 1 ..= end.
        let shared = (start + 1 + end) as f64 / 2.0;
        for &i in &order[start..end] {
            ranks[i] = shared;
        }
        start = end;
    }
    ranks
}

/// Result of a two-sided Wilcoxon signed-rank test.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Wilcoxon {
    /// Pairs with a non-zero difference.
    pub pairs: usize,
    /// `min(W+, W−)`, the smaller of the rank sums of positive and negative differences.
    pub statistic: f64,
    /// Two-sided p-value from the exact null distribution.
    pub p_value: f64,
}

/// Two-sided Wilcoxon signed-rank test of paired samples `a` and `b`.
///
/// Zero differences are dropped (scipy's `zero_method="wilcox"`) and tied magnitudes share their
/// mean rank. The p-value, `min(1, 2·P(W+ ≤ statistic))`, comes from the exact distribution of
/// the rank sum over all sign patterns, computed by dynamic programming over half-ranks. It
/// equals `scipy.stats.wilcoxon` (1.17) wherever scipy uses its exact method (up to 50 pairs
/// without ties); with ties this exact value is still reported. `None` without a non-zero
/// difference.
pub fn wilcoxon_signed_rank(a: &[f64], b: &[f64]) -> Option<Wilcoxon> {
    let differences: Vec<f64> = a
        .iter()
        .zip(b)
        .map(|(x, y)| x - y)
        .filter(|d| *d != 0.0)
        .collect();
    if differences.is_empty() {
        return None;
    }
    let magnitudes: Vec<f64> = differences.iter().map(|d| -d.abs()).collect();
    // Ranks of the magnitudes, smallest first (ranking the negated magnitudes descending).
    let ranks = ranks_descending(&magnitudes);
    let positive: f64 = ranks
        .iter()
        .zip(&differences)
        .filter(|(_, d)| **d > 0.0)
        .map(|(r, _)| r)
        .sum();
    let total: f64 = ranks.iter().sum();
    let statistic = positive.min(total - positive);

    // Ranks are multiples of one half, so doubled ranks are integers.
    let doubled: Vec<usize> = ranks.iter().map(|r| (r * 2.0).round() as usize).collect();
    let max_sum: usize = doubled.iter().sum();
    let mut counts = vec![0f64; max_sum + 1];
    counts[0] = 1.0;
    for &rank in &doubled {
        for sum in (rank..=max_sum).rev() {
            counts[sum] += counts[sum - rank];
        }
    }
    let limit = (statistic * 2.0).round() as usize;
    let below: f64 = counts[..=limit].iter().sum();
    let patterns = 2f64.powi(differences.len() as i32);
    Some(Wilcoxon {
        pairs: differences.len(),
        statistic,
        p_value: (2.0 * below / patterns).min(1.0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_share_ties() {
        assert_eq!(
            ranks_descending(&[0.5, 0.9, 0.5, 0.1]),
            vec![2.5, 1.0, 2.5, 4.0]
        );
    }

    /// Expected values from `scipy.stats.wilcoxon(a, b)` (scipy 1.17.1, defaults).
    #[test]
    fn wilcoxon_matches_scipy() {
        let cases: [(&[f64], &[f64], f64, f64); 4] = [
            (&[0.9, 0.8, 0.7, 0.95], &[0.85, 0.82, 0.6, 0.9], 1.0, 0.25),
            (
                &[1., 2., 3., 4., 5., 6.],
                &[1.5, 2.5, 2.0, 5.5, 4.0, 7.5],
                7.0,
                0.59375,
            ),
            (&[0.5, 0.6, 0.7], &[0.5, 0.7, 0.5], 1.0, 1.0),
            (
                &[1., 2., 3., 4., 5., 6., 7., 8.],
                &[2., 1., 5., 3., 8., 4., 10., 9.],
                10.5,
                0.375,
            ),
        ];
        for (a, b, statistic, p_value) in cases {
            let test = wilcoxon_signed_rank(a, b).unwrap();
            assert!(
                (test.statistic - statistic).abs() < 1e-12,
                "{a:?}: {test:?}"
            );
            assert!((test.p_value - p_value).abs() < 1e-12, "{a:?}: {test:?}");
        }
        assert_eq!(
            wilcoxon_signed_rank(&[1.0], &[1.0]),
            None,
            "no non-zero difference"
        );
    }
}
