//! The LSTM encoder-decoder and its sparse variants, as burn modules.
//!
//! Each LSTM layer multiplies its inputs of all steps by the input matrix at once and hands the
//! result to the fused recurrence of [`crate::lstm`], which runs on flex with its own backward
//! pass. On other backends (wgpu) the layers advance one step at a time with burn tensor
//! operations. A test checks that both paths give the same reconstruction and gradients.
//!
//! # Shapes
//!
//! `B` windows per batch, `l` steps per window, `k` sensors, `h` hidden units, `r` units of the
//! feedforward sparse layer.
//!
//! | layer | input | output |
//! |---|---|---|
//! | `sparse-elementwise`: `x ⊙ w`, then the activation | `[B, l, k]` | `[B, l, k]` |
//! | `sparse-feedforward`: `relu(x_t W + b)` at every step | `[B, l, k]` | `[B, l, r]` |
//! | encoder LSTM (1 or 2 layers), last hidden state of the top layer | `[B, l, k or r]` | `[B, h]` |
//! | repeat the encoding at every step | `[B, h]` | `[B, l, h]` |
//! | decoder LSTM (1 or 2 layers), all hidden states of the top layer | `[B, l, h]` | `[B, l, h]` |
//! | dense layer at every step | `[B, l, h]` | `[B, l, k]` |
//!
//! The repeat step costs no matrix product: the decoder's input projection of the encoding is the
//! same at every step, so it is computed once and broadcast over the steps. With `reverse`, the decoder emits the window from
//! its last step to its first, as in EncDec-AD, and the output is flipped back, so
//! [`Autoencoder::forward`] always returns the reconstruction in the original order.
//!
//! # Initialisation
//!
//! Every weight is drawn on the host from a ChaCha8 generator seeded by the run, so that results
//! do not depend on burn's process-global generator or on which thread a run lands on. LSTM
//! input and recurrent matrices and both dense layers are Glorot-uniform; biases are zero except
//! the LSTM forget gate's, which is one (as in Keras). The elementwise sparse weights all start at
//! `elementwise_init` (default 0.1): every sensor reaches the encoder, scaled alike, and L1 can
//! switch a useless one off within a few hundred steps.

