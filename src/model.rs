//! The LSTM encoder-decoder and its sparse variant, as burn modules.
//!
//! The LSTM is written with burn tensor operations instead of `burn::nn::Lstm` so that the input
//! projection of each step reads straight from the (untracked) input window and the four gates
//! share one weight matrix, which roughly halves the time of a training step on the CPU.
//!
//! # Shapes
//!
//! `B` windows per batch, `l` steps per window, `k` sensors, `h` hidden units.
//!
//! | layer | input | output |
//! |---|---|---|
//! | sparse layer (sparse variants only): `x ⊙ w`, then the activation | `[B, l, k]` | `[B, l, k]` |
//! | encoder LSTM, last hidden state | `[B, l, k]` | `[B, h]` |
//! | repeat the encoding at every step | `[B, h]` | `[B, l, h]` |
//! | decoder LSTM, all hidden states | `[B, l, h]` | `[B, l, h]` |
//! | dense layer at every step | `[B, l, h]` | `[B, l, k]` |
//!
//! The repeat step is never materialised: the decoder's input projection of the encoding is the
//! same at every step, so it is computed once.
//!
//! # Initialisation
//!
//! Every weight is drawn on the host from a ChaCha8 generator seeded by the run, so that results
//! do not depend on burn's process-global generator or on which thread a run lands on. LSTM
//! input and recurrent matrices are Glorot-uniform, biases are zero except the forget gate's,
//! which is one (as in Keras). The elementwise sparse weights start at one, so a sparse model
//! starts as the standard model and L1 switches sensors off from there.

use burn::module::{Module, Param};
use burn::tensor::activation::{relu, sigmoid, tanh};
use burn::tensor::{Device, Tensor, TensorData};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::config::ModelKind;

/// The activation after the elementwise sparse layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SparseActivation {
    /// `y = x ⊙ w`.
    #[default]
    Identity,
    /// `y = relu(x ⊙ w)`, as in the public Keras implementation; on standardised inputs it
    /// zeroes every element where `x·w < 0`, whatever the L1 strength.
    Relu,
}

/// Sizes and variant of an autoencoder.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ModelShape {
    pub kind: ModelKind,
    /// Sensors `k`.
    pub sensors: usize,
    /// Window length `l`.
    pub window: usize,
    /// Hidden units `h`.
    pub hidden_size: usize,
    pub sparse_activation: SparseActivation,
}

/// One LSTM layer with the gates stacked in the order input, forget, cell, output.
#[derive(Module, Debug)]
pub struct LstmLayer {
    /// `[inputs, 4h]`.
    pub input_weight: Param<Tensor<2>>,
    /// `[h, 4h]`.
    pub recurrent_weight: Param<Tensor<2>>,
    /// `[4h]`.
    pub bias: Param<Tensor<1>>,
}

/// The hidden and cell state of an LSTM, each `[B, h]`.
#[derive(Debug, Clone)]
pub struct LstmState {
    pub hidden: Tensor<2>,
    pub cell: Tensor<2>,
}

impl LstmLayer {
    fn init(inputs: usize, hidden: usize, rng: &mut ChaCha8Rng, device: &Device) -> LstmLayer {
        let mut bias = vec![0f32; 4 * hidden];
        bias[hidden..2 * hidden].fill(1.0);
        LstmLayer {
            input_weight: glorot(inputs, 4 * hidden, rng, device),
            recurrent_weight: glorot(hidden, 4 * hidden, rng, device),
            bias: param(TensorData::new(bias, [4 * hidden]), device),
        }
    }

    /// Number of hidden units.
    pub fn hidden_size(&self) -> usize {
        self.recurrent_weight.dims()[0]
    }

    /// Projects inputs `[B, inputs]` to gate pre-activations `[B, 4h]`, bias included.
    pub fn project_input(&self, input: Tensor<2>) -> Tensor<2> {
        input.matmul(self.input_weight.val()) + self.bias.val().unsqueeze::<2>()
    }

    /// Advances one step from projected inputs `[B, 4h]`.
    pub fn step(&self, projected: Tensor<2>, state: LstmState) -> LstmState {
        let gates = projected + state.hidden.matmul(self.recurrent_weight.val());
        let mut gates = gates.chunk(4, 1).into_iter();
        let mut next = || gates.next().expect("chunk(4) yields four gates");
        let input_gate = sigmoid(next());
        let forget_gate = sigmoid(next());
        let candidate = tanh(next());
        let output_gate = sigmoid(next());
        let cell = forget_gate * state.cell + input_gate * candidate;
        let hidden = output_gate * tanh(cell.clone());
        LstmState { hidden, cell }
    }

    /// A zero state for `batch` sequences.
    pub fn zero_state(&self, batch: usize, device: &Device) -> LstmState {
        let hidden = self.hidden_size();
        LstmState {
            hidden: Tensor::zeros([batch, hidden], device),
            cell: Tensor::zeros([batch, hidden], device),
        }
    }
}

