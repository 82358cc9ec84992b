//! `Conv2d` layers as matrix products: each image's patches laid out as columns
//! (im2col), then one product with the weight seen as a [out, in · kh · kw] matrix.
//!
//! A 1×1 convolution with stride 1 and no padding (most of a ResNet bottleneck) needs no
//! columns: the image already is the [in, h · w] matrix.

use burn::nn::conv::Conv2d;
use burn::nn::{BatchNorm, PaddingConfig2d};
use burn::tensor::{Tensor, activation};
use rayon::prelude::*;

use super::{Operand, contiguous, flex_f32, from_vec, gemm, par_zeros};

/// `layer.forward(x)`, on the fast path where the layer and tensors allow it (one group,
/// no dilation, `Valid` or `Explicit` padding, float32 `flex`); the same sums up to float
/// rounding order.
pub fn conv2d(layer: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    fast_conv2d(layer, &x, None)
        .or_else(|| super::conv_grad::conv2d(layer, &x))
        .unwrap_or_else(|| layer.forward(x))
}

/// `relu?(norm.forward(conv2d(layer, x)))`, the ResNet's conv–batch-norm(–ReLU) unit. On
/// the fast path the (inference) batch norm and the ReLU are applied to each image's
/// product in place, as a per-channel scale and shift, instead of as passes of their own;
/// under autodiff, the convolution and a training-mode batch norm are this module's
/// autodiff ops (`conv_grad`, `norm_grad`).
pub fn conv2d_batch_norm(layer: &Conv2d, norm: &BatchNorm, relu: bool, x: Tensor<4>) -> Tensor<4> {
    let then = NormRelu::new(norm, relu);
    let fused = then.and_then(|then| fast_conv2d(layer, &x, Some(&then)));
    fused.unwrap_or_else(|| {
        let out = conv2d(layer, x);
        super::norm_grad::batch_norm(norm, relu, &out).unwrap_or_else(|| {
            let out = norm.forward(out);
            if relu { activation::relu(out) } else { out }
        })
    })
}

/// An inference batch norm as `x · scale + shift` per channel, then optionally ReLU.
pub(super) struct NormRelu {
    scale: Vec<f32>,
    shift: Vec<f32>,
    relu: bool,
}

impl NormRelu {
    /// The running statistics folded as PyTorch's eval-mode batch norm does
    /// (`scale = γ / √(var + ε)`, `shift = β − mean · scale`); `None` off the float32 flex
    /// backend, where the layer keeps Burn's batch norm.
    pub(super) fn new(norm: &BatchNorm, relu: bool) -> Option<Self> {
        let values =
            |t: Tensor<1>| -> Option<Vec<f32>> { Some(contiguous(&flex_f32(&t)?)?.to_vec()) };
        let gamma = values(norm.gamma.val())?;
        let beta = values(norm.beta.val())?;
        let mean = values(norm.running_mean.value())?;
        let var = values(norm.running_var.value())?;
        let eps = norm.epsilon as f32;
        let scale: Vec<f32> = gamma
            .iter()
            .zip(&var)
            .map(|(g, v)| g / (v + eps).sqrt())
            .collect();
        let shift = beta
            .iter()
            .zip(&mean)
            .zip(&scale)
            .map(|((b, m), s)| b - m * s)
            .collect();
        Some(NormRelu { scale, shift, relu })
    }

    /// Applies to channels-last rows [pixels, channels], split over the thread pool.
    pub(super) fn apply_rows(&self, out: &mut [f32]) {
        let rows = (1 << 14) / self.scale.len().max(1) + 1;
        out.par_chunks_mut(rows * self.scale.len())
            .for_each(|block| self.apply_rows_here(block));
    }

    /// [`NormRelu::apply_rows`] on the calling thread.
    pub(super) fn apply_rows_here(&self, out: &mut [f32]) {
        for row in out.chunks_exact_mut(self.scale.len()) {
            for ((v, &scale), &shift) in row.iter_mut().zip(&self.scale).zip(&self.shift) {
                *v = self.one(*v, scale, shift);
            }
        }
    }

    /// One value normed (and rectified).
    fn one(&self, v: f32, scale: f32, shift: f32) -> f32 {
        let y = v * scale + shift;
        if self.relu { y.max(0.0) } else { y }
    }

    /// Channels of the norm.
    pub(super) fn channels(&self) -> usize {
        self.scale.len()
    }

