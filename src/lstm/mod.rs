//! A fused LSTM recurrence as a burn operation with its own backward pass.
//!
//! [`recurrence`] takes the input projections of every step at once (`x_t W_x + b` for all `t`,
//! one matrix product done by burn) and the recurrent matrix, and returns the hidden states of
//! every step. On the flex CPU backend it runs [`kernel`]: one recurrent matrix product per step
//! and the gate arithmetic in one pass, without a tensor per step. Under autodiff it registers a
//! backward step that computes the gradients of both inputs from the gate activations and cell
//! states saved by the forward pass, so the model remains a burn module trained with burn's
//! autodiff and optimisers.
//!
//! Other backends (wgpu) run the same recurrence one step at a time with burn tensor operations,
//! and burn differentiates it. [`is_fused`] returns which path a device takes.

pub mod kernel;

use std::borrow::Cow;
use std::sync::Arc;

use burn::backend::autodiff::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::{Flex, FlexTensor};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Dispatch, DispatchDevice, TensorMetadata, backend_extension};
use burn::tensor::{Device, Tensor, TensorData};

use kernel::{Dims, Saved};

/// The recurrence as a backend operation: `projected` is `[B, l, 4h]`, `recurrent` `[h, 4h]`,
/// and the result the hidden states `[B, l, h]`.
#[backend_extension(Flex, Autodiff)]
pub trait LstmOps: Backend {
    fn lstm_recurrence(
        projected: FloatTensor<Self>,
        recurrent: FloatTensor<Self>,
    ) -> FloatTensor<Self>;
}

/// Reads the values of a flex tensor in row-major order, borrowed when the tensor is contiguous.
fn values(tensor: &FlexTensor) -> Cow<'_, [f32]> {
    match tensor.as_slice::<f32>() {
        Some(slice) => Cow::Borrowed(slice),
        None => Cow::Owned(into_values(tensor.to_contiguous())),
    }
}

/// Takes the values of a flex tensor in row-major order, without a copy when it owns them.
fn into_values(tensor: FlexTensor) -> Vec<f32> {
    tensor
        .into_data()
        .try_into_vec::<f32>()
        .expect("the LSTM runs in f32")
}

fn dims_of(projected: &FlexTensor, recurrent: &FlexTensor) -> Dims {
    let p = projected.shape();
    let w = recurrent.shape();
    assert!(
        p.num_dims() == 3 && w.num_dims() == 2 && w[1] == 4 * w[0] && p[2] == w[1],
        "lstm_recurrence: projected inputs {p:?} and recurrent matrix {w:?} do not fit"
    );
    Dims {
        batch: p[0],
        steps: p[1],
        hidden: w[0],
    }
}

fn flex_tensor(values: Vec<f32>, shape: [usize; 3]) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape))
}

impl LstmOps for Flex {
    fn lstm_recurrence(projected: FlexTensor, recurrent: FlexTensor) -> FlexTensor {
        let dims = dims_of(&projected, &recurrent);
        let (hidden, _) = kernel::forward(into_values(projected), &values(&recurrent), dims, false);
        flex_tensor(hidden, [dims.batch, dims.steps, dims.hidden])
    }
}

#[derive(Debug)]
struct RecurrenceBackward;

impl Backward<Flex, 2> for RecurrenceBackward {
    /// The saved forward pass, its output, the recurrent matrix and the sizes.
    type State = (Arc<Saved>, FlexTensor, FlexTensor, Dims);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [projected_node, recurrent_node] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        let (saved, output, weight, dims) = ops.state;
        let hidden = output
            .as_slice::<f32>()
            .expect("the recurrence output is contiguous");
        let (grad_projected, grad_recurrent) =
            kernel::backward(&values(&grad), &values(&weight), hidden, &saved, dims);
        if let Some(node) = projected_node {
            let shape = [dims.batch, dims.steps, 4 * dims.hidden];
            grads.register::<Flex>(node.id, flex_tensor(grad_projected, shape));
        }
        if let Some(node) = recurrent_node {
            let shape = [dims.hidden, 4 * dims.hidden];
            let tensor = FlexTensor::from_data(TensorData::new(grad_recurrent, shape));
            grads.register::<Flex>(node.id, tensor);
        }
    }
}