/// LSTM encoder-decoder reconstructing a window, optionally behind an elementwise sparse layer.
#[derive(Module, Debug)]
pub struct Autoencoder {
    /// Elementwise L1-penalised weights `[l, k]`, present in the sparse variant.
    pub sparse_weight: Option<Param<Tensor<2>>>,
    pub encoder: LstmLayer,
    pub decoder: LstmLayer,
    /// `[h, k]`.
    pub output_weight: Param<Tensor<2>>,
    /// `[k]`.
    pub output_bias: Param<Tensor<1>>,
    /// Activation after the sparse layer; configuration, not a weight.
    #[module(skip)]
    pub sparse_activation: SparseActivation,
}

impl Autoencoder {
    /// Builds a model with weights drawn from `seed`.
    pub fn new(shape: &ModelShape, seed: u64, device: &Device) -> Autoencoder {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x1A75_7E1D);
        let ModelShape {
            sensors: k,
            window: l,
            hidden_size: h,
            ..
        } = *shape;
        let sparse_weight = shape
            .kind
            .is_sparse()
            .then(|| param(TensorData::new(vec![1f32; l * k], [l, k]), device));
        let encoder = LstmLayer::init(k, h, &mut rng, device);
        let decoder = LstmLayer::init(h, h, &mut rng, device);
        let output_weight = glorot(h, k, &mut rng, device);
        let output_bias = param(TensorData::new(vec![0f32; k], [k]), device);
        Autoencoder {
            sparse_weight,
            encoder,
            decoder,
            output_weight,
            output_bias,
            sparse_activation: shape.sparse_activation,
        }
    }

    /// Applies the sparse layer to step `t` of the input, `[B, k]` to `[B, k]`.
    fn sparse_step(&self, input: Tensor<2>, t: usize) -> Tensor<2> {
        match &self.sparse_weight {
            Some(weight) => {
                let scaled = input * weight.val().narrow(0, t, 1);
                match self.sparse_activation {
                    SparseActivation::Identity => scaled,
                    SparseActivation::Relu => relu(scaled),
                }
            }
            None => input,
        }
    }

    /// Encodes windows `[B, l, k]` into the last hidden state `[B, h]`.
    pub fn encode(&self, input: Tensor<3>) -> Tensor<2> {
        let [batch, steps, sensors] = input.dims();
        let device = input.device();
        let mut state = self.encoder.zero_state(batch, &device);
        for t in 0..steps {
            let x_t = input.clone().narrow(1, t, 1).reshape([batch, sensors]);
            let x_t = self.sparse_step(x_t, t);
            state = self.encoder.step(self.encoder.project_input(x_t), state);
        }
        state.hidden
    }

    /// Decodes encodings `[B, h]` into `steps` reconstructed steps `[B, l, k]`.
    pub fn decode(&self, encoding: Tensor<2>, steps: usize) -> Tensor<3> {
        let [batch, hidden] = encoding.dims();
        let device = encoding.device();
        // The repeated encoding projects to the same gate inputs at every step.
        let projected = self.decoder.project_input(encoding);
        let mut state = self.decoder.zero_state(batch, &device);
        let mut outputs = Vec::with_capacity(steps);
        for _ in 0..steps {
            state = self.decoder.step(projected.clone(), state);
            outputs.push(state.hidden.clone());
        }
        let hidden_states: Tensor<3> = Tensor::stack(outputs, 1); // [B, l, h]
        let sensors = self.output_weight.dims()[1];
        let flat = hidden_states.reshape([batch * steps, hidden]);
        let out = flat.matmul(self.output_weight.val()) + self.output_bias.val().unsqueeze::<2>();
        out.reshape([batch, steps, sensors])
    }

    /// Reconstructs windows `[B, l, k]`.
    pub fn forward(&self, input: Tensor<3>) -> Tensor<3> {
        let steps = input.dims()[1];
        self.decode(self.encode(input), steps)
    }

    /// `Σ|w|` over the L1-penalised weights; zero for the standard model.
    pub fn l1_norm(&self, device: &Device) -> Tensor<1> {
        match &self.sparse_weight {
            Some(weight) => weight.val().abs().sum(),
            None => Tensor::zeros([1], device),
        }
    }

    /// The sparse weights as a row-major `[l, k]` matrix, if the model has them.
    pub fn sparse_weights(&self) -> Option<Vec<f32>> {
        self.sparse_weight.as_ref().map(|w| {
            w.val()
                .into_data()
                .try_into_vec::<f32>()
                .expect("model weights are f32")
        })
    }
}

/// Training loss: mean squared error over batch, steps and sensors, plus `l1 * Σ|w|`.
pub fn loss(model: &Autoencoder, input: Tensor<3>, l1: f64) -> (Tensor<1>, Tensor<1>) {
    let device = input.device();
    let reconstruction = model.forward(input.clone());
    let mse = (reconstruction - input).square().mean();
    let total = if l1 > 0.0 {
        mse.clone() + model.l1_norm(&device).mul_scalar(l1)
    } else {
        mse.clone()
    };
    (total, mse)
}

fn param<const D: usize>(data: TensorData, device: &Device) -> Param<Tensor<D>> {
    Param::from_tensor(Tensor::from_data(data, device))
}