    /// Applies to one image's output [channels, pixels].
    fn apply(&self, out: &mut [f32], pixels: usize, parallel: bool) {
        let channel = |(channel, (&scale, &shift)): (&mut [f32], (&f32, &f32))| {
            for v in channel {
                *v = self.one(*v, scale, shift);
            }
        };
        let params = self.scale.iter().zip(&self.shift);
        if parallel {
            out.par_chunks_mut(pixels)
                .zip(self.scale.par_iter().zip(&self.shift))
                .for_each(channel);
        } else {
            out.chunks_mut(pixels).zip(params).for_each(channel);
        }
    }
}

/// A convolution's shapes: where each output pixel's receptive field starts, for one image.
#[derive(Debug)]
pub(super) struct Geometry {
    pub(super) batch: usize,
    pub(super) cin: usize,
    pub(super) cout: usize,
    pub(super) h: usize,
    pub(super) w: usize,
    pub(super) kh: usize,
    pub(super) kw: usize,
    pub(super) stride: [usize; 2],
    pub(super) top: usize,
    pub(super) left: usize,
    pub(super) ho: usize,
    pub(super) wo: usize,
    /// A 1×1, stride-1, unpadded convolution: the image itself is the column matrix.
    pub(super) direct: bool,
}

impl Geometry {
    /// `layer` applied to an input of `x_dims`, where the fast paths take it: one group, no
    /// dilation, `Valid` or `Explicit` padding, a non-empty batch and output.
    pub(super) fn of(layer: &Conv2d, x_dims: [usize; 4]) -> Option<Geometry> {
        if layer.groups != 1 || layer.dilation != [1, 1] {
            return None;
        }
        let (top, left, bottom, right) = match layer.padding {
            PaddingConfig2d::Valid => (0, 0, 0, 0),
            PaddingConfig2d::Explicit(top, left, bottom, right) => (top, left, bottom, right),
            PaddingConfig2d::Same => return None,
        };
        let [batch, cin, h, w] = x_dims;
        let [cout, weight_cin, kh, kw] = layer.weight.dims();
        let [sh, sw] = layer.stride;
        let (hp, wp) = (h + top + bottom, w + left + right);
        if weight_cin != cin || sh == 0 || sw == 0 || hp < kh || wp < kw || batch == 0 {
            return None;
        }
        Some(Geometry {
            batch,
            cin,
            cout,
            h,
            w,
            kh,
            kw,
            stride: [sh, sw],
            top,
            left,
            ho: (hp - kh) / sh + 1,
            wo: (wp - kw) / sw + 1,
            direct: kh == 1 && kw == 1 && sh == 1 && sw == 1 && hp == h && wp == w,
        })
    }

    /// Rows of the column matrix: input channels × kernel area.
    pub(super) fn patch(&self) -> usize {
        self.cin * self.kh * self.kw
    }

    /// Output pixels of one image.
    pub(super) fn pixels(&self) -> usize {
        self.ho * self.wo
    }

    /// The output columns `first..end` whose input column `x = ox · stride + j − left`, at
    /// kernel column `j`, lies inside the image.
    pub(super) fn inside_columns(&self, j: usize) -> (usize, usize) {
        let sx = self.stride[1];
        let first = self.left.saturating_sub(j).div_ceil(sx).min(self.wo);
        let end = (self.w + self.left)
            .saturating_sub(j)
            .div_ceil(sx)
            .clamp(first, self.wo);
        (first, end)
    }

    /// The input row output row `oy` reads at kernel row `i`, or `None` in the padding.
    pub(super) fn input_row(&self, oy: usize, i: usize) -> Option<usize> {
        (oy * self.stride[0] + i)
            .checked_sub(self.top)
            .filter(|&y| y < self.h)
    }

    /// A zeroed column matrix for one image (none for a direct convolution).
    pub(super) fn columns(&self) -> Vec<f32> {
        if self.direct {
            Vec::new()
        } else {
            vec![0.0f32; self.patch() * self.pixels()]
        }
    }
}