impl<C: CheckpointStrategy> LstmOps for Autodiff<Flex, C> {
    fn lstm_recurrence(
        projected: FloatTensor<Self>,
        recurrent: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        match RecurrenceBackward
            .prepare::<C>([projected.node(), recurrent.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let dims = dims_of(projected.primitive(), recurrent.primitive());
                let weight = recurrent.primitive().clone();
                let (hidden, saved) = kernel::forward(
                    into_values(projected.into_primitive()),
                    &values(&weight),
                    dims,
                    true,
                );
                let saved = saved.expect("the forward pass saves its state when `save` is set");
                let output = flex_tensor(hidden, [dims.batch, dims.steps, dims.hidden]);
                let state = (Arc::new(saved), output.clone(), weight, dims);
                prep.finish(state, output)
            }
            OpsKind::UnTracked(prep) => prep.finish(Flex::lstm_recurrence(
                projected.into_primitive(),
                recurrent.into_primitive(),
            )),
        }
    }
}

/// Returns whether [`recurrence`] runs the fused kernel on this device: flex, with or without
/// autodiff.
pub fn is_fused(device: &Device) -> bool {
    matches!(
        device.as_dispatch().clone().inner(),
        DispatchDevice::Flex(_)
    )
}

/// Hidden states `[B, l, h]` of an LSTM layer from its input projections `[B, l, 4h]` (bias
/// included) and recurrent matrix `[h, 4h]`, starting from a zero state. Gates are stacked in the
/// order input, forget, cell, output.
pub fn recurrence(projected: Tensor<3>, recurrent: Tensor<2>) -> Tensor<3> {
    if is_fused(&projected.device()) {
        let hidden = <Dispatch as LstmOps>::lstm_recurrence(
            projected.into_dispatch(),
            recurrent.into_dispatch(),
        );
        Tensor::from_dispatch(hidden)
    } else {
        panic!("the fused LSTM recurrence runs on flex only; check lstm::is_fused first")
    }
}

#[cfg(test)]
mod tests {
    use burn::nn::{Linear, LstmConfig};
    use burn::tensor::Tensor;

    use super::*;

    fn filled<const D: usize>(shape: [usize; D], seed: u64, device: &Device) -> Tensor<D> {
        let len = shape.iter().product();
        let values: Vec<f32> = (0..len)
            .map(|i| (((i as u64 + 1) * (seed * 2 + 7919)) as f32 * 0.618_034).sin())
            .collect();
        Tensor::from_data(TensorData::new(values, shape), device)
    }

