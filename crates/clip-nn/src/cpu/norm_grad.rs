//! Training batch norm on the CPU fast path: batch statistics and the normalised output in
//! two passes over each channel's planes, and a backward pass of two more, where Burn's
//! generic op transposes the activation (and its gradient) to channels-first rows for every
//! mean it takes (a tiny ResNet's step spent 12% there). Same formulas as Burn's
//! `batch_norm_train` and its backward, the same running-statistics update as
//! `BatchNorm::forward`'s; statistics are summed in f64.
//!
//! A ReLU after the norm (the ResNet's conv–norm–ReLU units) is folded in: applied as the
//! output is written, and its backward mask taken from the output recomputed from the
//! saved input, where Burn's ReLU costs a comparison pass and a masking pass each way, on
//! one thread (~15 ms of a ~570 ms tiny-ResNet step).

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
use burn::nn::BatchNorm;
use burn::tensor::{DType, Tensor, TensorData};
use rayon::prelude::*;

use super::{LANES, flex_tensor, lane_sums, par_zeros, values};

/// `norm.forward(x)`, then `relu` when asked, for an autodiff float32 `flex` input
/// [batch, channels, h, w] of a layer in training mode (batch statistics, running
/// statistics updated), with this module's backward pass; `None` otherwise (Burn's layers
/// then run).
pub(super) fn batch_norm(norm: &BatchNorm, relu: bool, x: &Tensor<4>) -> Option<Tensor<4>> {
    if !norm.training.is_enabled() {
        return None;
    }
    let (out, mean, variance) = tracked::<NoCheckpointing>(norm, relu, x)
        .or_else(|| tracked::<BalancedCheckpointing>(norm, relu, x))?;
    // As `BatchNorm::forward_train`: an exponential average of the batch statistics.
    let device = x.device();
    let statistic = |values: Vec<f32>| {
        let len = values.len();
        Tensor::<1>::from_data(TensorData::new(values, [len]), &device)
    };
    let m = norm.momentum;
    let running_mean = norm.running_mean.value_sync().to_device(&device);
    let running_var = norm.running_var.value_sync().to_device(&device);
    let running_mean = running_mean
        .mul_scalar(1.0 - m)
        .add(statistic(mean).mul_scalar(m));
    let running_var = running_var
        .mul_scalar(1.0 - m)
        .add(statistic(variance).mul_scalar(m));
    norm.running_mean.update(running_mean.detach());
    norm.running_var.update(running_var.detach());
    Some(out)
}

/// The normalised output, and the batch's per-channel mean and (biased) variance.
type Normalised = (Tensor<4>, Vec<f32>, Vec<f32>);

