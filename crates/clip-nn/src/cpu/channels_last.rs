//! Feature maps stored channels-last ([batch, height, width, channels]) for ResNet inference:
//! a convolution is then one product of every pixel's patch (rows) by the weight
//! pre-packed into panels, the way linear layers run, with batch norm and ReLU applied to
//! its rows in place.
//!
//! Why not the channels-first convolutions of `conv`: there each image's product has the
//! weight on the left, which the `gemm` crate packs again on every call, and the output
//! channels as rows; RN50 ran at half the speed of ONNX Runtime that way
//! (docs/performance.md). Channels-last, the weight is packed once, the whole batch is
//! one product, and a 3×3 patch is nine contiguous runs of channels.

use std::sync::Arc;

use burn::nn::conv::Conv2d;
use burn::nn::pool::AvgPool2d;
use burn::nn::{BatchNorm, PaddingConfig2d};
use burn::tensor::Tensor;
use rayon::prelude::*;

use super::conv::NormRelu;
use super::int8::Quantized;
use super::packed::Packed;
use super::panel::{self, Kernel};
use super::{Operand, contiguous, flex_f32, from_vec, int8, packed, par_zeros, zeros};

/// A convolution's weight as its product reads it.
enum Taps {
    /// f32 panels for the panel kernels.
    Panels(Arc<Packed>),
    /// 8-bit integers (`--dtype int8`).
    Int8(Arc<Quantized>),
}

/// A float32 feature map [batch, height, width, channels], row-major.
#[derive(Clone, Debug)]
pub struct ChannelsLast {
    data: Vec<f32>,
    dims: [usize; 4],
}

impl ChannelsLast {
    /// `x` [batch, channels, height, width] rearranged channels-last; `None` off the fast
    /// path (another backend or dtype, an autodiff tensor) or without the panel kernels.
    pub fn from_nchw(x: &Tensor<4>) -> Option<Self> {
        Kernel::chosen().filter(|_| packed::enabled())?;
        let [batch, channels, h, w] = x.dims();
        let x = flex_f32(x)?;
        let planes = contiguous(&x)?;
        let pixels = h * w;
        let mut data = zeros(planes.len());
        if pixels * channels > 0 {
            data.par_chunks_mut(pixels * channels)
                .zip(planes.par_chunks(pixels * channels))
                .for_each(|(dst, src)| {
                    for (c, plane) in src.chunks_exact(pixels).enumerate() {
                        for (p, &v) in plane.iter().enumerate() {
                            dst[p * channels + c] = v;
                        }
                    }
                });
        }
        Some(ChannelsLast {
            data,
            dims: [batch, h, w, channels],
        })
    }

    /// [batch, height, width, channels].
    pub fn dims(&self) -> [usize; 4] {
        self.dims
    }

    /// `relu?(norm(conv(self)))` with the (inference) batch norm folded into a per-channel
    /// scale and shift; `None` for a convolution this path does not take (groups,
    /// dilation, `Same` padding, shapes that do not match, another backend's weights).
    pub fn conv_bn(&self, conv: &Conv2d, norm: &BatchNorm, relu: bool) -> Option<Self> {
        let then = NormRelu::new(norm, relu)?;
        let channels = conv.weight.dims()[0];
        (then.channels() == channels).then_some(())?;
        self.conv_then(conv, Some(&then))
    }

    /// `conv(self)`, as [`ChannelsLast::conv_bn`] without the norm.
    pub fn conv(&self, conv: &Conv2d) -> Option<Self> {
        self.conv_then(conv, None)
    }