use burn::module::{Module, Param};
use burn::tensor::activation::{relu, sigmoid, tanh};
use burn::tensor::{Device, Tensor, TensorData};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::config::ModelKind;
use crate::lstm;

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
    /// LSTM layers in the encoder and in the decoder.
    pub layers: usize,
    /// Units `r` of the feedforward sparse layer.
    pub sparse_units: usize,
    pub sparse_activation: SparseActivation,
    /// Decode the window from its last step to its first.
    pub reverse: bool,
    /// Starting value of every elementwise sparse weight.
    pub elementwise_init: f32,
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

    /// Hidden states `[B, l, h]` over inputs `[B, l, inputs]`, from a zero state: one input
    /// product over all steps, then the recurrence of [`crate::lstm`].
    pub fn sequence(&self, input: Tensor<3>) -> Tensor<3> {
        let [batch, steps, inputs] = input.dims();
        let gates = self.bias.dims()[0];
        let projected = self
            .project_input(input.reshape([batch * steps, inputs]))
            .reshape([batch, steps, gates]);
        lstm::recurrence(projected, self.recurrent_weight.val())
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

/// The feedforward sparse layer `y_t = relu(x_t W + b)`; sensor `j` is off when row `j` of `W`
/// is zero.
#[derive(Module, Debug)]
pub struct FeedforwardLayer {
    /// `[k, r]`, L1-penalised.
    pub weight: Param<Tensor<2>>,
    /// `[r]`, not penalised.
    pub bias: Param<Tensor<1>>,
}

/// LSTM encoder-decoder reconstructing a window, optionally behind a sparse layer.
#[derive(Module, Debug)]
pub struct Autoencoder {
    /// `sparse-elementwise`: weights `[l, k]`, L1-penalised.
    pub elementwise: Option<Param<Tensor<2>>>,
    /// `sparse-feedforward`: the layer in front of the encoder.
    pub feedforward: Option<FeedforwardLayer>,
    /// Bottom layer first.
    pub encoder: Vec<LstmLayer>,
    /// Bottom layer first.
    pub decoder: Vec<LstmLayer>,
    /// `[h, k]`.
    pub output_weight: Param<Tensor<2>>,
    /// `[k]`.
    pub output_bias: Param<Tensor<1>>,
    /// Activation after the elementwise layer; configuration, not a weight.
    #[module(skip)]
    pub sparse_activation: SparseActivation,
    /// Whether the decoder runs backwards in time; configuration, not a weight.
    #[module(skip)]
    pub reverse: bool,
}

impl Autoencoder {
    /// Builds a model with weights drawn from `seed`.
    pub fn new(shape: &ModelShape, seed: u64, device: &Device) -> Autoencoder {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x1A75_7E1D);
        let ModelShape {
            sensors: k,
            window: l,
            hidden_size: h,
            sparse_units: r,
            ..
        } = *shape;
        let elementwise = (shape.kind == ModelKind::SparseElementwise).then(|| {
            param(
                TensorData::new(vec![shape.elementwise_init; l * k], [l, k]),
                device,
            )
        });
        let feedforward = (shape.kind == ModelKind::SparseFeedforward).then(|| FeedforwardLayer {
            weight: glorot(k, r, &mut rng, device),
            bias: param(TensorData::new(vec![0f32; r], [r]), device),
        });
        let encoder_inputs = if feedforward.is_some() { r } else { k };
        let layers = shape.layers.max(1);
        let encoder = (0..layers)
            .map(|i| LstmLayer::init(if i == 0 { encoder_inputs } else { h }, h, &mut rng, device))
            .collect();
        let decoder = (0..layers)
            .map(|_| LstmLayer::init(h, h, &mut rng, device))
            .collect();
        Autoencoder {
            elementwise,
            feedforward,
            encoder,
            decoder,
            output_weight: glorot(h, k, &mut rng, device),
            output_bias: param(TensorData::new(vec![0f32; k], [k]), device),
            sparse_activation: shape.sparse_activation,
            reverse: shape.reverse,
        }
    }

    /// Applies the sparse layer to step `t` of the input: `[B, k]` to `[B, k]` or `[B, r]`.
    fn sparse_step(&self, input: Tensor<2>, t: usize) -> Tensor<2> {
        if let Some(weight) = &self.elementwise {
            let scaled = input * weight.val().narrow(0, t, 1);
            return match self.sparse_activation {
                SparseActivation::Identity => scaled,
                SparseActivation::Relu => relu(scaled),
            };
        }
        if let Some(layer) = &self.feedforward {
            let projected = input.matmul(layer.weight.val()) + layer.bias.val().unsqueeze::<2>();
            return relu(projected);
        }
        input
    }

    /// Applies the sparse layer to every step at once: `[B, l, k]` to `[B, l, k]` or `[B, l, r]`.
    fn sparse_all(&self, input: Tensor<3>) -> Tensor<3> {
        if let Some(weight) = &self.elementwise {
            let scaled = input * weight.val().unsqueeze::<3>();
            return match self.sparse_activation {
                SparseActivation::Identity => scaled,
                SparseActivation::Relu => relu(scaled),
            };
        }
        if let Some(layer) = &self.feedforward {
            let [batch, steps, sensors] = input.dims();
            let units = layer.weight.dims()[1];
            let flat = input.reshape([batch * steps, sensors]);
            let projected = flat.matmul(layer.weight.val()) + layer.bias.val().unsqueeze::<2>();
            return relu(projected).reshape([batch, steps, units]);
        }
        input
    }

    /// Encodes windows `[B, l, k]` into the last hidden state of the top layer, `[B, h]`.
    ///
    /// On flex the layers run through the fused recurrence of [`crate::lstm`]; elsewhere one
    /// step at a time.
    pub fn encode(&self, input: Tensor<3>) -> Tensor<2> {
        let fused = lstm::is_fused(&input.device());
        self.encode_with(input, fused)
    }

    fn encode_with(&self, input: Tensor<3>, fused: bool) -> Tensor<2> {
        if fused {
            self.encode_fused(input)
        } else {
            self.encode_stepwise(input)
        }
    }

    fn encode_fused(&self, input: Tensor<3>) -> Tensor<2> {
        let [batch, steps, _] = input.dims();
        let mut sequence = self.sparse_all(input);
        for layer in &self.encoder {
            sequence = layer.sequence(sequence);
        }
        let hidden = sequence.dims()[2];
        sequence.narrow(1, steps - 1, 1).reshape([batch, hidden])
    }

    fn encode_stepwise(&self, input: Tensor<3>) -> Tensor<2> {
        let [batch, steps, sensors] = input.dims();
        let device = input.device();
        let mut states: Vec<LstmState> = self
            .encoder
            .iter()
            .map(|layer| layer.zero_state(batch, &device))
            .collect();
        for t in 0..steps {
            let mut x_t =
                self.sparse_step(input.clone().narrow(1, t, 1).reshape([batch, sensors]), t);
            for (layer, state) in self.encoder.iter().zip(states.iter_mut()) {
                *state = layer.step(layer.project_input(x_t), state.clone());
                x_t = state.hidden.clone();
            }
        }
        states
            .pop()
            .expect("the encoder has at least one layer")
            .hidden
    }

    /// Decodes encodings `[B, h]` into `steps` reconstructed steps `[B, l, k]`, in the original
    /// step order.
    pub fn decode(&self, encoding: Tensor<2>, steps: usize) -> Tensor<3> {
        let fused = lstm::is_fused(&encoding.device());
        self.decode_with(encoding, steps, fused)
    }

    fn decode_with(&self, encoding: Tensor<2>, steps: usize, fused: bool) -> Tensor<3> {
        let [batch, hidden] = encoding.dims();
        let hidden_states = if fused {
            self.decode_fused(encoding, steps)
        } else {
            self.decode_stepwise(encoding, steps)
        };
        let hidden_states = if self.reverse {
            hidden_states.flip([1])
        } else {
            hidden_states
        };
        let sensors = self.output_weight.dims()[1];
        let flat = hidden_states.reshape([batch * steps, hidden]);
        let out = flat.matmul(self.output_weight.val()) + self.output_bias.val().unsqueeze::<2>();
        out.reshape([batch, steps, sensors])
    }

    /// Hidden states `[B, l, h]` of the top decoder layer, in decoding order.
    fn decode_fused(&self, encoding: Tensor<2>, steps: usize) -> Tensor<3> {
        let [batch, hidden] = encoding.dims();
        let bottom = &self.decoder[0];
        // The repeated encoding projects to the same gate inputs at every step.
        let projected = bottom
            .project_input(encoding)
            .unsqueeze_dim::<3>(1)
            .expand([batch, steps, 4 * hidden]);
        let mut sequence = lstm::recurrence(projected, bottom.recurrent_weight.val());
        for layer in &self.decoder[1..] {
            sequence = layer.sequence(sequence);
        }
        sequence
    }

    fn decode_stepwise(&self, encoding: Tensor<2>, steps: usize) -> Tensor<3> {
        let [batch, _] = encoding.dims();
        let device = encoding.device();
        let bottom = &self.decoder[0];
        let projected = bottom.project_input(encoding);
        let mut states: Vec<LstmState> = self
            .decoder
            .iter()
            .map(|layer| layer.zero_state(batch, &device))
            .collect();
        let mut outputs = Vec::with_capacity(steps);
        for _ in 0..steps {
            states[0] = bottom.step(projected.clone(), states[0].clone());
            for i in 1..self.decoder.len() {
                let layer = &self.decoder[i];
                let below = layer.project_input(states[i - 1].hidden.clone());
                states[i] = layer.step(below, states[i].clone());
            }
            outputs.push(states[states.len() - 1].hidden.clone());
        }
        Tensor::stack(outputs, 1)
    }

    /// Reconstructs windows `[B, l, k]`.
    pub fn forward(&self, input: Tensor<3>) -> Tensor<3> {
        let steps = input.dims()[1];
        self.decode(self.encode(input), steps)
    }

    /// `Σ|w|` over the L1-penalised weights; zero for the standard model.
    pub fn l1_norm(&self, device: &Device) -> Tensor<1> {
        match self.penalised_weight() {
            Some(weight) => weight.val().abs().sum(),
            None => Tensor::zeros([1], device),
        }
    }

    fn penalised_weight(&self) -> Option<&Param<Tensor<2>>> {
        self.elementwise
            .as_ref()
            .or(self.feedforward.as_ref().map(|layer| &layer.weight))
    }

    /// Soft-thresholds the penalised weights, `w ← sign(w)·max(|w| − threshold, 0)`: the
    /// proximal step of `threshold · Σ|w|`.
    pub fn soft_threshold(mut self, threshold: f64) -> Autoencoder {
        let shrink = |weight: Tensor<2>| {
            let weight = weight.detach();
            let magnitude = (weight.clone().abs() - threshold).clamp_min(0.0);
            // Detach again so that the result is a leaf that the optimiser can train.
            (weight.sign() * magnitude).detach().require_grad()
        };
        if let Some(weight) = self.elementwise.take() {
            self.elementwise = Some(weight.map(shrink));
        }
        if let Some(mut layer) = self.feedforward.take() {
            layer.weight = layer.weight.map(shrink);
            self.feedforward = Some(layer);
        }
        self
    }

    /// The sparsity mask: magnitudes of the penalised weights as a row-major matrix with one
    /// column per sensor (`[l, k]` elementwise, `[r, k]` feedforward). `None` for the standard
    /// model.
    pub fn sparsity_mask(&self) -> Option<Mask> {
        let values = |weight: &Param<Tensor<2>>| -> Vec<f32> {
            weight
                .val()
                .abs()
                .into_data()
                .try_into_vec::<f32>()
                .expect("model weights are f32")
        };
        if let Some(weight) = &self.elementwise {
            let [rows, cols] = weight.dims();
            return Some(Mask::new(values(weight), rows, cols));
        }
        self.feedforward.as_ref().map(|layer| {
            // W is [k, r]; the mask puts sensors in columns, so transpose it.
            let [k, r] = layer.weight.dims();
            let w = values(&layer.weight);
            let transposed = (0..r * k).map(|i| w[(i % k) * r + i / k]).collect();
            Mask::new(transposed, r, k)
        })
    }
}