fn tracked<C>(norm: &BatchNorm, relu: bool, x: &Tensor<4>) -> Option<Normalised>
where
    C: CheckpointStrategy,
    DispatchTensor: DispatchKindConversion<Autodiff<Flex, C>>,
{
    let dims = x.dims();
    let [batch, channels, h, w] = dims;
    let ad = |t: Tensor<1>| t.try_into_primitive::<Autodiff<Flex, C>>().ok();
    let x = x.clone().try_into_primitive::<Autodiff<Flex, C>>().ok()?;
    let (gamma, beta) = (ad(norm.gamma.val())?, ad(norm.beta.val())?);
    let f32s = [x.primitive(), gamma.primitive(), beta.primitive()];
    if f32s.iter().any(|t| t.dtype() != DType::F32)
        || norm.gamma.dims() != [channels]
        || batch * h * w == 0
    {
        return None;
    }
    let planes = Planes { dims, relu };
    let input = x.primitive().to_contiguous();
    let (gamma_v, beta_v) = (
        gamma.primitive().to_contiguous(),
        beta.primitive().to_contiguous(),
    );
    let (mean, variance) = planes.statistics(values(&input));
    let eps = norm.epsilon;
    let inv_std: Vec<f32> = variance
        .iter()
        .map(|&v| (1.0 / (v as f64 + eps).sqrt()) as f32)
        .collect();
    let out = planes.normalise(
        values(&input),
        &mean,
        &inv_std,
        values(&gamma_v),
        values(&beta_v),
    );
    let out = flex_tensor(out, dims);
    let op = NormBackward {
        planes,
        beta: values(&beta_v).to_vec(),
    };
    let out = match op
        .prepare::<C>([x.node(), gamma.node(), beta.node()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(mut prep) => {
            let state = (
                prep.checkpoint(&x),
                prep.checkpoint(&gamma),
                mean.clone(),
                inv_std,
            );
            prep.finish(state, out)
        }
        OpsKind::UnTracked(prep) => prep.finish(out),
    };
    Some((
        Tensor::from_primitive::<Autodiff<Flex, C>>(out),
        mean,
        variance,
    ))
}

/// The backward step of one batch norm (and its ReLU), for its input, gain and shift.
#[derive(Debug)]
struct NormBackward {
    planes: Planes,
    /// The shift as the forward pass used it, to recompute the output for the ReLU's mask.
    beta: Vec<f32>,
}

impl Backward<Flex, 3> for NormBackward {
    /// The input's and the gain's checkpointed values, the batch mean and 1/√(var + ε).
    type State = (NodeId, NodeId, Vec<f32>, Vec<f32>);

    fn backward(
        self,
        ops: Ops<Self::State, 3>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let [node_x, node_gamma, node_beta] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node).to_contiguous();
        let (x, gamma, mean, inv_std) = ops.state;
        let x: FlexTensor = checkpointer.retrieve_node_output(x);
        let gamma: FlexTensor = checkpointer.retrieve_node_output(gamma);
        let (x, gamma) = (x.to_contiguous(), gamma.to_contiguous());
        let p = &self.planes;
        let masked = p.relu.then(|| {
            let (x, dy) = (values(&x), values(&grad));
            p.relu_grad(x, dy, &mean, &inv_std, values(&gamma), &self.beta)
        });
        let grad = masked.map_or(grad, |dy| flex_tensor(dy, p.dims));
        let (dgamma, dbeta) = p.parameter_grads(values(&x), values(&grad), &mean, &inv_std);
        let channels = [p.dims[1]];
        let vector = |v: Vec<f32>| flex_tensor(v, channels);
        if let Some(node) = node_x {
            let dx = p.input_grad(
                values(&x),
                values(&grad),
                &mean,
                &inv_std,
                values(&gamma),
                (&dgamma, &dbeta),
            );
            let dx = flex_tensor(dx, p.dims);
            grads.register::<Flex>(node.id, dx);
        }
        if let Some(node) = node_gamma {
            grads.register::<Flex>(node.id, vector(dgamma));
        }
        if let Some(node) = node_beta {
            grads.register::<Flex>(node.id, vector(dbeta));
        }
    }
}

/// A [batch, channels, h, w] activation seen channel by channel: each channel is `batch`
/// planes of h · w values, one per image.
#[derive(Debug, Clone, Copy)]
struct Planes {
    dims: [usize; 4],
    /// Whether a ReLU follows the norm.
    relu: bool,
}

impl Planes {
    fn plane(&self) -> usize {
        self.dims[2] * self.dims[3]
    }

    /// Values per channel.
    fn count(&self) -> usize {
        self.dims[0] * self.plane()
    }

    /// `f(channel)` for every channel, in parallel.
    fn per_channel<T: Send>(&self, f: impl Fn(usize) -> T + Sync + Send) -> Vec<T> {
        (0..self.dims[1]).into_par_iter().map(f).collect()
    }