    /// The convolution, then `then` on its output.
    fn conv_then(&self, conv: &Conv2d, then: Option<&NormRelu>) -> Option<Self> {
        let kernel = Kernel::chosen()?;
        let [batch, h, w, cin] = self.dims;
        let weight = flex_f32(&conv.weight.val())?;
        let values = contiguous(&weight)?;
        let [cout, weight_cin, kh, kw] = weight.layout().shape().dims::<4>();
        let [sh, sw] = conv.stride;
        let (top, left, bottom, right) = match conv.padding {
            PaddingConfig2d::Valid => (0, 0, 0, 0),
            PaddingConfig2d::Explicit(top, left, bottom, right) => (top, left, bottom, right),
            PaddingConfig2d::Same => return None,
        };
        let (hp, wp) = (h + top + bottom, w + left + right);
        if conv.groups != 1 || conv.dilation != [1, 1] || weight_cin != cin || sh == 0 || sw == 0 {
            return None;
        }
        if hp < kh || wp < kw || batch == 0 || cout == 0 {
            return None;
        }
        let (ho, wo) = ((hp - kh) / sh + 1, (wp - kw) / sw + 1);
        let bias = match conv.bias.as_ref().map(|b| flex_f32(&b.val())) {
            Some(b) => Some(b?),
            None => None,
        };
        let bias = match &bias {
            Some(b) => Some(contiguous(b)?),
            None => None,
        };
        // In 8-bit integers when the process asked for it (see `int8`), else f32 panels.
        let dims = [cout, cin, kh, kw];
        let quantized = int8::enabled()
            .then(|| packed::conv_taps_quantized(&weight, values, dims))
            .flatten();
        let taps = match quantized {
            Some(q) => Taps::Int8(q),
            None => Taps::Panels(packed::conv_taps(&weight, values, dims, kernel.strip())?),
        };
        let patch = kh * kw * cin;
        let rows = batch * ho * wo;
        let direct = kh == 1 && kw == 1 && sh == 1 && sw == 1 && hp == h && wp == w;
        let g = Geometry {
            kernel: [kh, kw],
            stride: [sh, sw],
            pad: [top, left],
            out: [ho, wo],
        };
        let mut out = match bias {
            Some(bias) => bias.repeat(rows),
            // Zeroed by both threads: a batch of 16's layer-1 map is 51 MB.
            None => par_zeros(rows * cout),
        };
        let product = |a: &Operand, rows: usize, out: &mut [f32], parallel: bool| match &taps {
            Taps::Int8(q) => int8::matmul(a, rows, q, [patch, cout], out, parallel),
            Taps::Panels(p) => panel::matmul(kernel, a, rows, p, [patch, cout], out, parallel),
        };
        if rows <= panel::MAX_ROWS {
            // Few rows (late stages, one image): one product, its panels over the threads.
            let columns;
            let a = if direct {
                Operand::dense(&self.data, cin)
            } else {
                columns = {
                    let mut c = zeros(rows * patch);
                    self.patches(&g, 0, &mut c);
                    c
                };
                Operand::dense(&columns, patch)
            };
            product(&a, rows, &mut out, true);
            if let Some(then) = then {
                then.apply_rows(&mut out);
            }
        } else {
            // Many rows: blocks of rows taken by whichever thread is free, each laying out
            // its patches in a buffer of its own that stays in L2 for every panel, then
            // normed while still in cache. The whole patch matrix never exists.
            let block = (BLOCK_BYTES / (patch * 4)).clamp(ROWS, 32 * ROWS) / ROWS * ROWS;
            out.par_chunks_mut(block * cout)
                .enumerate()
                .for_each(|(b, out)| {
                    let (first, count) = (b * block, out.len() / cout);
                    if direct {
                        let a = Operand::dense(&self.data[first * cin..], cin);
                        product(&a, count, out, false);
                    } else {
                        COLUMNS.with_borrow_mut(|columns| {
                            columns.resize(count * patch, 0.0);
                            self.patches(&g, first, columns);
                            product(&Operand::dense(columns, patch), count, out, false);
                        });
                    }
                    if let Some(then) = then {
                        then.apply_rows_here(out);
                    }
                });
        }
        Some(ChannelsLast {
            data: out,
            dims: [batch, ho, wo, cout],
        })
    }