/// Magnitudes of the penalised weights, row-major, one column per sensor.
#[derive(Debug, Clone, PartialEq)]
pub struct Mask {
    pub values: Vec<f32>,
    pub rows: usize,
    pub cols: usize,
}

impl Mask {
    fn new(values: Vec<f32>, rows: usize, cols: usize) -> Mask {
        Mask { values, rows, cols }
    }

    /// `Σ_rows |w|` per sensor.
    pub fn sensor_mass(&self) -> Vec<f64> {
        (0..self.cols)
            .map(|j| {
                self.values
                    .iter()
                    .skip(j)
                    .step_by(self.cols)
                    .map(|&v| v as f64)
                    .sum()
            })
            .collect()
    }

    /// Indices of the sensors with any magnitude above `tolerance`.
    pub fn kept_sensors(&self, tolerance: f64) -> Vec<usize> {
        (0..self.cols)
            .filter(|&j| {
                self.values
                    .iter()
                    .skip(j)
                    .step_by(self.cols)
                    .any(|&v| v as f64 > tolerance)
            })
            .collect()
    }
}

/// Reconstruction objective: mean squared error over batch, steps and sensors, plus
/// `l1 * Σ|w|` when `l1 > 0`. Returns `(objective, mse)`.
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
            layers: 1,
            sparse_units: 4,
            sparse_activation: SparseActivation::Identity,
            reverse: false,
            elementwise_init: 1.0,
        }
    }

    fn input(device: &Device) -> Tensor<3> {
        let values: Vec<f32> = (0..2 * 7 * 5).map(|i| (i as f32 * 0.37).sin()).collect();
        Tensor::from_data(TensorData::new(values, [2, 7, 5]), device)
    }

    fn to_vec<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
        tensor.into_data().try_into_vec::<f32>().unwrap()
    }

    #[test]
    fn layer_shapes() {
        let device = Device::flex();
        let kinds = [
            ModelKind::Standard,
            ModelKind::SparseElementwise,
            ModelKind::SparseFeedforward,
        ];
        for kind in kinds {
            for layers in [1, 2] {
                let model = Autoencoder::new(
                    &ModelShape {
                        layers,
                        ..shape(kind)
                    },
                    0,
                    &device,
                );
                let encoder_inputs = if kind == ModelKind::SparseFeedforward {
                    4
                } else {
                    5
                };
                assert_eq!(model.encoder.len(), layers);
                assert_eq!(model.encoder[0].input_weight.dims(), [encoder_inputs, 12]);
                assert_eq!(model.encoder[layers - 1].recurrent_weight.dims(), [3, 12]);
                assert_eq!(model.decoder[0].input_weight.dims(), [3, 12]);
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
                let mask = model.sparsity_mask();
                match kind {
                    ModelKind::Standard => assert!(mask.is_none()),
                    ModelKind::SparseElementwise => {
                        let mask = mask.unwrap();
                        assert_eq!((mask.rows, mask.cols), (7, 5), "elementwise mask is l x k");
                    }
                    ModelKind::SparseFeedforward => {
                        let mask = mask.unwrap();
                        assert_eq!((mask.rows, mask.cols), (4, 5), "feedforward mask is r x k");
                    }
                    ModelKind::BaselineL2 | ModelKind::BaselinePca => {
                        unreachable!("baselines build no network")
                    }
                }
            }
        }
    }

    #[test]
    fn feedforward_step_is_relu_of_affine() {
        let device = Device::flex();
        let mut model = Autoencoder::new(&shape(ModelKind::SparseFeedforward), 0, &device);
        // W [5, 4]: sensor 0 feeds unit 0 with +1, sensor 1 feeds unit 1 with -1.
        let mut w = vec![0f32; 20];
        w[0] = 1.0;
        w[4 + 1] = -1.0;
        let layer = model.feedforward.as_mut().unwrap();
        layer.weight = param(TensorData::new(w, [5, 4]), &device);
        layer.bias = param(TensorData::new(vec![0.5f32, 0.5, 0.0, 0.0], [4]), &device);
        let x = Tensor::from_data(
            TensorData::new(vec![2.0f32, 3.0, 0.0, 0.0, 0.0], [1, 5]),
            &device,
        );
        let y = to_vec(model.sparse_step(x, 0));
        assert_eq!(y, vec![2.5, 0.0, 0.0, 0.0], "relu(2 + 0.5), relu(-3 + 0.5)");
    }

    #[test]
    fn reverse_flips_decoder_order() {
        let device = Device::flex();
        let forward = Autoencoder::new(&shape(ModelKind::Standard), 3, &device);
        let reversed = Autoencoder {
            reverse: true,
            ..Autoencoder::new(&shape(ModelKind::Standard), 3, &device)
        };
        let encoding = forward.encode(input(&device));
        let a = to_vec(forward.decode(encoding.clone(), 7));
        let b = to_vec(reversed.decode(encoding, 7).flip([1]));
        for (x, y) in a.iter().zip(&b) {
            assert!(
                (x - y).abs() < 1e-6,
                "reverse decoding is the forward one flipped"
            );
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

    /// The fused recurrence and the step-by-step one (which wgpu runs) give the same
    /// reconstruction and the same gradient for every weight.
    #[test]
    fn fused_and_stepwise_paths_agree() {
        let device = Device::flex().autodiff();
        let kinds = [
            ModelKind::Standard,
            ModelKind::SparseElementwise,
            ModelKind::SparseFeedforward,
        ];
        for kind in kinds {
            for (layers, reverse) in [(1, false), (2, true)] {
                let shape = ModelShape {
                    layers,
                    reverse,
                    sparse_activation: SparseActivation::Relu,
                    ..shape(kind)
                };
                let model = Autoencoder::new(&shape, 5, &device);
                // 35 windows: a full block of 32 rows in the fused recurrence and a partial one.
                let x = Tensor::cat(vec![input(&device); 18], 0).narrow(0, 0, 35);
                let outputs = [true, false].map(|fused| {
                    let out = model.decode_with(model.encode_with(x.clone(), fused), 7, fused);
                    let loss = (out.clone() - x.clone()).square().sum();
                    let grads = loss.backward();
                    let mut weights: Vec<Tensor<2>> = Vec::new();
                    let mut biases: Vec<Tensor<1>> = vec![model.output_bias.val()];
                    for layer in model.encoder.iter().chain(&model.decoder) {
                        weights.push(layer.input_weight.val());
                        weights.push(layer.recurrent_weight.val());
                        biases.push(layer.bias.val());
                    }
                    weights.push(model.output_weight.val());
                    weights.extend(model.elementwise.as_ref().map(|w| w.val()));
                    weights.extend(model.feedforward.as_ref().map(|f| f.weight.val()));
                    biases.extend(model.feedforward.as_ref().map(|f| f.bias.val()));
                    let missing = "every weight has a gradient";
                    let gradients: Vec<Vec<f32>> = weights
                        .iter()
                        .map(|w| to_vec(w.grad(&grads).expect(missing)))
                        .chain(
                            biases
                                .iter()
                                .map(|b| to_vec(b.grad(&grads).expect(missing))),
                        )
                        .collect();
                    (to_vec(out), gradients)
                });
                let [(out_fused, grads_fused), (out_steps, grads_steps)] = outputs;
                // Relative to the size of a value: the loss sums over 35 windows.
                let close = |a: &[f32], b: &[f32]| {
                    a.iter()
                        .zip(b)
                        .all(|(x, y)| (x - y).abs() <= 1e-5 * x.abs().max(y.abs()).max(1.0))
                };
                let what = format!("{kind}, {layers} layers, reverse {reverse}");
                assert!(
                    close(&out_fused, &out_steps),
                    "{what}: reconstructions differ"
                );
                assert_eq!(grads_fused.len(), grads_steps.len());
                for (i, (a, b)) in grads_fused.iter().zip(&grads_steps).enumerate() {
                    assert!(close(a, b), "{what}: gradient {i} differs: {a:?} vs {b:?}");
                }
            }
        }
    }

    #[test]
    fn same_seed_same_weights() {
        let device = Device::flex();
        let a = Autoencoder::new(&shape(ModelKind::Standard), 9, &device);
        let b = Autoencoder::new(&shape(ModelKind::Standard), 9, &device);
        assert_eq!(
            to_vec(a.encoder[0].input_weight.val()),
            to_vec(b.encoder[0].input_weight.val())
        );
    }

    #[test]
    fn l1_gradient_is_sign() {
        let device = Device::flex().autodiff();
        let model = Autoencoder::new(&shape(ModelKind::SparseElementwise), 0, &device);
        let grads = model.l1_norm(&device).backward();
        let weight = model.elementwise.as_ref().unwrap().val();
        let grad = weight.grad(&grads).expect("sparse weight has a gradient");
        assert!(
            to_vec(grad).iter().all(|&g| (g - 1.0).abs() < 1e-6),
            "d|w|/dw = 1 at w = 1"
        );
    }

    #[test]
    fn soft_threshold_reaches_exact_zero() {
        let device = Device::flex().autodiff();
        let mut model = Autoencoder::new(&shape(ModelKind::SparseFeedforward), 0, &device);
        let w: Vec<f32> = (0..20).map(|i| (i as f32 - 10.0) / 10.0).collect();
        model.feedforward.as_mut().unwrap().weight =
            param(TensorData::new(w.clone(), [5, 4]), &device);
        let id = model.feedforward.as_ref().unwrap().weight.id;
        let model = model.soft_threshold(0.25);
        let weight = &model.feedforward.as_ref().unwrap().weight;
        assert_eq!(
            weight.id, id,
            "the optimiser state stays attached to the parameter"
        );
        let shrunk = to_vec(weight.val());
        for (before, after) in w.iter().zip(&shrunk) {
            let expected = before.signum() * (before.abs() - 0.25).max(0.0);
            assert!(
                (after - expected).abs() < 1e-6,
                "{before} -> {after}, expected {expected}"
            );
        }
        assert_eq!(
            shrunk.iter().filter(|&&v| v == 0.0).count(),
            5,
            "|w| <= 0.25 becomes 0"
        );
        assert!(weight.val().is_require_grad(), "the weight still trains");
    }

    #[test]
    fn mask_counts_kept_sensors() {
        let mask = Mask::new(vec![0.5, 0.0, 0.0, 0.5, 1e-4, 0.2], 2, 3);
        assert_eq!(mask.kept_sensors(1e-3), vec![0, 2]);
        assert_eq!(mask.sensor_mass(), vec![1.0, 1e-4f32 as f64, 0.2f32 as f64]);
    }
}