    /// The planes of `channel` in `data`.
    fn planes<'a>(&self, data: &'a [f32], channel: usize) -> impl Iterator<Item = &'a [f32]> {
        let (channels, plane) = (self.dims[1], self.plane());
        (0..self.dims[0]).map(move |b| &data[(b * channels + channel) * plane..][..plane])
    }

    /// Per-channel mean and biased variance (two passes, f64 sums).
    fn statistics(&self, x: &[f32]) -> (Vec<f32>, Vec<f32>) {
        let n = self.count() as f64;
        let stats = self.per_channel(|c| {
            let sum: f64 = self.planes(x, c).map(|p| lane_sums(p, |v| v as f64)).sum();
            let mean = sum / n;
            let squares: f64 = self
                .planes(x, c)
                .map(|p| lane_sums(p, |v| (v as f64 - mean).powi(2)))
                .sum();
            (mean as f32, (squares / n) as f32)
        });
        stats.into_iter().unzip()
    }

    /// `(x − mean) · inv_std · γ + β` per channel.
    fn normalise(
        &self,
        x: &[f32],
        mean: &[f32],
        inv_std: &[f32],
        gamma: &[f32],
        beta: &[f32],
    ) -> Vec<f32> {
        let mut out = par_zeros(x.len());
        self.map_planes(&mut out, x, None, |c, xs, _, out| {
            let (scale, m, b) = (inv_std[c] * gamma[c], mean[c], beta[c]);
            for (o, &v) in out.iter_mut().zip(xs) {
                *o = (v - m) * scale + b;
            }
            if self.relu {
                out.iter_mut().for_each(|o| *o = relu(*o));
            }
        });
        out
    }

    /// The ReLU's backward: `dy` where the norm's output (recomputed exactly as
    /// [`Planes::normalise`] wrote it) is positive, zero elsewhere, as Burn's
    /// `relu_backward` masks it.
    fn relu_grad(
        &self,
        x: &[f32],
        dy: &[f32],
        mean: &[f32],
        inv_std: &[f32],
        gamma: &[f32],
        beta: &[f32],
    ) -> Vec<f32> {
        let mut out = par_zeros(x.len());
        self.map_planes(&mut out, x, Some(dy), |c, xs, gs, out| {
            let (scale, m, b) = (inv_std[c] * gamma[c], mean[c], beta[c]);
            for ((o, &v), &g) in out.iter_mut().zip(xs).zip(gs.unwrap_or_default()) {
                *o = if (v - m) * scale + b <= 0.0 { 0.0 } else { g };
            }
        });
        out
    }

    /// `(dγ, dβ)`: per channel, Σ dy · x̂ and Σ dy (f64 sums).
    fn parameter_grads(
        &self,
        x: &[f32],
        dy: &[f32],
        mean: &[f32],
        inv_std: &[f32],
    ) -> (Vec<f32>, Vec<f32>) {
        let sums = self.per_channel(|c| {
            let (m, s) = (mean[c], inv_std[c]);
            let (mut dgamma, mut dbeta) = (0f64, 0f64);
            for (xs, gs) in self.planes(x, c).zip(self.planes(dy, c)) {
                // Eight running sums of each, one per vector lane (as `lane_sums`).
                let (mut a, mut b) = ([0f32; LANES], [0f32; LANES]);
                let (mut xc, mut gc) = (xs.chunks_exact(LANES), gs.chunks_exact(LANES));
                for (xv, gv) in (&mut xc).zip(&mut gc) {
                    for l in 0..LANES {
                        a[l] += gv[l] * ((xv[l] - m) * s);
                        b[l] += gv[l];
                    }
                }
                for (&v, &g) in xc.remainder().iter().zip(gc.remainder()) {
                    a[0] += g * ((v - m) * s);
                    b[0] += g;
                }
                dgamma += a.iter().sum::<f32>() as f64;
                dbeta += b.iter().sum::<f32>() as f64;
            }
            (dgamma as f32, dbeta as f32)
        });
        sums.into_iter().unzip()
    }

    /// `dx = γ · inv_std · (dy − mean(dy) − x̂ · mean(dy · x̂))` per channel.
    fn input_grad(
        &self,
        x: &[f32],
        dy: &[f32],
        mean: &[f32],
        inv_std: &[f32],
        gamma: &[f32],
        (dgamma, dbeta): (&[f32], &[f32]),
    ) -> Vec<f32> {
        let n = self.count() as f32;
        let mut dx = par_zeros(x.len());
        self.map_planes(&mut dx, x, Some(dy), |c, xs, gs, out| {
            let (m, s) = (mean[c], inv_std[c]);
            let (mean_dy, mean_dy_xhat) = (dbeta[c] / n, dgamma[c] / n);
            let scale = gamma[c] * s;
            for ((o, &v), &g) in out.iter_mut().zip(xs).zip(gs.unwrap_or_default()) {
                *o = scale * (g - mean_dy - (v - m) * s * mean_dy_xhat);
            }
        });
        dx
    }

    /// `f(channel, x plane, dy plane, out plane)` over every plane, in parallel.
    fn map_planes(
        &self,
        out: &mut [f32],
        x: &[f32],
        dy: Option<&[f32]>,
        f: impl Fn(usize, &[f32], Option<&[f32]>, &mut [f32]) + Sync + Send,
    ) {
        let (channels, plane) = (self.dims[1], self.plane());
        out.par_chunks_mut(plane).enumerate().for_each(|(i, out)| {
            let at = i * plane;
            let xs = &x[at..][..plane];
            f(i % channels, xs, dy.map(|d| &d[at..][..plane]), out)
        });
    }
}