    /// The patches of output pixels `first ..` (as many as `dst` holds rows of
    /// kh · kw · channels, offset-major as [`packed::conv_taps`] orders the weight), zeros
    /// where the window crosses the padding.
    fn patches(&self, g: &Geometry, first: usize, dst: &mut [f32]) {
        let [_, h, w, c] = self.dims;
        let ([kh, kw], [sh, sw], [top, left], [ho, wo]) = (g.kernel, g.stride, g.pad, g.out);
        for (i, row) in dst.chunks_exact_mut(kh * kw * c).enumerate() {
            let pixel = first + i;
            let (image, oy, ox) = (pixel / (ho * wo), pixel / wo % ho, pixel % wo);
            let src = &self.data[image * h * w * c..][..h * w * c];
            for (tap, run) in row.chunks_exact_mut(c).enumerate() {
                let y = (oy * sh + tap / kw).checked_sub(top).filter(|&y| y < h);
                let x = (ox * sw + tap % kw).checked_sub(left).filter(|&x| x < w);
                match (y, x) {
                    (Some(y), Some(x)) => run.copy_from_slice(&src[(y * w + x) * c..][..c]),
                    _ => run.fill(0.0),
                }
            }
        }
    }

    /// `pool(self)` for a pool whose windows tile the map (kernel = stride, no padding,
    /// floor mode); `None` for any other pool.
    pub fn avg_pool(&self, pool: &AvgPool2d) -> Option<Self> {
        let tiles = super::pool::tiles(pool);
        let [kh, kw] = pool.kernel_size;
        if !tiles || kh == 0 || kw == 0 {
            return None;
        }
        if [kh, kw] == [1, 1] {
            return Some(self.clone());
        }
        let [batch, h, w, c] = self.dims;
        let (ho, wo) = (h / kh, w / kw);
        let inverse = 1.0 / (kh * kw) as f32;
        let mut data = par_zeros(batch * ho * wo * c);
        if !data.is_empty() {
            data.par_chunks_mut(wo * c)
                .enumerate()
                .for_each(|(line, dst)| {
                    let (image, oy) = (line / ho, line % ho);
                    let src = &self.data[image * h * w * c..][..h * w * c];
                    for (ox, out) in dst.chunks_exact_mut(c).enumerate() {
                        for i in 0..kh {
                            let y = oy * kh + i;
                            let window = &src[(y * w + ox * kw) * c..][..kw * c];
                            for pixel in window.chunks_exact(c) {
                                for (o, &v) in out.iter_mut().zip(pixel) {
                                    *o += v;
                                }
                            }
                        }
                        for o in out.iter_mut() {
                            *o *= inverse;
                        }
                    }
                });
        }
        Some(ChannelsLast {
            data,
            dims: [batch, ho, wo, c],
        })
    }

    /// `relu(self + other)`, the Bottleneck's residual join; `None` if the shapes differ.
    pub fn add_relu(mut self, other: &Self) -> Option<Self> {
        (self.dims == other.dims).then_some(())?;
        self.data
            .par_chunks_mut(1 << 14)
            .zip(other.data.par_chunks(1 << 14))
            .for_each(|(a, b)| {
                for (a, &b) in a.iter_mut().zip(b) {
                    *a = (*a + b).max(0.0);
                }
            });
        Some(self)
    }

    /// The map as tokens [batch, height · width, channels] (pixels in row-major order).
    pub fn into_tokens(self) -> Tensor<3> {
        let [batch, h, w, c] = self.dims;
        from_vec(self.data, [batch, h * w, c])
    }
}

