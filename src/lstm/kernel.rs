//! The LSTM recurrence and its backward pass on plain `f32` slices.
//!
//! Every array is row-major with the batch first: `projected` and the saved gate activations are
//! `[B, l, 4h]`, hidden and cell states `[B, l, h]`, the recurrent matrix `[h, 4h]`. The gates are
//! stacked in the order input, forget, cell, output, and the state before the first step is zero.
//!
//! Batch rows are independent sequences, so the rows are cut into blocks of [`BLOCK_ROWS`] that
//! rayon runs in parallel: no thread waits for another between steps. A batch of `B` rows thus
//! keeps at most `⌈B / 32⌉` threads busy in the recurrence. More cores are better used by
//! training several runs at once (`run --jobs`). A block's matrix products read their rows
//! straight from the `[B, l, ·]` arrays through the row stride, so no step is copied. The blocks
//! do not depend on the number of threads, so neither do the results.

use gemm::{Parallelism, gemm};
use rayon::prelude::*;

/// Batch rows per parallel block.
pub const BLOCK_ROWS: usize = 32;

/// Sizes of one recurrence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dims {
    pub batch: usize,
    pub steps: usize,
    pub hidden: usize,
}

impl Dims {
    fn gates(&self) -> usize {
        4 * self.hidden
    }

    /// Elements of a `[B, l, h]` array.
    pub fn state_len(&self) -> usize {
        self.batch * self.steps * self.hidden
    }

    /// Elements of a `[B, l, 4h]` array.
    pub fn gate_len(&self) -> usize {
        self.state_len() * 4
    }
}

/// The forward-pass arrays that the backward pass reads.
#[derive(Debug, Clone)]
pub struct Saved {
    /// Gate activations `[B, l, 4h]`: `σ(i)`, `σ(f)`, `tanh(g)`, `σ(o)`.
    pub gates: Vec<f32>,
    /// Cell states `[B, l, h]`.
    pub cells: Vec<f32>,
    /// `tanh` of the cell states, `[B, l, h]`.
    pub cell_tanh: Vec<f32>,
}

/// Computes `eˣ` with a relative error below 5·10⁻⁷ (see the tests), written so that loops over slices
/// vectorise. It reduces `x = n·ln 2 + r` with `|r| ≤ ln 2 / 2`, evaluates a fitted polynomial for
/// `eʳ` and builds `2ⁿ` from its exponent bits. Inputs are clamped to `[-87, 88]`, where `eˣ` is a
/// normal `f32`; NaN stays NaN.
#[inline(always)]
fn exp(x: f32) -> f32 {
    const LOG2_E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // Adding 1.5·2²³ rounds to an integer n, which then sits in the low mantissa bits.
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-87.0, 88.0);
    let shifted = x * LOG2_E + ROUND;
    let n = shifted - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = 1.987_569_1e-4;
    let p = p * r + 1.398_199_9e-3;
    let p = p * r + 8.333_452e-3;
    let p = p * r + 4.166_579_6e-2;
    let p = p * r + 0.166_666_65;
    let p = p * r + 0.5;
    let p = p * r * r + r + 1.0;
    // Shifted left by 23, the bits of `shifted` leave n in the exponent field, because the bits
    // of 1.5·2²³ itself shift out. Adding the bias 127 makes it 2ⁿ.
    p * f32::from_bits((shifted.to_bits() << 23).wrapping_add(127 << 23))
}

#[inline(always)]
fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

#[inline(always)]
fn tanh(x: f32) -> f32 {
    1.0 - 2.0 / (1.0 + exp(2.0 * x))
}