fn glorot(
    fan_in: usize,
    fan_out: usize,
    rng: &mut ChaCha8Rng,
    device: &Device,
) -> Param<Tensor<2>> {
    let limit = (6.0 / (fan_in + fan_out) as f64).sqrt() as f32;
    let values: Vec<f32> = (0..fan_in * fan_out)
        .map(|_| rng.random_range(-limit..limit))
        .collect();
    param(TensorData::new(values, [fan_in, fan_out]), device)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(kind: ModelKind) -> ModelShape {
        ModelShape {
            kind,
            sensors: 5,
            window: 7,
            hidden_size: 3,
            sparse_activation: SparseActivation::Identity,
        }
    }

    fn input(device: &Device) -> Tensor<3> {
        let values: Vec<f32> = (0..2 * 7 * 5).map(|i| (i as f32 * 0.37).sin()).collect();
        Tensor::from_data(TensorData::new(values, [2, 7, 5]), device)
    }

    #[test]
    fn layer_shapes() {
        let device = Device::flex();
        for kind in [ModelKind::Standard, ModelKind::SparseElementwise] {
            let model = Autoencoder::new(&shape(kind), 0, &device);
            assert_eq!(model.encoder.input_weight.dims(), [5, 12]);
            assert_eq!(model.encoder.recurrent_weight.dims(), [3, 12]);
            assert_eq!(model.decoder.input_weight.dims(), [3, 12]);
            assert_eq!(model.output_weight.dims(), [3, 5]);
            let x = input(&device);
            let encoding = model.encode(x.clone());
            assert_eq!(encoding.dims(), [2, 3], "{kind}: encoder output [B, h]");
            let decoded = model.decode(encoding, 7);
            assert_eq!(
                decoded.dims(),
                [2, 7, 5],
                "{kind}: decoder output [B, l, k]"
            );
            assert_eq!(model.forward(x).dims(), [2, 7, 5]);
            match kind {
                ModelKind::Standard => assert!(model.sparse_weight.is_none()),
                _ => assert_eq!(model.sparse_weight.as_ref().unwrap().dims(), [7, 5]),
            }
        }
    }

    #[test]
    fn lstm_step_matches_hand_computation() {
        // One input, one hidden unit: every weight is set so the gates can be computed by hand.
        let device = Device::flex();
        let layer = LstmLayer {
            input_weight: param(
                TensorData::new(vec![0.5f32, -0.5, 1.0, 2.0], [1, 4]),
                &device,
            ),
            recurrent_weight: param(
                TensorData::new(vec![0.1f32, 0.2, 0.3, 0.4], [1, 4]),
                &device,
            ),
            bias: param(TensorData::new(vec![0.0f32, 1.0, 0.0, 0.0], [4]), &device),
        };
        let state = LstmState {
            hidden: Tensor::from_data(TensorData::new(vec![0.5f32], [1, 1]), &device),
            cell: Tensor::from_data(TensorData::new(vec![-1.0f32], [1, 1]), &device),
        };
        let x = Tensor::from_data(TensorData::new(vec![2.0f32], [1, 1]), &device);
        let next = layer.step(layer.project_input(x), state);
        let s = |v: f64| 1.0 / (1.0 + (-v).exp());
        let (i, f, g, o) = (
            s(1.0 + 0.05),
            s(-1.0 + 1.0 + 0.1),
            (2.0f64 + 0.15).tanh(),
            s(4.0 + 0.2),
        );
        let cell = -f + i * g;
        let hidden = o * cell.tanh();
        let got_cell = next.cell.into_scalar::<f32>() as f64;
        let got_hidden = next.hidden.into_scalar::<f32>() as f64;
        assert!((got_cell - cell).abs() < 1e-6, "cell {got_cell} vs {cell}");
        assert!(
            (got_hidden - hidden).abs() < 1e-6,
            "hidden {got_hidden} vs {hidden}"
        );
    }

    #[test]
    fn same_seed_same_weights() {
        let device = Device::flex();
        let a = Autoencoder::new(&shape(ModelKind::Standard), 9, &device);
        let b = Autoencoder::new(&shape(ModelKind::Standard), 9, &device);
        let data = |m: &Autoencoder| {
            m.encoder
                .input_weight
                .val()
                .into_data()
                .try_into_vec::<f32>()
                .unwrap()
        };
        assert_eq!(data(&a), data(&b));
    }

    #[test]
    fn l1_gradient_is_sign() {
        let device = Device::flex().autodiff();
        let model = Autoencoder::new(&shape(ModelKind::SparseElementwise), 0, &device);
        let penalty = model.l1_norm(&device);
        let grads = penalty.backward();
        let weight = model.sparse_weight.as_ref().unwrap().val();
        let grad = weight.grad(&grads).expect("sparse weight has a gradient");
        let values = grad.into_data().try_into_vec::<f32>().unwrap();
        assert!(
            values.iter().all(|&g| (g - 1.0).abs() < 1e-6),
            "d|w|/dw = 1 at w = 1"
        );
    }
}
