//! Σ x² of a gradient in one parallel pass, for the global gradient-norm clip: Burn's
//! `square().sum()` is two passes on one thread with a new tensor between them (~8 ms of a
//! ~570 ms tiny-ResNet step, mostly the 3.2 M-entry token embedding's gradient).

use burn::tensor::Tensor;
use rayon::prelude::*;

use super::{contiguous, flex_f32, lane_sums};

/// Values per task; fixed, so the sum's rounding does not depend on the thread count.
const RUN: usize = 1 << 14;

/// `Σ x²` (in `f64`, each run as [`lane_sums`], then the runs in order), or `None` off the fast path (not
/// `flex` float32, or not contiguous).
pub fn squared_sum<const D: usize>(t: &Tensor<D>) -> Option<f64> {
    let t = flex_f32(t)?;
    Some(sum_of_squares(contiguous(&t)?))
}

/// The loop itself, not generic so that it is compiled here, optimised, whatever the
/// calling crate's profile (a generic body is compiled in its caller: unoptimised in a dev
/// build of `clip-model`, it was several times slower than Burn's ops).
fn sum_of_squares(values: &[f32]) -> f64 {
    let runs: Vec<f64> = values
        .par_chunks(RUN)
        .map(|run| lane_sums(run, |v| (v as f64) * (v as f64)))
        .collect();
    runs.iter().sum()
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, Distribution};

    use super::*;

    #[test]
    fn equals_burns_square_sum_to_f32_rounding() {
        let device = Device::flex();
        for shape in [[3, 5], [300, 170]] {
            let t = Tensor::<2>::random(shape, Distribution::Normal(0.0, 2.0), &device);
            let ours = squared_sum(&t).expect("a flex float32 tensor");
            let theirs = t.clone().square().sum().into_scalar::<f32>() as f64;
            assert!((ours - theirs).abs() <= 1e-5 * theirs, "{ours} vs {theirs}");
        }
        let autodiff = Tensor::<1>::ones([4], &device.autodiff()).require_grad();
        assert_eq!(
            squared_sum(&autodiff),
            None,
            "a tracked tensor keeps Burn's ops"
        );
    }
}
