//! Convolutions under autodiff (training) on the CPU fast path: the forward pass as
//! inference's (im2col + one product per image), and a backward pass of two products per
//! image on the same columns:
//!
//! - weight gradient `dW [out, in·kh·kw] = Σ_images G [out, pixels] · columnsᵀ`;
//! - input gradient `dx = col2im(Wᵀ · G)`, the columns' gradient summed back onto the pixels
//!   each column was read from.
//!
//! Burn's generic path runs these as a transposed convolution and a convolution with the
//! batch as channels (a tiny ResNet's training step spent more time there and in their
//! transposes than in products). Only float32 `flex` tensors tracked by autodiff take this
//! path; the bias, if any, is added by Burn's ops after it, so its gradient is Burn's.

use burn::backend::DispatchKindConversion;
use burn::backend::DispatchTensor;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::{
    BalancedCheckpointing, CheckpointStrategy, NoCheckpointing,
};
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::{Autodiff, NodeId};
use burn::backend::flex::{Flex, FlexTensor};
use burn::nn::conv::Conv2d;
use burn::tensor::{DType, Tensor};
use rayon::prelude::*;

use super::conv::{Geometry, forward, im2col};
use super::{Operand, flex_tensor, gemm, par_zeros, values};

/// `layer.forward(x)` for an autodiff float32 `flex` input, with this module's backward
/// pass; `None` for any other tensor or a layer the fast path does not take.
pub(super) fn conv2d(layer: &Conv2d, x: &Tensor<4>) -> Option<Tensor<4>> {
    let out = tracked::<NoCheckpointing>(layer, x)
        .or_else(|| tracked::<BalancedCheckpointing>(layer, x))?;
    Some(match &layer.bias {
        Some(bias) => out + bias.val().reshape([1, -1, 1, 1]),
        None => out,
    })
}

fn tracked<C>(layer: &Conv2d, x: &Tensor<4>) -> Option<Tensor<4>>
where
    C: CheckpointStrategy,
    DispatchTensor: DispatchKindConversion<Autodiff<Flex, C>>,
{
    let geometry = Geometry::of(layer, x.dims())?;
    let x = x.clone().try_into_primitive::<Autodiff<Flex, C>>().ok()?;
    let weight = layer
        .weight
        .val()
        .try_into_primitive::<Autodiff<Flex, C>>()
        .ok()?;
    if x.primitive().dtype() != DType::F32 || weight.primitive().dtype() != DType::F32 {
        return None;
    }
    let out = {
        let images = x.primitive().to_contiguous();
        let kernel = weight.primitive().to_contiguous();
        let out = forward(&geometry, values(&images), values(&kernel), None, None);
        let shape = [geometry.batch, geometry.cout, geometry.ho, geometry.wo];
        flex_tensor(out, shape)
    };
    let op = ConvBackward { geometry };
    let out = match op
        .prepare::<C>([x.node(), weight.node()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(mut prep) => {
            let state = (prep.checkpoint(&x), prep.checkpoint(&weight));
            prep.finish(state, out)
        }
        OpsKind::UnTracked(prep) => prep.finish(out),
    };
    Some(Tensor::from_primitive::<Autodiff<Flex, C>>(out))
}

/// The backward step of one convolution, for its input and weight.
#[derive(Debug)]
struct ConvBackward {
    geometry: Geometry,
}

impl Backward<Flex, 2> for ConvBackward {
    /// The input's and the weight's checkpointed values.
    type State = (NodeId, NodeId);

    fn backward(
        self,
        ops: Ops<Self::State, 2>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let [node_x, node_weight] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node).to_contiguous();
        let (x, weight) = ops.state;
        let x: FlexTensor = checkpointer.retrieve_node_output(x);
        let weight: FlexTensor = checkpointer.retrieve_node_output(weight);
        let (x, weight) = (x.to_contiguous(), weight.to_contiguous());
        let g = &self.geometry;
        let (dx, dw) = gradients(
            g,
            values(&x),
            values(&weight),
            values(&grad),
            node_x.is_some(),
            node_weight.is_some(),
        );
        if let (Some(node), Some(dx)) = (node_x, dx) {
            grads.register::<Flex>(node.id, flex_tensor(dx, [g.batch, g.cin, g.h, g.w]));
        }
        if let (Some(node), Some(dw)) = (node_weight, dw) {
            grads.register::<Flex>(node.id, flex_tensor(dw, [g.cout, g.cin, g.kh, g.kw]));
        }
    }
}

/// Groups of images whose shares of dW are summed apart (at most this many sums of dW's
/// size alive at once; enough groups to keep 16 threads busy).
const WEIGHT_GRAD_GROUPS: usize = 16;

/// One group's buffers: an image's columns and their gradient, and its share of `dW`.
struct Scratch {
    columns: Vec<f32>,
    columns_grad: Vec<f32>,
    weight_grad: Vec<f32>,
}