    fn to_vec<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
        tensor.into_data().try_into_vec::<f32>().unwrap()
    }

    fn assert_close(got: Vec<f32>, want: Vec<f32>, what: &str) {
        assert_eq!(got.len(), want.len(), "{what}: lengths");
        let worst = got
            .iter()
            .zip(&want)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(worst < 1e-4, "{what}: largest difference {worst}");
    }

    /// `[a | b | c | d]` along the last dimension.
    fn gates<const D: usize>(parts: [Tensor<D>; 4]) -> Tensor<D> {
        Tensor::cat(parts.to_vec(), D - 1)
    }

    /// Copies `tensor` into a new leaf tracked for gradients.
    fn leaf<const D: usize>(tensor: Tensor<D>) -> Tensor<D> {
        let device = tensor.device();
        Tensor::from_data(tensor.into_data(), &device).require_grad()
    }

    fn weight(linear: &Linear) -> Tensor<2> {
        linear.weight.val().detach()
    }

    fn bias(linear: &Linear) -> Tensor<1> {
        linear
            .bias
            .as_ref()
            .expect("the LSTM has biases")
            .val()
            .detach()
    }

    /// The fused recurrence against `burn::nn::Lstm` with the same weights: outputs and the
    /// gradients of the input and of every weight agree to 1e-4.
    #[test]
    fn matches_burn_nn_lstm_with_gradients() {
        let device = Device::flex().autodiff();
        // 37 rows: a full block of 32 and a partial one.
        let (batch, steps, inputs, hidden) = (37, 9, 5, 6);
        let reference = LstmConfig::new(inputs, hidden, true).init(&device);
        let forget = reference
            .forget_gate
            .as_ref()
            .expect("an uncoupled forget gate");
        let controllers = [
            &reference.input_gate,
            forget,
            &reference.cell_gate,
            &reference.output_gate,
        ];
        let input_weight = leaf(gates(controllers.map(|c| weight(&c.input_transform))));
        let recurrent = leaf(gates(controllers.map(|c| weight(&c.hidden_transform))));
        let bias_sum =
            leaf(gates(controllers.map(|c| {
                bias(&c.input_transform) + bias(&c.hidden_transform)
            })));
        let x_reference = filled([batch, steps, inputs], 1, &device).require_grad();
        let x_fused = filled([batch, steps, inputs], 1, &device).require_grad();
        let upstream = filled([batch, steps, hidden], 2, &device);

        let (out_reference, _) = reference.forward(x_reference.clone(), None);
        let grads_reference = (out_reference.clone() * upstream.clone()).sum().backward();

        let projected = x_fused
            .clone()
            .reshape([batch * steps, inputs])
            .matmul(input_weight.clone())
            + bias_sum.clone().unsqueeze::<2>();
        let out_fused = recurrence(
            projected.reshape([batch, steps, 4 * hidden]),
            recurrent.clone(),
        );
        let grads_fused = (out_fused.clone() * upstream).sum().backward();

        assert_close(to_vec(out_fused), to_vec(out_reference), "hidden states");
        assert_close(
            to_vec(x_fused.grad(&grads_fused).unwrap()),
            to_vec(x_reference.grad(&grads_reference).unwrap()),
            "input gradient",
        );
        let reference_grad = |param: &burn::module::Param<Tensor<2>>| {
            param
                .val()
                .grad(&grads_reference)
                .expect("a reference weight gradient")
        };
        let reference_bias_grad = |linear: &Linear| {
            linear
                .bias
                .as_ref()
                .unwrap()
                .val()
                .grad(&grads_reference)
                .unwrap()
        };
        assert_close(
            to_vec(input_weight.grad(&grads_fused).unwrap()),
            to_vec(gates(
                controllers.map(|c| reference_grad(&c.input_transform.weight)),
            )),
            "input weight gradient",
        );
        assert_close(
            to_vec(recurrent.grad(&grads_fused).unwrap()),
            to_vec(gates(
                controllers.map(|c| reference_grad(&c.hidden_transform.weight)),
            )),
            "recurrent weight gradient",
        );
        // Both biases of a gate get the same gradient, which is the fused bias's.
        for side in [0, 1] {
            let parts = controllers.map(|c| {
                reference_bias_grad(if side == 0 {
                    &c.input_transform
                } else {
                    &c.hidden_transform
                })
            });
            assert_close(
                to_vec(bias_sum.grad(&grads_fused).unwrap()),
                to_vec(gates(parts)),
                "bias gradient",
            );
        }
    }

    #[test]
    fn tracked_and_untracked_paths_agree() {
        let device = Device::flex();
        assert!(is_fused(&device));
        assert!(is_fused(&device.clone().autodiff()));
        let projected = filled([3, 4, 8], 3, &device);
        let recurrent = filled([2, 8], 4, &device);
        let plain = to_vec(recurrence(projected.clone(), recurrent.clone()));
        let autodiff = Device::flex().autodiff();
        let tracked = to_vec(recurrence(
            Tensor::from_data(projected.into_data(), &autodiff).require_grad(),
            Tensor::from_data(recurrent.into_data(), &autodiff),
        ));
        assert_eq!(
            plain, tracked,
            "the tracked and untracked paths compute the same states"
        );
    }
}