fn fast_conv2d(layer: &Conv2d, x: &Tensor<4>, then: Option<&NormRelu>) -> Option<Tensor<4>> {
    let g = Geometry::of(layer, x.dims())?;
    if then.is_some_and(|t| t.scale.len() != g.cout) {
        return None;
    }
    let (x, weight) = (flex_f32(x)?, flex_f32(&layer.weight.val())?);
    let bias = match &layer.bias {
        Some(b) => Some(flex_f32(&b.val())?),
        None => None,
    };
    let (images, weight) = (contiguous(&x)?, contiguous(&weight)?);
    let bias = match &bias {
        Some(b) => Some(contiguous(b)?),
        None => None,
    };
    let out = forward(&g, images, weight, bias, then);
    Some(from_vec(out, [g.batch, g.cout, g.ho, g.wo]))
}

/// The convolution of contiguous `images` [batch, in, h, w] by `weight` [out, in, kh, kw]
/// (+ `bias`, then `then`), as [batch, out, ho, wo].
pub(super) fn forward(
    g: &Geometry,
    images: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    then: Option<&NormRelu>,
) -> Vec<f32> {
    let unit = Unit {
        weight: Operand::dense(weight, g.patch()),
        bias,
        then,
        geometry: g,
    };
    let mut out = par_zeros(g.batch * g.cout * g.pixels());
    let (image_len, out_len) = (g.cin * g.h * g.w, g.cout * g.pixels());
    if g.batch > 1 && rayon::current_num_threads() > 1 {
        // One image per thread at a time: no synchronisation inside the products.
        out.par_chunks_exact_mut(out_len)
            .zip(images.par_chunks_exact(image_len))
            .for_each_init(
                || g.columns(),
                |columns, (out, image)| unit.run(image, out, columns, false),
            );
    } else {
        let mut columns = g.columns();
        for (out, image) in out
            .chunks_exact_mut(out_len)
            .zip(images.chunks_exact(image_len))
        {
            unit.run(image, out, &mut columns, true);
        }
    }
    out
}

/// One convolution applied to one image at a time.
struct Unit<'a> {
    weight: Operand<'a>,
    bias: Option<&'a [f32]>,
    then: Option<&'a NormRelu>,
    geometry: &'a Geometry,
}

impl Unit<'_> {
    /// Writes one image's output [out, ho · wo]; `parallel` splits the work over threads
    /// (when images are not already spread over them).
    fn run(&self, image: &[f32], out: &mut [f32], columns: &mut [f32], parallel: bool) {
        let g = self.geometry;
        let pixels = g.pixels();
        // The bias seeds each output channel and the product is added to it.
        if let Some(bias) = self.bias {
            for (channel, &b) in out.chunks_exact_mut(pixels).zip(bias) {
                channel.fill(b);
            }
        }
        let matrix = if g.direct {
            image
        } else {
            im2col(image, g, columns, parallel);
            columns
        };
        let b = Operand::dense(matrix, pixels);
        gemm(
            &self.weight,
            &b,
            [g.cout, pixels, g.patch()],
            self.bias.is_some(),
            out,
            parallel,
        );
        if let Some(then) = self.then {
            then.apply(out, pixels, parallel);
        }
    }
}

/// Lays out one image [in, h, w] as columns [in · kh · kw, ho · wo]: row (c, i, j) holds,
/// for every output pixel, the input at kernel offset (i, j) of channel c (0 in padding).
pub(super) fn im2col(image: &[f32], g: &Geometry, columns: &mut [f32], parallel: bool) {
    let plane = g.h * g.w;
    let fill = |(row, dst): (usize, &mut [f32])| {
        let (channel, i, j) = (row / (g.kh * g.kw), (row / g.kw) % g.kh, row % g.kw);
        let src = &image[channel * plane..][..plane];
        let sx = g.stride[1];
        let (first, end) = g.inside_columns(j);
        for (oy, dst) in dst.chunks_exact_mut(g.wo).enumerate() {
            let Some(y) = g.input_row(oy, i) else {
                dst.fill(0.0);
                continue;
            };
            let line = &src[y * g.w..][..g.w];
            let (before, rest) = dst.split_at_mut(first);
            let (inside, after) = rest.split_at_mut(end - first);
            before.fill(0.0);
            after.fill(0.0);
            if inside.is_empty() {
                continue;
            }
            let x0 = first * sx + j - g.left;
            if sx == 1 {
                inside.copy_from_slice(&line[x0..x0 + inside.len()]);
            } else {
                for (d, &v) in inside.iter_mut().zip(line[x0..].iter().step_by(sx)) {
                    *d = v;
                }
            }
        }
    };
    let rows = g.ho * g.wo;
    if parallel {
        columns
            .par_chunks_mut(rows)
            .enumerate()
            .with_min_len(8)
            .for_each(fill);
    } else {
        columns.chunks_mut(rows).enumerate().for_each(fill);
    }
}