/// The gradients `(dx [batch, in, h, w], dW [out, in, kh, kw])` of the convolution of
/// `images` by `weight` given the output's gradient `grad` [batch, out, ho, wo]; each only
/// when asked for.
fn gradients(
    g: &Geometry,
    images: &[f32],
    weight: &[f32],
    grad: &[f32],
    want_dx: bool,
    want_dw: bool,
) -> (Option<Vec<f32>>, Option<Vec<f32>>) {
    let (image_len, out_len) = (g.cin * g.h * g.w, g.cout * g.pixels());
    let mut dx = want_dx.then(|| par_zeros(g.batch * image_len));
    let mut slots: Vec<Option<&mut [f32]>> = match &mut dx {
        Some(dx) => dx.chunks_exact_mut(image_len).map(Some).collect(),
        None => (0..g.batch).map(|_| None).collect(),
    };
    let scratch = || Scratch {
        columns: g.columns(),
        columns_grad: if want_dx && !g.direct {
            g.columns()
        } else {
            Vec::new()
        },
        weight_grad: if want_dw {
            vec![0.0f32; g.cout * g.patch()]
        } else {
            Vec::new()
        },
    };
    let image = |b: usize| {
        (
            &images[b * image_len..][..image_len],
            &grad[b * out_len..][..out_len],
        )
    };
    // dW is summed over fixed groups of images, then the groups' sums in order: the same
    // bits on any thread count and schedule (resumed and multi-process runs rely on it).
    let per_group = g.batch.div_ceil(g.batch.min(WEIGHT_GRAD_GROUPS));
    let inner_parallel = per_group == g.batch;
    let group = |(index, group): (usize, &mut [Option<&mut [f32]>])| {
        let mut s = scratch();
        for (k, dx) in group.iter_mut().enumerate() {
            let (x, gr) = image(index * per_group + k);
            one_image(g, x, weight, gr, dx.as_deref_mut(), &mut s, inner_parallel);
        }
        s.weight_grad
    };
    let sums: Vec<Vec<f32>> = if inner_parallel || rayon::current_num_threads() == 1 {
        slots.chunks_mut(per_group).enumerate().map(group).collect()
    } else {
        slots
            .par_chunks_mut(per_group)
            .enumerate()
            .map(group)
            .collect()
    };
    let mut sums = sums.into_iter();
    let mut dw = sums.next().unwrap_or_default();
    for sum in sums {
        dw.iter_mut().zip(&sum).for_each(|(a, b)| *a += b);
    }
    (dx, want_dw.then_some(dw))
}

/// Adds one image's share of `dW` to `s.weight_grad` and writes its `dx` (when given).
fn one_image(
    g: &Geometry,
    image: &[f32],
    weight: &[f32],
    grad: &[f32],
    dx: Option<&mut [f32]>,
    s: &mut Scratch,
    parallel: bool,
) {
    let (pixels, patch) = (g.pixels(), g.patch());
    let grad_m = Operand::dense(grad, pixels);
    if !s.weight_grad.is_empty() {
        let columns: &[f32] = if g.direct {
            image
        } else {
            im2col(image, g, &mut s.columns, parallel);
            &s.columns
        };
        // columnsᵀ [pixels, patch], read in place.
        let columns_t = Operand {
            data: columns,
            row_stride: 1,
            col_stride: pixels,
        };
        gemm(
            &grad_m,
            &columns_t,
            [g.cout, patch, pixels],
            true,
            &mut s.weight_grad,
            parallel,
        );
    }
    let Some(dx) = dx else { return };
    // Wᵀ [patch, out], read in place.
    let weight_t = Operand {
        data: weight,
        row_stride: 1,
        col_stride: patch,
    };
    if g.direct {
        gemm(
            &weight_t,
            &grad_m,
            [patch, pixels, g.cout],
            false,
            dx,
            parallel,
        );
    } else {
        gemm(
            &weight_t,
            &grad_m,
            [patch, pixels, g.cout],
            false,
            &mut s.columns_grad,
            parallel,
        );
        col2im(&s.columns_grad, g, dx, parallel);
    }
}

/// The transpose of [`im2col`]: adds each column row (c, i, j) back onto the pixels of
/// channel c it was read from (padding's share is dropped). `image` [in, h, w] starts at 0.
fn col2im(columns: &[f32], g: &Geometry, image: &mut [f32], parallel: bool) {
    let (plane, area, pixels) = (g.h * g.w, g.kh * g.kw, g.pixels());
    let channel = |(c, dst): (usize, &mut [f32])| {
        for offset in 0..area {
            let (i, j) = (offset / g.kw, offset % g.kw);
            let src = &columns[(c * area + offset) * pixels..][..pixels];
            let sx = g.stride[1];
            let (first, end) = g.inside_columns(j);
            if first == end {
                continue;
            }
            for (oy, row) in src.chunks_exact(g.wo).enumerate() {
                let Some(y) = g.input_row(oy, i) else {
                    continue;
                };
                let line = &mut dst[y * g.w..][..g.w];
                let x0 = first * sx + j - g.left;
                let src = &row[first..end];
                if sx == 1 {
                    let line = &mut line[x0..x0 + src.len()];
                    line.iter_mut().zip(src).for_each(|(d, &v)| *d += v);
                } else {
                    line[x0..]
                        .iter_mut()
                        .step_by(sx)
                        .zip(src)
                        .for_each(|(d, &v)| *d += v);
                }
            }
        }
    };
    if parallel {
        image.par_chunks_mut(plane).enumerate().for_each(channel);
    } else {
        image.chunks_mut(plane).enumerate().for_each(channel);
    }
}

