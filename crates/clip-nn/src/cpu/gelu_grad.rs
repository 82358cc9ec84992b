//! QuickGELU under autodiff as one op: the forward pass as inference's vector QuickGELU,
//! and a backward pass `dy · (s + 1.702 · x · s · (1 − s))` with `s = σ(1.702 x)`
//! recomputed from the saved input, both split over the thread pool. Burn's
//! `sigmoid(1.702 x) · x` is three ops each way, each a pass on one thread with libm's
//! `exp` per value (~10 ms of a ~570 ms tiny-ResNet step, the text tower's MLPs).

use burn::backend::DispatchKindConversion;
use burn::backend::DispatchTensor;
use burn::backend::autodiff::Autodiff;
use burn::backend::autodiff::NodeId;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::{
    BalancedCheckpointing, CheckpointStrategy, NoCheckpointing,
};
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::{Flex, FlexTensor};
use burn::tensor::{DType, Tensor, TensorData};
use rayon::prelude::*;

use super::gelu::{quick_gelu as quick_gelu_in_place, quick_sigmoid};
use super::{flex_tensor, values};

/// Values per task: a multiple of the vector width, so which values take the vector `exp`
/// (and which the scalar tail) does not depend on the thread count.
const RUN: usize = 1 << 14;

/// `x · σ(1.702 x)` of an autodiff float32 `flex` tensor, with this module's backward
/// pass; `None` for any other tensor (Burn's ops then run).
pub(super) fn quick_gelu<const D: usize>(x: &Tensor<D>) -> Option<Tensor<D>> {
    tracked::<NoCheckpointing, D>(x).or_else(|| tracked::<BalancedCheckpointing, D>(x))
}

fn tracked<C, const D: usize>(x: &Tensor<D>) -> Option<Tensor<D>>
where
    C: CheckpointStrategy,
    DispatchTensor: DispatchKindConversion<Autodiff<Flex, C>>,
{
    let dims = x.dims();
    let x = x.clone().try_into_primitive::<Autodiff<Flex, C>>().ok()?;
    if x.primitive().dtype() != DType::F32 {
        return None;
    }
    let mut out = values(&x.primitive().to_contiguous()).to_vec();
    out.par_chunks_mut(RUN).for_each(quick_gelu_in_place);
    let out = flex_tensor(out, dims);
    let out = match GeluBackward
        .prepare::<C>([x.node()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(mut prep) => {
            let state = prep.checkpoint(&x);
            prep.finish(state, out)
        }
        OpsKind::UnTracked(prep) => prep.finish(out),
    };
    Some(Tensor::from_primitive::<Autodiff<Flex, C>>(out))
}

/// The backward step of one QuickGELU.
#[derive(Debug)]
struct GeluBackward;

impl Backward<Flex, 1> for GeluBackward {
    /// The input's checkpointed value.
    type State = NodeId;

    fn backward(self, ops: Ops<NodeId, 1>, grads: &mut Gradients, checkpointer: &mut Checkpointer) {
        let [node] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node).to_contiguous();
        let Some(node) = node else { return };
        let x: FlexTensor = checkpointer.retrieve_node_output(ops.state);
        let x = x.to_contiguous();
        let dx = input_grad(values(&x), values(&grad));
        let dx = FlexTensor::from_data(TensorData::new(dx, grad.layout().shape().clone()));
        grads.register::<Flex>(node.id, dx);
    }
}

/// `dy · d/dx [x · σ(1.702 x)]`, run by run.
fn input_grad(x: &[f32], dy: &[f32]) -> Vec<f32> {
    let mut dx = x.to_vec();
    dx.par_chunks_mut(RUN)
        .zip(x.par_chunks(RUN).zip(dy.par_chunks(RUN)))
        .for_each(|(out, (xs, gs))| {
            quick_sigmoid(out);
            for ((o, &v), &g) in out.iter_mut().zip(xs).zip(gs) {
                let s = *o;
                *o = g * (s + 1.702 * v * s * (1.0 - s));
            }
        });
    dx
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, Distribution, Tolerance, activation};

    use super::*;

    #[test]
    fn output_and_gradient_match_burns_ops() {
        let device = Device::flex().autodiff();
        // Past one run (so the work splits), with a tail that is not a whole vector.
        for shape in [[3, 7, 5], [2, 130, 77]] {
            let x = Tensor::<3>::random(shape, Distribution::Normal(0.0, 3.0), &device);
            let r = Tensor::<3>::random(shape, Distribution::Normal(0.0, 1.0), &device);
            let (a, b) = (x.clone().require_grad(), x.require_grad());
            let ours = quick_gelu(&a).expect("an autodiff float32 tensor");
            let theirs = activation::sigmoid(b.clone().mul_scalar(1.702)) * b.clone();
            let close = Tolerance::<f32>::rel_abs(1e-5, 1e-6);
            ours.clone()
                .into_data()
                .assert_approx_eq::<f32>(&theirs.clone().into_data(), close);
            let g1 = (ours * r.clone()).sum().backward();
            let g2 = (theirs * r).sum().backward();
            let (ga, gb) = (a.grad(&g1).unwrap(), b.grad(&g2).unwrap());
            ga.into_data()
                .assert_approx_eq::<f32>(&gb.into_data(), close);
        }
    }

    #[test]
    fn plain_tensors_do_not_take_this_path() {
        let x = Tensor::<2>::ones([2, 3], &Device::flex());
        assert!(quick_gelu(&x).is_none());
    }
}