/// Burn's `relu`: values ≤ 0 become 0 (NaN passes, as `mask_fill(x ≤ 0)` leaves it).
fn relu(v: f32) -> f32 {
    if v <= 0.0 { 0.0 } else { v }
}

#[cfg(test)]
mod tests {
    use burn::module::Param;
    use burn::nn::BatchNormConfig;
    use burn::tensor::{Device, Distribution, Tolerance, activation};

    use super::*;

    #[test]
    fn output_gradients_and_running_statistics_match_burns() {
        let device = Device::flex().autodiff();
        let cases = [[4, 3, 5, 6], [1, 2, 3, 3], [6, 5, 1, 1]]
            .into_iter()
            .flat_map(|shape| [(shape, false), (shape, true)]);
        for (shape, relu) in cases {
            let channels = shape[1];
            let make = || {
                let mut norm = BatchNormConfig::new(channels).init(&device);
                let random = |lo, hi| {
                    Tensor::<1>::random([channels], Distribution::Uniform(lo, hi), &device)
                };
                norm.gamma = Param::from_tensor(random(0.5, 2.0));
                norm.beta = Param::from_tensor(random(-1.0, 1.0));
                norm
            };
            let ours_norm = make();
            // Its own running statistics (a clone would share them), the same parameters.
            let mut theirs_norm = BatchNormConfig::new(channels).init(&device);
            theirs_norm.gamma = Param::from_tensor(ours_norm.gamma.val().detach().require_grad());
            theirs_norm.beta = Param::from_tensor(ours_norm.beta.val().detach().require_grad());
            let x = Tensor::<4>::random(shape, Distribution::Normal(0.5, 2.0), &device);
            let r = Tensor::<4>::random(shape, Distribution::Normal(0.0, 1.0), &device);
            let (a, b) = (x.clone().require_grad(), x.require_grad());
            let ours = batch_norm(&ours_norm, relu, &a).expect("autodiff input, training layer");
            let theirs = theirs_norm.forward(b.clone());
            let theirs = if relu {
                activation::relu(theirs)
            } else {
                theirs
            };
            let close = Tolerance::<f32>::rel_abs(1e-4, 1e-5);
            ours.clone()
                .into_data()
                .assert_approx_eq::<f32>(&theirs.clone().into_data(), close);
            let g1 = (ours * r.clone()).sum().backward();
            let g2 = (theirs * r).sum().backward();
            let pairs = [
                (
                    a.grad(&g1).unwrap().into_data(),
                    b.grad(&g2).unwrap().into_data(),
                ),
                (
                    ours_norm.gamma.val().grad(&g1).unwrap().into_data(),
                    theirs_norm.gamma.val().grad(&g2).unwrap().into_data(),
                ),
                (
                    ours_norm.beta.val().grad(&g1).unwrap().into_data(),
                    theirs_norm.beta.val().grad(&g2).unwrap().into_data(),
                ),
                (
                    ours_norm.running_mean.value_sync().into_data(),
                    theirs_norm.running_mean.value_sync().into_data(),
                ),
                (
                    ours_norm.running_var.value_sync().into_data(),
                    theirs_norm.running_var.value_sync().into_data(),
                ),
            ];
            for (ours, theirs) in pairs {
                ours.assert_approx_eq::<f32>(&theirs, close);
            }
        }
    }

    #[test]
    fn plain_tensors_and_frozen_layers_do_not_take_this_path() {
        let norm = BatchNormConfig::new(2).init(&Device::flex());
        let x = Tensor::<4>::ones([1, 2, 2, 2], &Device::flex());
        assert!(batch_norm(&norm, false, &x).is_none());
    }
}