#[cfg(test)]
mod tests {
    use burn::nn::PaddingConfig2d;
    use burn::nn::conv::Conv2dConfig;
    use burn::tensor::{Device, Distribution, Tolerance};

    use super::*;
    use crate::cpu::conv::tests::cases;

    /// The gradients of `sum(conv(x) · r)` (r random, so every output has its own weight)
    /// through this module and through Burn's autodiff convolution.
    fn check(config: Conv2dConfig, input: [usize; 4]) {
        let device = Device::flex().autodiff();
        let layer = config.init(&device);
        let x = Tensor::<4>::random(input, Distribution::Normal(0.0, 1.0), &device);
        let weights = |out: &Tensor<4>| {
            Tensor::<4>::random(out.dims(), Distribution::Normal(0.0, 1.0), &device)
        };
        let ours = conv2d(&layer, &x.clone().require_grad())
            .expect("an autodiff flex convolution takes this path");
        let theirs = layer.forward(x.clone().require_grad());
        assert_eq!(ours.dims(), theirs.dims());
        ours.clone()
            .into_data()
            .assert_approx_eq::<f32>(&theirs.clone().into_data(), Tolerance::permissive());
        let r = weights(&ours).detach();
        let grads = |out: Tensor<4>, x: &Tensor<4>| {
            let g = (out * r.clone()).sum().backward();
            let dx = x.grad(&g).expect("input gradient");
            let dw = layer.weight.val().grad(&g).expect("weight gradient");
            let db = layer.bias.as_ref().map(|b| b.val().grad(&g).unwrap());
            (dx, dw, db)
        };
        let x_ours = x.clone().require_grad();
        let x_theirs = x.require_grad();
        let (dx, dw, db) = grads(conv2d(&layer, &x_ours).unwrap(), &x_ours);
        let (dx_ref, dw_ref, db_ref) = grads(layer.forward(x_theirs.clone()), &x_theirs);
        let close = Tolerance::<f32>::rel_abs(1e-4, 1e-4);
        dx.into_data()
            .assert_approx_eq::<f32>(&dx_ref.into_data(), close);
        dw.into_data()
            .assert_approx_eq::<f32>(&dw_ref.into_data(), close);
        if let (Some(db), Some(db_ref)) = (db, db_ref) {
            db.into_data()
                .assert_approx_eq::<f32>(&db_ref.into_data(), close);
        }
    }

    #[test]
    fn gradients_match_burns_convolution() {
        for batch in [1, 3] {
            for (config, input) in cases(batch) {
                check(config, input);
            }
        }
        // More images than groups (each group sums several into its dW), on the thread pool
        // and on one thread.
        let one = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        for (config, input) in cases(WEIGHT_GRAD_GROUPS * 2 + 3) {
            check(config.clone(), input);
            one.install(|| check(config, input));
        }
    }

    #[test]
    fn weight_gradients_are_the_same_bits_on_any_thread_count() {
        let layer = Conv2dConfig::new([6, 8], [3, 3])
            .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
            .init(&Device::flex());
        let g = Geometry::of(&layer, [40, 6, 9, 9]).unwrap();
        // Values whose sums round differently in every order.
        let noise = |len: usize, seed: u32| -> Vec<f32> {
            (0..len as u32)
                .map(|i| ((i.wrapping_mul(2654435761) ^ seed) % 20011) as f32 / 7.3 - 1370.0)
                .collect()
        };
        let images = noise(40 * 6 * 81, 1);
        let weight = noise(8 * 6 * 9, 2);
        let grad = noise(40 * 8 * 81, 3);
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| gradients(&g, &images, &weight, &grad, true, true))
        };
        let one = run(1);
        for threads in [2, 3, 5] {
            for _ in 0..3 {
                assert!(run(threads) == one, "{threads} threads");
            }
        }
    }

    #[test]
    fn plain_tensors_do_not_take_this_path() {
        let device = Device::flex();
        let layer = Conv2dConfig::new([2, 2], [1, 1]).init(&device);
        assert!(conv2d(&layer, &Tensor::<4>::ones([1, 2, 3, 3], &device)).is_none());
    }
}
