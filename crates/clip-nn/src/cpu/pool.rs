//! ResNet's anti-aliasing average pools (kernel = stride, no padding) on the CPU backend.
//!
//! Burn's CPU pool visits every output through a general 3-d kernel closure; a pool whose
//! windows tile the image is a sum over k × k blocks, done here a row of windows at a time.

use burn::nn::PaddingConfig2d;
use burn::nn::pool::AvgPool2d;
use burn::tensor::Tensor;
use rayon::prelude::*;

use super::{contiguous, flex_f32, from_vec, zeros};

/// `pool.forward(x)`; a 1 × 1 pool returns `x` itself, and a float32 `flex` input whose
/// pool has kernel = stride and no padding takes the direct path.
pub fn avg_pool2d(pool: &AvgPool2d, x: Tensor<4>) -> Tensor<4> {
    let tiles = tiles(pool);
    if tiles && pool.kernel_size == [1, 1] {
        return x;
    }
    let fast = if tiles {
        tiled_mean(&x, pool.kernel_size)
            .or_else(|| super::pool_grad::avg_pool2d(&x, pool.kernel_size))
    } else {
        None
    };
    fast.unwrap_or_else(|| pool.forward(x))
}

/// Whether `pool`'s windows tile the map: kernel = stride, no padding, floor mode (the
/// pools both fast paths take).
pub(super) fn tiles(pool: &AvgPool2d) -> bool {
    pool.kernel_size == pool.stride
        && !pool.ceil_mode
        && matches!(
            pool.padding,
            PaddingConfig2d::Valid | PaddingConfig2d::Explicit(0, 0, 0, 0)
        )
}

/// Mean over each [kh, kw] block of every plane (floor mode: a partial last block is
/// dropped, as PyTorch's default `ceil_mode=False`).
fn tiled_mean(x: &Tensor<4>, kernel: [usize; 2]) -> Option<Tensor<4>> {
    let [batch, channels, h, w] = x.dims();
    let [ho, wo] = pooled([h, w], kernel)?;
    let x = flex_f32(x)?;
    let out = block_means(contiguous(&x)?, [h, w], kernel);
    Some(from_vec(out, [batch, channels, ho, wo]))
}

/// The output size of a tiling pool with `kernel` over [h, w], or `None` when empty.
pub(super) fn pooled([h, w]: [usize; 2], [kh, kw]: [usize; 2]) -> Option<[usize; 2]> {
    let (ho, wo) = (h.checked_div(kh)?, w.checked_div(kw)?);
    (ho > 0 && wo > 0).then_some([ho, wo])
}

/// The mean of each [kh, kw] block of every [h, w] plane in `planes`.
pub(super) fn block_means(planes: &[f32], [h, w]: [usize; 2], [kh, kw]: [usize; 2]) -> Vec<f32> {
    let (ho, wo) = (h / kh, w / kw);
    let inv = 1.0 / (kh * kw) as f32;
    let mut out = zeros(planes.len() / (h * w) * ho * wo);
    out.par_chunks_mut(ho * wo)
        .zip(planes.par_chunks(h * w))
        .for_each(|(dst, src)| {
            for (oy, dst) in dst.chunks_exact_mut(wo).enumerate() {
                for row in src[oy * kh * w..].chunks(w).take(kh) {
                    for (d, window) in dst.iter_mut().zip(row.chunks_exact(kw)) {
                        *d += window.iter().sum::<f32>();
                    }
                }
                for d in dst.iter_mut() {
                    *d *= inv;
                }
            }
        });
    out
}

#[cfg(test)]
pub(super) mod tests {
    use burn::nn::pool::AvgPool2dConfig;
    use burn::tensor::{Device, Distribution, Tolerance};

    use super::*;

    /// Tiling pools the fast paths are tested on, as (kernel, input): even and odd sizes (a
    /// partial block is dropped), square and oblong kernels.
    pub(in crate::cpu) const CASES: [([usize; 2], [usize; 4]); 3] = [
        ([2, 2], [2, 3, 8, 6]),
        ([3, 3], [1, 2, 7, 8]),
        ([2, 3], [3, 2, 5, 9]),
    ];

    #[test]
    fn matches_burn_avg_pool() {
        let device = Device::flex();
        for (kernel, shape) in CASES {
            let pool = AvgPool2dConfig::new(kernel).with_strides(kernel).init();
            let x = Tensor::<4>::random(shape, Distribution::Normal(0.0, 1.0), &device);
            let fast = tiled_mean(&x, kernel).expect("flex f32 input");
            fast.into_data()
                .assert_approx_eq::<f32>(&pool.forward(x).into_data(), Tolerance::permissive());
        }
    }

    #[test]
    fn a_one_by_one_pool_is_the_identity() {
        let device = Device::flex();
        let pool = AvgPool2dConfig::new([1, 1]).init();
        let x = Tensor::<4>::random([1, 2, 3, 3], Distribution::Normal(0.0, 1.0), &device);
        avg_pool2d(&pool, x.clone())
            .into_data()
            .assert_eq(&x.into_data(), true);
    }
}