#[cfg(test)]
pub(super) mod tests {
    use burn::module::{Param, RunningState};
    use burn::nn::BatchNormConfig;
    use burn::nn::conv::Conv2dConfig;
    use burn::tensor::{Device, Distribution, Tolerance};

    use super::*;

    fn check(config: Conv2dConfig, input: [usize; 4]) {
        let device = Device::flex();
        let layer = config.init(&device);
        let x = Tensor::<4>::random(input, Distribution::Normal(0.0, 1.0), &device);
        let expected = layer.forward(x.clone());
        let got =
            fast_conv2d(&layer, &x, None).expect("this convolution should take the fast path");
        got.into_data()
            .assert_approx_eq::<f32>(&expected.into_data(), Tolerance::permissive());
    }

    /// Convolutions the fast paths are tested on, each with an input of `batch` images:
    /// ResNet's shapes (1×1 direct, 3×3 padded without bias, the strided stem) and odd ones.
    pub(in crate::cpu) fn cases(batch: usize) -> Vec<(Conv2dConfig, [usize; 4])> {
        let padded = Conv2dConfig::new([4, 6], [3, 3])
            .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
            .with_bias(false);
        let stem = Conv2dConfig::new([3, 5], [3, 3])
            .with_stride([2, 2])
            .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1));
        // Uneven padding and a non-square kernel and stride.
        let uneven = Conv2dConfig::new([3, 4], [2, 3])
            .with_stride([1, 2])
            .with_padding(PaddingConfig2d::Explicit(0, 2, 1, 0));
        // Padding wider than the kernel reaches: whole rows and columns of zeros.
        let wide = Conv2dConfig::new([2, 3], [2, 2])
            .with_stride([3, 3])
            .with_padding(PaddingConfig2d::Explicit(4, 5, 4, 5));
        vec![
            (Conv2dConfig::new([8, 12], [1, 1]), [batch, 8, 5, 6]),
            (padded, [batch, 4, 7, 5]),
            (stem, [batch, 3, 9, 8]),
            (uneven, [batch, 3, 6, 7]),
            (wide, [batch, 2, 2, 3]),
        ]
    }

    #[test]
    fn matches_burn_conv2d() {
        for batch in [1, 2] {
            for (config, input) in cases(batch) {
                check(config, input);
            }
        }
    }

    #[test]
    fn fuses_batch_norm_and_relu() {
        let device = Device::flex();
        let conv = Conv2dConfig::new([4, 6], [3, 3])
            .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
            .with_bias(false)
            .init(&device);
        // Statistics away from the identity, as a trained network's are.
        let mut norm = BatchNormConfig::new(6).init(&device);
        let random = |shift: f32| {
            Tensor::<1>::random([6], Distribution::Uniform(0.5, 2.0), &device).add_scalar(shift)
        };
        norm.gamma = Param::from_tensor(random(-1.2));
        norm.beta = Param::from_tensor(random(-1.0));
        norm.running_mean = RunningState::new(random(-1.0));
        norm.running_var = RunningState::new(random(0.0));
        let x = Tensor::<4>::random([2, 4, 5, 6], Distribution::Normal(0.0, 1.0), &device);
        for relu in [false, true] {
            let then = NormRelu::new(&norm, relu).expect("flex f32 statistics");
            let fused = fast_conv2d(&conv, &x, Some(&then)).expect("fast path");
            let plain = norm.forward(conv.forward(x.clone()));
            let plain = if relu { activation::relu(plain) } else { plain };
            fused
                .into_data()
                .assert_approx_eq::<f32>(&plain.into_data(), Tolerance::permissive());
        }
    }

    #[test]
    fn grouped_convolutions_use_burn() {
        let device = Device::flex();
        let layer = Conv2dConfig::new([4, 4], [1, 1])
            .with_groups(2)
            .init(&device);
        let x = Tensor::<4>::ones([1, 4, 3, 3], &device);
        assert!(fast_conv2d(&layer, &x, None).is_none());
        assert_eq!(conv2d(&layer, x).dims(), [1, 4, 3, 3]);
    }
}