thread_local! {
    /// A thread's patch buffer, kept between blocks and layers: allocating one per block
    /// mapped and unmapped memory each time (TLB shootdowns: 14% of a batch-16 profile).
    static COLUMNS: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Bytes of patches one thread lays out at a time: re-read for every panel, so they stay
/// in L2.
const BLOCK_BYTES: usize = 256 << 10;
/// Rows of the panel kernel's micro-kernel; blocks are multiples of it.
const ROWS: usize = 6;

/// A convolution's window: kernel size, stride, padding before (top, left), output size.
struct Geometry {
    kernel: [usize; 2],
    stride: [usize; 2],
    pad: [usize; 2],
    out: [usize; 2],
}

#[cfg(test)]
mod tests {
    use burn::nn::conv::Conv2dConfig;
    use burn::nn::pool::AvgPool2dConfig;
    use burn::nn::{BatchNormConfig, PaddingConfig2d};
    use burn::tensor::{Device, Distribution, Tensor, activation};

    use super::*;

    /// [batch, h, w, c] back to [batch, c, h, w].
    fn nchw(x: ChannelsLast) -> Tensor<4> {
        let [batch, h, w, c] = x.dims();
        x.into_tokens()
            .reshape([batch, h, w, c])
            .permute([0, 3, 1, 2])
    }

    fn assert_close(got: Tensor<4>, want: Tensor<4>) {
        assert_eq!(got.dims(), want.dims());
        let got = got.into_data().try_to_vec::<f32>().unwrap();
        let want = want.into_data().try_to_vec::<f32>().unwrap();
        let scale = want.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let worst = got
            .iter()
            .zip(&want)
            .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
        assert!(worst <= 1e-6 * scale, "{worst} of {scale}");
    }

    #[test]
    fn convolutions_norms_pools_and_joins_match_burn() {
        if ChannelsLast::from_nchw(&Tensor::<4>::zeros([1, 1, 1, 1], &Device::flex())).is_none() {
            return; // no panel kernels on this CPU: the path is never taken
        }
        let device = Device::flex();
        let x = Tensor::<4>::random([2, 5, 11, 9], Distribution::Normal(0.0, 1.0), &device);
        let cl = ChannelsLast::from_nchw(&x).unwrap();
        assert_close(nchw(cl.clone()), x.clone());
        // 3×3 padded with stride 2, 1×1 direct, an unpadded 2×3 with a bias, 70 outputs
        // (a panel and a narrower one).
        let convs = [
            Conv2dConfig::new([5, 70], [3, 3])
                .with_stride([2, 2])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .with_bias(false),
            Conv2dConfig::new([5, 70], [1, 1]).with_bias(false),
            Conv2dConfig::new([5, 70], [2, 3]),
        ];
        let mut norm = BatchNormConfig::new(70).init(&device);
        norm.running_mean = burn::module::RunningState::new(Tensor::random(
            [70],
            Distribution::Normal(0.0, 1.0),
            &device,
        ));
        for config in convs {
            let conv = config.init(&device);
            assert_close(nchw(cl.conv(&conv).unwrap()), conv.forward(x.clone()));
            let want = activation::relu(norm.forward(conv.forward(x.clone())));
            assert_close(nchw(cl.conv_bn(&conv, &norm, true).unwrap()), want);
        }
        let pool = AvgPool2dConfig::new([2, 2]).with_strides([2, 2]).init();
        assert_close(nchw(cl.avg_pool(&pool).unwrap()), pool.forward(x.clone()));
        let doubled = cl.clone().add_relu(&cl).unwrap();
        assert_close(nchw(doubled), activation::relu(x.clone() + x));
    }

    #[test]
    fn int8_convolutions_stay_close_to_burns() {
        if !int8::available() || Kernel::chosen().is_none() {
            return; // no integer kernel on this CPU
        }
        let device = Device::flex();
        // A batch whose patches outnumber one product (the blocked path) and one that does
        // not; a 3×3 kernel (its taps' order shows), a 1×1 and a 2×3 with a bias.
        for batch in [1, 9] {
            let x = Tensor::<4>::random([batch, 5, 11, 9], Distribution::Normal(0.0, 1.0), &device);
            let cl = ChannelsLast::from_nchw(&x).unwrap();
            let convs = [
                Conv2dConfig::new([5, 70], [3, 3])
                    .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                    .with_bias(false),
                Conv2dConfig::new([5, 70], [1, 1]).with_bias(false),
                Conv2dConfig::new([5, 70], [2, 3]),
            ];
            for config in convs {
                let conv = config.init(&device);
                let got = int8::forced(|| nchw(cl.conv(&conv).unwrap()));
                let got = got.into_data().try_to_vec::<f32>().unwrap();
                let want = conv
                    .forward(x.clone())
                    .into_data()
                    .try_to_vec::<f32>()
                    .unwrap();
                let (cosine, moved) = int8::cosine_and_moved(&got, &want);
                assert!(
                    cosine >= 0.9999 && moved,
                    "batch {batch}: cosine {cosine}, moved {moved}"
                );
            }
        }
    }
}
