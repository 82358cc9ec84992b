//! `Linear` layers as one product whose output starts as the bias and ends activated.

use burn::nn::Linear;
use burn::tensor::Tensor;
use rayon::prelude::*;

use crate::Activation;

use super::gelu::quick_gelu;
use super::{
    PARALLEL_THRESHOLD, contiguous, flex_f32, from_vec, gemm, int8, operand, packed, panel, zeros,
};

/// `x @ weight (+ bias)` for `x` [.., k] and `weight` [k, n] on the fast path, then
/// `then` on the output in place, or `None` when this product cannot take that path (see
/// the module documentation).
fn fused_linear<const D: usize>(
    x: &Tensor<D>,
    weight: &Tensor<2>,
    bias: Option<&Tensor<1>>,
    then: Option<fn(&mut [f32])>,
) -> Option<Tensor<D>> {
    let dims = x.dims();
    let [k, n] = weight.dims();
    let rows: usize = dims[..D - 1].iter().product();
    if D < 2 || dims[D - 1] != k || rows == 0 || n == 0 || k == 0 {
        return None;
    }
    let x = flex_f32(&x.clone().reshape([rows, k]))?;
    let w = flex_f32(weight)?;
    let b = match bias {
        Some(b) => Some(flex_f32(b)?),
        None => None,
    };
    let bias = match &b {
        Some(b) => Some(contiguous(b)?),
        None => None,
    };
    let (a, bw) = (operand(&x)?, operand(&w)?);

    // The bias seeds the output and the product is added to it: one pass less.
    let mut out = match bias {
        Some(bias) => bias.repeat(rows),
        None => zeros(rows * n),
    };
    let parallel = rows.saturating_mul(n).saturating_mul(k) >= PARALLEL_THRESHOLD;
    // In 8-bit integers when the process asked for it (see `int8`).
    if int8::enabled()
        && a.col_stride == 1
        && let Some(quantized) = packed::quantized(&w, &bw, [k, n])
    {
        int8::matmul(&a, rows, &quantized, [k, n], &mut out, parallel);
        return Some(finish(out, dims, [rows, n], then));
    }
    // The weight's packed panels (see `packed`); a CPU without the panel kernels, a
    // strided input, many rows or packing turned off go through the `gemm` crate.
    let panels = panel::Kernel::chosen()
        .filter(|_| a.col_stride == 1 && rows <= panel::MAX_ROWS)
        .and_then(|kernel| Some((kernel, packed::packed(&w, &bw, [k, n], kernel.strip())?)));
    match panels {
        Some((kernel, packed)) => {
            panel::matmul(kernel, &a, rows, &packed, [k, n], &mut out, parallel);
        }
        None => gemm(&a, &bw, [rows, n, k], bias.is_some(), &mut out, true),
    }
    Some(finish(out, dims, [rows, n], then))
}

/// The product `out` [rows, n], `then` applied, as a tensor of the input's leading `dims`.
fn finish<const D: usize>(
    mut out: Vec<f32>,
    dims: [usize; D],
    [rows, n]: [usize; 2],
    then: Option<fn(&mut [f32])>,
) -> Tensor<D> {
    if let Some(then) = then {
        out.par_chunks_mut(1 << 14).for_each(then);
    }
    let mut out_dims = dims;
    out_dims[D - 1] = n;
    from_vec(out, [rows, n]).reshape(out_dims)
}

/// `layer.forward(x)`, on the fast path where the tensors allow it; the same product up to
/// float rounding order.
pub fn linear<const D: usize>(layer: &Linear, x: Tensor<D>) -> Tensor<D> {
    fused(layer, &x, None).unwrap_or_else(|| layer.forward(x))
}

/// `activation.forward(linear(layer, x))`; on the fast path QuickGELU is applied to the
/// product in place while it is in hand (one pass instead of three, no intermediates).
pub fn linear_activated<const D: usize>(
    layer: &Linear,
    x: Tensor<D>,
    activation: Activation,
) -> Tensor<D> {
    let fused = match activation {
        Activation::QuickGelu => fused(layer, &x, Some(quick_gelu)),
        Activation::Gelu | Activation::GeluTanh => None,
    };
    fused.unwrap_or_else(|| {
        let out = linear(layer, x);
        let tracked = match activation {
            Activation::QuickGelu => super::gelu_grad::quick_gelu(&out),
            Activation::Gelu | Activation::GeluTanh => None,
        };
        tracked.unwrap_or_else(|| activation.forward(out))
    })
}

