//! ResNet's tiling average pools (kernel = stride, no padding) under autodiff: the forward
//! pass as inference's block means, and a backward pass that spreads each output's gradient
//! evenly over its block (Burn's generic pool backward visits every window through a 3-d
//! kernel: 6% of a tiny ResNet's training step).

use burn::backend::DispatchKindConversion;
use burn::backend::DispatchTensor;
use burn::backend::autodiff::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::{
    BalancedCheckpointing, CheckpointStrategy, NoCheckpointing,
};
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops};
use burn::backend::flex::Flex;
use burn::tensor::{DType, Tensor};
use rayon::prelude::*;

use super::pool::{block_means, pooled};
use super::{flex_tensor, par_zeros, values};

/// The tiling mean pool with `kernel` of an autodiff float32 `flex` input, with this
/// module's backward pass; `None` for any other tensor.
pub(super) fn avg_pool2d(x: &Tensor<4>, kernel: [usize; 2]) -> Option<Tensor<4>> {
    tracked::<NoCheckpointing>(x, kernel).or_else(|| tracked::<BalancedCheckpointing>(x, kernel))
}

fn tracked<C>(x: &Tensor<4>, kernel: [usize; 2]) -> Option<Tensor<4>>
where
    C: CheckpointStrategy,
    DispatchTensor: DispatchKindConversion<Autodiff<Flex, C>>,
{
    let [batch, channels, h, w] = x.dims();
    let [ho, wo] = pooled([h, w], kernel)?;
    let x = x.clone().try_into_primitive::<Autodiff<Flex, C>>().ok()?;
    if x.primitive().dtype() != DType::F32 {
        return None;
    }
    let means = block_means(values(&x.primitive().to_contiguous()), [h, w], kernel);
    let out = flex_tensor(means, [batch, channels, ho, wo]);
    let op = PoolBackward {
        input: [batch, channels, h, w],
        kernel,
    };
    let out = op.prepare::<C>([x.node()]).compute_bound().stateless(out);
    Some(Tensor::from_primitive::<Autodiff<Flex, C>>(out))
}

/// The backward step of one pool: its input's shape and the block size.
#[derive(Debug)]
struct PoolBackward {
    input: [usize; 4],
    kernel: [usize; 2],
}

impl Backward<Flex, 1> for PoolBackward {
    type State = ();

    fn backward(self, ops: Ops<(), 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node).to_contiguous();
        let Some(node) = node else { return };
        let dx = spread(values(&grad), self.input, self.kernel);
        let dx = flex_tensor(dx, self.input);
        grads.register::<Flex>(node.id, dx);
    }
}

/// Each block mean's gradient `grad` [batch, channels, ho, wo], divided by the block's area,
/// on each pixel of its block; pixels of a dropped partial block get 0.
fn spread(grad: &[f32], [batch, channels, h, w]: [usize; 4], [kh, kw]: [usize; 2]) -> Vec<f32> {
    let (ho, wo) = (h / kh, w / kw);
    let inv = 1.0 / (kh * kw) as f32;
    let mut dx = par_zeros(batch * channels * h * w);
    dx.par_chunks_mut(h * w)
        .zip(grad.par_chunks(ho * wo))
        .for_each(|(dst, src)| {
            for (oy, src) in src.chunks_exact(wo).enumerate() {
                for row in dst[oy * kh * w..].chunks_mut(w).take(kh) {
                    for (window, &g) in row.chunks_exact_mut(kw).zip(src) {
                        window.fill(g * inv);
                    }
                }
            }
        });
    dx
}

#[cfg(test)]
mod tests {
    use burn::nn::pool::AvgPool2dConfig;
    use burn::tensor::{Device, Distribution, Tolerance};

    use super::*;
    use crate::cpu::pool::tests::CASES;

    #[test]
    fn gradients_match_burns_pool() {
        let device = Device::flex().autodiff();
        for (kernel, shape) in CASES {
            let pool = AvgPool2dConfig::new(kernel).with_strides(kernel).init();
            let x = Tensor::<4>::random(shape, Distribution::Normal(0.0, 1.0), &device);
            let ours = avg_pool2d(&x.clone().require_grad(), kernel).expect("autodiff input");
            let r = Tensor::<4>::random(ours.dims(), Distribution::Normal(0.0, 1.0), &device);
            let grad = |out: Tensor<4>, x: &Tensor<4>| {
                x.grad(&(out * r.clone()).sum().backward()).unwrap()
            };
            let (a, b) = (x.clone().require_grad(), x.require_grad());
            let forward = (avg_pool2d(&a, kernel).unwrap(), pool.forward(b.clone()));
            forward
                .0
                .clone()
                .into_data()
                .assert_approx_eq::<f32>(&forward.1.clone().into_data(), Tolerance::permissive());
            let (dx, dx_ref) = (grad(forward.0, &a), grad(forward.1, &b));
            dx.into_data()
                .assert_approx_eq::<f32>(&dx_ref.into_data(), Tolerance::permissive());
        }
    }

    #[test]
    fn plain_tensors_do_not_take_this_path() {
        let x = Tensor::<4>::ones([1, 1, 2, 2], &Device::flex());
        assert!(avg_pool2d(&x, [2, 2]).is_none());
    }
}