/// Runs `$body` compiled for AVX2 and FMA when the CPU has them, else for the baseline target.
/// The arithmetic is the same either way, because rustc fuses `a·b + c` into an FMA only when
/// asked to (`mul_add`), so the results are too.
macro_rules! multiversion {
    ($(#[$meta:meta])* fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $body:block) => {
        $(#[$meta])*
        fn $name($($arg: $ty),*) {
            #[inline(always)]
            fn inner($($arg: $ty),*) $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2,fma")]
                fn avx2($($arg: $ty),*) {
                    inner($($arg),*)
                }
                if std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
                {
                    // SAFETY: the CPU supports the features `avx2` was compiled for.
                    return unsafe { avx2($($arg),*) };
                }
            }
            inner($($arg),*)
        }
    };
}

multiversion! {
    /// Advances one row by one step: turns the pre-activations `z` (`4h`) into gate activations in place,
    /// advances the cell state `cell` (`h`) and writes `tanh(cell)` and the hidden state.
    fn forward_row(z: &mut [f32], cell: &mut [f32], cell_tanh: &mut [f32], hidden: &mut [f32]) {
        let h = cell.len();
        let (input_forget, rest) = z.split_at_mut(2 * h);
        let (candidate, output) = rest.split_at_mut(h);
        for v in input_forget.iter_mut() {
            *v = sigmoid(*v);
        }
        for v in candidate.iter_mut() {
            *v = tanh(*v);
        }
        for v in output.iter_mut() {
            *v = sigmoid(*v);
        }
        let (input, forget) = input_forget.split_at(h);
        for j in 0..h {
            let c = forget[j] * cell[j] + input[j] * candidate[j];
            let tc = tanh(c);
            cell[j] = c;
            cell_tanh[j] = tc;
            hidden[j] = output[j] * tc;
        }
    }
}

multiversion! {
    /// Takes one row one step back and writes the gradient of its pre-activations `dz` (`4h`).
    /// The hidden state receives `upstream` plus the recurrent part `hidden_grad`. `cell_grad`
    /// comes in from the next step and leaves as the gradient passed to the previous one.
    fn backward_row(
        gates: &[f32],
        cell_tanh: &[f32],
        cell_prev: &[f32],
        upstream: &[f32],
        hidden_grad: &[f32],
        cell_grad: &mut [f32],
        dz: &mut [f32],
    ) {
        let h = cell_grad.len();
        let (input, rest) = gates.split_at(h);
        let (forget, rest) = rest.split_at(h);
        let (candidate, output) = rest.split_at(h);
        let (d_input, rest) = dz.split_at_mut(h);
        let (d_forget, rest) = rest.split_at_mut(h);
        let (d_candidate, d_output) = rest.split_at_mut(h);
        for j in 0..h {
            let (i, f, g, o, tc) = (input[j], forget[j], candidate[j], output[j], cell_tanh[j]);
            let dh = upstream[j] + hidden_grad[j];
            let dc = cell_grad[j] + dh * o * (1.0 - tc * tc);
            d_input[j] = dc * g * i * (1.0 - i);
            d_forget[j] = dc * cell_prev[j] * f * (1.0 - f);
            d_candidate[j] = dc * i * (1.0 - g * g);
            d_output[j] = dh * tc * o * (1.0 - o);
            cell_grad[j] = dc * f;
        }
    }
}

/// Computes `dst[m, n] (+)= lhs[m, k] · rhs[k, n]`, with strides in elements.
///
/// # Safety
///
/// Every index `i·rs + j·cs` within the given sizes must lie inside the slice that the pointer
/// came from, and `dst` must not overlap `lhs` or `rhs`.
#[allow(clippy::too_many_arguments)]
unsafe fn matmul(
    (m, n, k): (usize, usize, usize),
    dst: *mut f32,
    dst_rs: usize,
    accumulate: bool,
    lhs: *const f32,
    (lhs_rs, lhs_cs): (usize, usize),
    rhs: *const f32,
    (rhs_rs, rhs_cs): (usize, usize),
) {
    // SAFETY: the caller guarantees the bounds; gemm computes dst = 1·dst + 1·lhs·rhs (or
    // dst = lhs·rhs when `accumulate` is false, in which case dst is not read).
    unsafe {
        gemm(
            m,
            n,
            k,
            dst,
            1,
            dst_rs as isize,
            accumulate,
            lhs,
            lhs_cs as isize,
            lhs_rs as isize,
            rhs,
            rhs_cs as isize,
            rhs_rs as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            Parallelism::None,
        )
    }
}

/// Runs the recurrence over `projected` (input projections with the bias, `[B, l, 4h]`, reused
/// as the gate buffer) with the recurrent matrix `weight` (`[h, 4h]`). Returns the hidden states
/// `[B, l, h]`, and what the backward pass needs when `save` is set.
pub fn forward(
    projected: Vec<f32>,
    weight: &[f32],
    dims: Dims,
    save: bool,
) -> (Vec<f32>, Option<Saved>) {
    let Dims {
        steps: l,
        hidden: h,
        ..
    } = dims;
    let g4 = dims.gates();
    assert_eq!(projected.len(), dims.gate_len(), "projected inputs");
    assert_eq!(weight.len(), h * g4, "recurrent matrix");
    if dims.state_len() == 0 {
        let saved = save.then(|| Saved {
            gates: Vec::new(),
            cells: Vec::new(),
            cell_tanh: Vec::new(),
        });
        return (Vec::new(), saved);
    }

    // Pre-activations of a step are turned into its activations in place.
    let mut gates = projected;
    let mut hidden = vec![0f32; dims.state_len()];
    // Without `save` only the current cell state of each row is kept.
    let saved_len = if save { dims.state_len() } else { 0 };
    let mut cells = vec![0f32; saved_len];
    let mut cell_tanh = vec![0f32; saved_len];
    let gate_block = BLOCK_ROWS * l * g4;
    let state_block = BLOCK_ROWS * l * h;
    let saved_block = state_block;
    let block_count = dims.batch.div_ceil(BLOCK_ROWS);
    let cell_chunks = saved_chunks(&mut cells, saved_block, block_count);
    let cell_tanh_chunks = saved_chunks(&mut cell_tanh, saved_block, block_count);

    gates
        .par_chunks_mut(gate_block)
        .zip(hidden.par_chunks_mut(state_block))
        .zip(cell_chunks)
        .zip(cell_tanh_chunks)
        .for_each(|(((gates, hidden), cells), cell_tanh)| {
            let rows = hidden.len() / (l * h);
            let mut cell = vec![0f32; rows * h];
            let mut tanh_scratch = vec![0f32; h];
            for t in 0..l {
                if t > 0 {
                    // SAFETY: step t−1 of the block's rows of `hidden` and step t of `gates`
                    // lie inside the two (distinct) block slices.
                    unsafe {
                        matmul(
                            (rows, g4, h),
                            gates.as_mut_ptr().add(t * g4),
                            l * g4,
                            true,
                            hidden.as_ptr().add((t - 1) * h),
                            (l * h, 1),
                            weight.as_ptr(),
                            (g4, 1),
                        );
                    }
                }
                for r in 0..rows {
                    let at = (r * l + t) * h;
                    let cell = &mut cell[r * h..(r + 1) * h];
                    let cell_tanh_row = if save {
                        &mut cell_tanh[at..at + h]
                    } else {
                        &mut tanh_scratch[..]
                    };
                    forward_row(
                        &mut gates[(r * l + t) * g4..(r * l + t + 1) * g4],
                        cell,
                        cell_tanh_row,
                        &mut hidden[at..at + h],
                    );
                    if save {
                        cells[at..at + h].copy_from_slice(cell);
                    }
                }
            }
        });

    let saved = save.then_some(Saved {
        gates,
        cells,
        cell_tanh,
    });
    (hidden, saved)
}

/// Cuts a saved array into one chunk per block, or returns empty chunks when nothing is saved.
fn saved_chunks(values: &mut [f32], block: usize, count: usize) -> Vec<&mut [f32]> {
    if values.is_empty() {
        (0..count).map(|_| Default::default()).collect()
    } else {
        values.chunks_mut(block).collect()
    }
}

/// Computes the gradients of the recurrence: from the gradient of the hidden states `[B, l, h]`,
/// returns the gradient of the projected inputs `[B, l, 4h]` and of the recurrent matrix `[h, 4h]`. `hidden`
/// is the output of [`forward`] and `saved` what it saved.
pub fn backward(
    grad_hidden: &[f32],
    weight: &[f32],
    hidden: &[f32],
    saved: &Saved,
    dims: Dims,
) -> (Vec<f32>, Vec<f32>) {
    let Dims {
        steps: l,
        hidden: h,
        ..
    } = dims;
    let g4 = dims.gates();
    assert_eq!(grad_hidden.len(), dims.state_len(), "hidden-state gradient");
    assert_eq!(hidden.len(), dims.state_len(), "hidden states");
    assert_eq!(weight.len(), h * g4, "recurrent matrix");
    assert_eq!(saved.gates.len(), dims.gate_len(), "saved gate activations");
    assert_eq!(saved.cells.len(), dims.state_len(), "saved cell states");
    assert_eq!(
        saved.cell_tanh.len(),
        dims.state_len(),
        "saved tanh of the cell states"
    );
    if dims.state_len() == 0 {
        return (Vec::new(), vec![0f32; h * g4]);
    }

    let mut grad_gates = vec![0f32; dims.gate_len()];
    let gate_block = BLOCK_ROWS * l * g4;
    let state_block = BLOCK_ROWS * l * h;
    let zeros = vec![0f32; h];

    let partials: Vec<Vec<f32>> = grad_gates
        .par_chunks_mut(gate_block)
        .enumerate()
        .map(|(block, dz)| {
            let rows = dz.len() / (l * g4);
            let state = block * state_block..block * state_block + rows * l * h;
            let gates = &saved.gates[block * gate_block..block * gate_block + rows * l * g4];
            let cells = &saved.cells[state.clone()];
            let cell_tanh = &saved.cell_tanh[state.clone()];
            let hidden = &hidden[state.clone()];
            let upstream = &grad_hidden[state];
            let mut hidden_grad = vec![0f32; rows * h];
            let mut cell_grad = vec![0f32; rows * h];
            for t in (0..l).rev() {
                for r in 0..rows {
                    let at = (r * l + t) * h;
                    let cell_prev = if t > 0 {
                        &cells[at - h..at]
                    } else {
                        &zeros[..]
                    };
                    backward_row(
                        &gates[(r * l + t) * g4..(r * l + t + 1) * g4],
                        &cell_tanh[at..at + h],
                        cell_prev,
                        &upstream[at..at + h],
                        &hidden_grad[r * h..(r + 1) * h],
                        &mut cell_grad[r * h..(r + 1) * h],
                        &mut dz[(r * l + t) * g4..(r * l + t + 1) * g4],
                    );
                }
                if t > 0 {
                    // dh_{t−1} = dz_t · Wᵀ; Wᵀ is read through swapped strides.
                    // SAFETY: step t of the block's rows of `dz`, all of `weight` and all of
                    // `hidden_grad` are in bounds; `hidden_grad` is a separate buffer.
                    unsafe {
                        matmul(
                            (rows, h, g4),
                            hidden_grad.as_mut_ptr(),
                            h,
                            false,
                            dz.as_ptr().add(t * g4),
                            (l * g4, 1),
                            weight.as_ptr(),
                            (1, g4),
                        );
                    }
                }
            }

            // dW = Σ_rows Σ_{t≥1} h_{t−1}ᵀ dz_t, one product per row over its l − 1 steps.
            let mut grad_weight = vec![0f32; h * g4];
            if l > 1 {
                for r in 0..rows {
                    // SAFETY: row r's steps 0..l−1 of `hidden` and 1..l of `dz` are in bounds.
                    unsafe {
                        matmul(
                            (h, g4, l - 1),
                            grad_weight.as_mut_ptr(),
                            g4,
                            r > 0,
                            hidden.as_ptr().add(r * l * h),
                            (1, h),
                            dz.as_ptr().add((r * l + 1) * g4),
                            (g4, 1),
                        );
                    }
                }
            }
            grad_weight
        })
        .collect();

    // Block partials are summed in block order, whatever thread computed them.
    let mut grad_weight = vec![0f32; h * g4];
    for partial in partials {
        for (total, value) in grad_weight.iter_mut().zip(partial) {
            *total += value;
        }
    }
    (grad_gates, grad_weight)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Computes the hidden states of every row and step from the equations, in f64.
    fn reference(projected: &[f32], weight: &[f32], dims: Dims) -> Vec<f64> {
        let Dims {
            batch,
            steps,
            hidden: h,
        } = dims;
        let sig = |x: f64| 1.0 / (1.0 + (-x).exp());
        let mut out = vec![0f64; dims.state_len()];
        for b in 0..batch {
            let mut hp = vec![0f64; h];
            let mut cp = vec![0f64; h];
            for t in 0..steps {
                let base = (b * steps + t) * 4 * h;
                let z: Vec<f64> = (0..4 * h)
                    .map(|q| {
                        projected[base + q] as f64
                            + (0..h)
                                .map(|j| hp[j] * weight[j * 4 * h + q] as f64)
                                .sum::<f64>()
                    })
                    .collect();
                for j in 0..h {
                    let c = sig(z[h + j]) * cp[j] + sig(z[j]) * z[2 * h + j].tanh();
                    cp[j] = c;
                    hp[j] = sig(z[3 * h + j]) * c.tanh();
                    out[(b * steps + t) * h + j] = hp[j];
                }
            }
        }
        out
    }

    fn filled(len: usize, seed: u32) -> Vec<f32> {
        // A fixed pseudo-random fill in [-1, 1).
        let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
        (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                (state as f32 / u32::MAX as f32) * 2.0 - 1.0
            })
            .collect()
    }

    #[test]
    fn exp_accurate_over_clamped_range() {
        let mut worst = 0f64;
        let mut x = -87.0f32;
        while x <= 88.0 {
            let want = (x as f64).exp();
            worst = worst.max(((exp(x) as f64) - want).abs() / want);
            x += 0.013;
        }
        assert!(worst < 5e-7, "relative error {worst}");
        assert_eq!(exp(0.0), 1.0);
        assert!(exp(f32::NAN).is_nan());
        assert_eq!(exp(-1000.0), (-87f32).exp().max(exp(-87.0)));
        assert!(sigmoid(-200.0).abs() < 1e-30);
        assert!((sigmoid(200.0) - 1.0).abs() < 1e-7);
        assert!((tanh(-50.0) + 1.0).abs() < 1e-7);
        assert!((tanh(50.0) - 1.0).abs() < 1e-7);
        assert!((tanh(1e-4) - 1e-4).abs() < 1e-7);
    }

    #[test]
    fn forward_matches_the_equations() {
        // 37 rows: one full block and a partial one.
        let dims = Dims {
            batch: 37,
            steps: 5,
            hidden: 3,
        };
        let projected = filled(dims.gate_len(), 1);
        let weight = filled(3 * 12, 2);
        let (hidden, saved) = forward(projected.clone(), &weight, dims, true);
        let expected = reference(&projected, &weight, dims);
        for (got, want) in hidden.iter().zip(&expected) {
            assert!((*got as f64 - want).abs() < 1e-5, "{got} vs {want}");
        }
        assert!(saved.is_some());
        let (unsaved, none) = forward(projected, &weight, dims, false);
        assert_eq!(unsaved, hidden);
        assert!(none.is_none());
    }

    #[test]
    fn tiny_and_empty_shapes() {
        for (batch, steps, hidden) in [
            (1, 1, 1),
            (1, 3, 1),
            (2, 1, 3),
            (0, 3, 2),
            (2, 0, 2),
            (2, 3, 0),
        ] {
            let dims = Dims {
                batch,
                steps,
                hidden,
            };
            let projected = filled(dims.gate_len(), 9);
            let weight = filled(hidden * 4 * hidden, 10);
            let (states, saved) = forward(projected.clone(), &weight, dims, true);
            let expected = reference(&projected, &weight, dims);
            for (got, want) in states.iter().zip(&expected) {
                assert!(
                    (*got as f64 - want).abs() < 1e-5,
                    "{dims:?}: {got} vs {want}"
                );
            }
            let upstream = vec![1f32; dims.state_len()];
            let (grad_p, grad_w) = backward(&upstream, &weight, &states, &saved.unwrap(), dims);
            assert_eq!(grad_p.len(), dims.gate_len());
            assert!(grad_p.iter().all(|g| g.is_finite()), "{dims:?}");
            assert_eq!(grad_w.len(), hidden * 4 * hidden);
            if steps <= 1 {
                // One step never reads the recurrent matrix.
                assert!(grad_w.iter().all(|&g| g == 0.0), "{dims:?}");
            }
        }
    }

    #[test]
    fn results_independent_of_threads() {
        let dims = Dims {
            batch: 70,
            steps: 6,
            hidden: 4,
        };
        let projected = filled(dims.gate_len(), 6);
        let weight = filled(4 * 16, 7);
        let upstream = filled(dims.state_len(), 8);
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                let (hidden, saved) = forward(projected.clone(), &weight, dims, true);
                let grads = backward(&upstream, &weight, &hidden, &saved.unwrap(), dims);
                (hidden, grads)
            })
        };
        let one = run(1);
        assert_eq!(one, run(3), "bit-identical with 1 and 3 threads");
    }

    #[test]
    fn backward_matches_finite_differences() {
        // 34 rows: one full block and a partial one.
        let dims = Dims {
            batch: 34,
            steps: 4,
            hidden: 2,
        };

        let projected = filled(dims.gate_len(), 3);
        let weight = filled(2 * 8, 4);
        // Loss: Σ u ⊙ hidden with fixed weights u.
        let upstream = filled(dims.state_len(), 5);
        let loss = |p: &[f32], w: &[f32]| -> f64 {
            reference(p, w, dims)
                .iter()
                .zip(&upstream)
                .map(|(a, &b)| a * b as f64)
                .sum()
        };

        let (hidden, saved) = forward(projected.clone(), &weight, dims, true);
        let (grad_p, grad_w) = backward(&upstream, &weight, &hidden, &saved.unwrap(), dims);

        let eps = 1e-3;
        for q in (0..projected.len()).step_by(7) {
            let mut plus = projected.clone();
            plus[q] += eps;
            let mut minus = projected.clone();
            minus[q] -= eps;
            let numeric = (loss(&plus, &weight) - loss(&minus, &weight)) / (2.0 * eps as f64);
            assert!(
                (numeric - grad_p[q] as f64).abs() < 1e-3,
                "dz[{q}]: {numeric} vs {}",
                grad_p[q]
            );
        }

        for q in 0..weight.len() {
            let mut plus = weight.clone();
            plus[q] += eps;
            let mut minus = weight.clone();
            minus[q] -= eps;
            let numeric = (loss(&projected, &plus) - loss(&projected, &minus)) / (2.0 * eps as f64);
            assert!(
                (numeric - grad_w[q] as f64).abs() < 1e-3,
                "dW[{q}]: {numeric} vs {}",
                grad_w[q]
            );
        }
    }
}
