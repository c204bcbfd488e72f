//! Model-free baselines: scores that need no training, so that a neural model's numbers can be
//! judged against something simple.
//!
//! - `baseline-l2`: the step score is the L2 norm `‖x_t‖₂` of the standardised observation.
//! - `baseline-pca`: the reconstruction error of a principal component analysis fitted on the
//!   standardised training part, `e_t = x_t − μ − P Pᵀ (x_t − μ)` with the top `c` principal
//!   directions in `P`, scored by the experiment's step score like the neural models' errors.
//!
//! Both go through the same windowed scoring, thresholds and metrics as the neural models.

use crate::data::Series;

/// Principal directions of the training part.
#[derive(Debug, Clone, PartialEq)]
pub struct Pca {
    pub mean: Vec<f64>,
    /// Row-major `[c, k]`: one unit direction per row, by decreasing variance.
    pub components: Vec<f64>,
    /// Variance along each direction.
    pub variances: Vec<f64>,
    pub sensors: usize,
}

impl Pca {
    /// Fits the top `components` directions (at most `k`) of the rows of `series`.
    pub fn fit(series: &Series, components: usize) -> Pca {
        let k = series.cols;
        let n = series.rows.max(1) as f64;
        let mut mean = vec![0.0; k];
        for t in 0..series.rows {
            for (m, &v) in mean.iter_mut().zip(series.row(t)) {
                *m += v as f64 / n;
            }
        }
        let mut covariance = vec![0.0; k * k];
        for t in 0..series.rows {
            let row = series.row(t);
            for i in 0..k {
                let di = row[i] as f64 - mean[i];
                for j in 0..=i {
                    covariance[i * k + j] += di * (row[j] as f64 - mean[j]) / n;
                }
            }
        }
        for i in 0..k {
            for j in 0..i {
                covariance[j * k + i] = covariance[i * k + j];
            }
        }
        let (values, vectors) = symmetric_eigen(covariance, k);
        let mut order: Vec<usize> = (0..k).collect();
        order.sort_by(|&a, &b| values[b].total_cmp(&values[a]).then(a.cmp(&b)));
        let c = components.min(k);
        let mut directions = Vec::with_capacity(c * k);
        for &column in &order[..c] {
            directions.extend((0..k).map(|row| vectors[row * k + column]));
        }
        Pca {
            mean,
            components: directions,
            variances: order[..c].iter().map(|&i| values[i]).collect(),
            sensors: k,
        }
    }

    /// Writes the reconstruction error `x − x̂` of one observation into `error`.
    pub fn residual(&self, x: &[f32], error: &mut [f32]) {
        let k = self.sensors;
        let centred: Vec<f64> = x
            .iter()
            .zip(&self.mean)
            .map(|(&v, m)| v as f64 - m)
            .collect();
        let mut projected = vec![0.0; k];
        for direction in self.components.chunks(k) {
            let coefficient: f64 = direction.iter().zip(&centred).map(|(d, c)| d * c).sum();
            for (p, d) in projected.iter_mut().zip(direction) {
                *p += coefficient * d;
            }
        }
        for ((e, c), p) in error.iter_mut().zip(&centred).zip(&projected) {
            *e = (c - p) as f32;
        }
    }
}

/// Eigenvalues and eigenvectors (columns of a row-major `k × k` matrix) of a symmetric matrix,
/// by cyclic Jacobi rotations.
fn symmetric_eigen(mut a: Vec<f64>, k: usize) -> (Vec<f64>, Vec<f64>) {
    let mut v = vec![0.0; k * k];
    for i in 0..k {
        v[i * k + i] = 1.0;
    }
    let scale: f64 = a
        .iter()
        .map(|x| x * x)
        .sum::<f64>()
        .sqrt()
        .max(f64::MIN_POSITIVE);
    for _sweep in 0..100 {
        let off: f64 = (0..k)
            .flat_map(|i| (0..k).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i * k + j].powi(2))
            .sum::<f64>()
            .sqrt();
        if off <= 1e-14 * scale {
            break;
        }
        for p in 0..k {
            for q in p + 1..k {
                let apq = a[p * k + q];
                if apq.abs() <= f64::MIN_POSITIVE {
                    continue;
                }
                // Rotation angle that zeroes a[p][q] (Golub and Van Loan, algorithm 8.4.1).
                let theta = (a[q * k + q] - a[p * k + p]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for r in 0..k {
                    let (arp, arq) = (a[r * k + p], a[r * k + q]);
                    a[r * k + p] = c * arp - s * arq;
                    a[r * k + q] = s * arp + c * arq;
                }
                for r in 0..k {
                    let (apr, aqr) = (a[p * k + r], a[q * k + r]);
                    a[p * k + r] = c * apr - s * aqr;
                    a[q * k + r] = s * apr + c * aqr;
                }
                for r in 0..k {
                    let (vrp, vrq) = (v[r * k + p], v[r * k + q]);
                    v[r * k + p] = c * vrp - s * vrq;
                    v[r * k + q] = s * vrp + c * vrq;
                }
            }
        }
    }
    ((0..k).map(|i| a[i * k + i]).collect(), v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eigen_of_known_matrix() {
        // [[2, 1], [1, 2]] has eigenvalues 3 and 1 with directions (1, 1) and (1, -1).
        let (values, vectors) = symmetric_eigen(vec![2.0, 1.0, 1.0, 2.0], 2);
        let mut sorted = values.clone();
        sorted.sort_by(f64::total_cmp);
        assert!((sorted[0] - 1.0).abs() < 1e-12, "{values:?}");
        assert!((sorted[1] - 3.0).abs() < 1e-12, "{values:?}");
        let top = if values[0] > values[1] { 0 } else { 1 };
        let ratio = vectors[top] / vectors[2 + top];
        assert!(
            (ratio - 1.0).abs() < 1e-12,
            "top direction is (1, 1): {vectors:?}"
        );
    }

    #[test]
    fn pca_removes_the_shared_direction() {
        // Two sensors that move together plus a third, independent one.
        let rows = 200;
        let values: Vec<f32> = (0..rows)
            .flat_map(|t| {
                let a = (t as f32 * 0.1).sin() * 3.0;
                let b = (t as f32 * 0.37).cos() * 0.1;
                [a, a, b]
            })
            .collect();
        let series = Series::new(values, rows, 3);
        let pca = Pca::fit(&series, 1);
        assert_eq!(pca.components.len(), 3);
        let mut error = [0f32; 3];
        // An observation along the shared direction reconstructs almost exactly...
        pca.residual(&[2.0, 2.0, pca.mean[2] as f32], &mut error);
        assert!(error.iter().all(|e| e.abs() < 1e-2), "{error:?}");
        // ...one that breaks the correlation does not.
        pca.residual(&[2.0, -2.0, pca.mean[2] as f32], &mut error);
        assert!(
            (error[0] - 2.0).abs() < 1e-2 && (error[1] + 2.0).abs() < 1e-2,
            "{error:?}"
        );
    }
}