/// [`fused_linear`] with the layer's own weight and bias.
fn fused<const D: usize>(
    layer: &Linear,
    x: &Tensor<D>,
    then: Option<fn(&mut [f32])>,
) -> Option<Tensor<D>> {
    let bias = layer.bias.as_ref().map(|b| b.val());
    fused_linear(x, &layer.weight.val(), bias.as_ref(), then)
}

#[cfg(test)]
mod tests {
    use burn::module::Param;
    use burn::nn::LinearConfig;
    use burn::tensor::{Device, Distribution, Tensor, Tolerance};

    use super::*;

    fn check(layer: &Linear, x: Tensor<3>) {
        let expected = layer.forward(x.clone());
        let got = fused(layer, &x, None).expect("this product should take the fast path");
        got.into_data()
            .assert_approx_eq::<f32>(&expected.into_data(), Tolerance::permissive());
    }

    #[test]
    fn matches_burn_linear_with_bias_and_without() {
        let device = Device::flex();
        let x = Tensor::<3>::random([3, 7, 40], Distribution::Normal(0.0, 1.0), &device);
        let with_bias = LinearConfig::new(40, 24).init(&device);
        check(&with_bias, x.clone());
        let without = LinearConfig::new(40, 24).with_bias(false).init(&device);
        check(&without, x);
    }

    #[test]
    fn fuses_quick_gelu() {
        let device = Device::flex();
        let layer = LinearConfig::new(40, 24).init(&device);
        let x = Tensor::<3>::random([2, 9, 40], Distribution::Normal(0.0, 3.0), &device);
        let fused =
            fused(&layer, &x, Some(quick_gelu)).expect("this product should take the fast path");
        let unfused = Activation::QuickGelu.forward(layer.forward(x.clone()));
        fused
            .into_data()
            .assert_approx_eq::<f32>(&unfused.into_data(), Tolerance::permissive());
        // The public entry agrees, and keeps the exact GELU unfused.
        let gelu = linear_activated(&layer, x.clone(), Activation::Gelu);
        gelu.into_data().assert_approx_eq::<f32>(
            &Activation::Gelu.forward(layer.forward(x)).into_data(),
            Tolerance::permissive(),
        );
    }

    #[test]
    fn reads_strided_operands_in_place() {
        let device = Device::flex();
        // A weight stored as PyTorch's [out, in] and transposed (a strided view), and an
        // input narrowed out of a wider tensor (rows further apart than their length).
        let mut layer = LinearConfig::new(40, 24).init(&device);
        let stored = Tensor::<2>::random([24, 40], Distribution::Normal(0.0, 1.0), &device);
        layer.weight = Param::from_tensor(stored.transpose());
        let wide = Tensor::<3>::random([2, 5, 64], Distribution::Normal(0.0, 1.0), &device);
        check(&layer, wide.narrow(2, 10, 40));
    }

    #[test]
    fn int8_products_stay_close_to_burns() {
        if !int8::available() {
            return; // no integer kernel on this CPU
        }
        let device = Device::flex();
        let layer = LinearConfig::new(300, 70).init(&device);
        for rows in [3, 400] {
            let x = Tensor::<3>::random([1, rows, 300], Distribution::Normal(0.0, 1.0), &device);
            let got = int8::forced(|| fused(&layer, &x, None)).expect("the fast path");
            let got = got.into_data().try_to_vec::<f32>().unwrap();
            let want = layer.forward(x).into_data().try_to_vec::<f32>().unwrap();
            let (cosine, moved) = int8::cosine_and_moved(&got, &want);
            assert!(
                cosine >= 0.9999 && moved,
                "{rows} rows: cosine {cosine}, moved {moved}"
            );
        }
    }

    #[test]
    fn autodiff_tensors_use_burn() {
        // Training: gradients must flow through Burn's own linear.
        let device = Device::flex().autodiff();
        let layer = LinearConfig::new(8, 4).init(&device);
        let x = Tensor::<3>::ones([1, 2, 8], &device);
        assert!(fused(&layer, &x, None).is_none());
        // The public entry still computes, through Burn.
        assert_eq!(linear(&layer, x).dims(), [1, 2, 4]);
    }
}
