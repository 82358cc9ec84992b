//! One way to call a layer: `layer.fast_forward(x)` runs it through the CPU fast path
//! where that applies (float32 tensors on `flex`) and through Burn's own `forward`
//! everywhere else (ndarray, GPUs, f16/bf16; under autodiff, convolutions and pools keep a
//! fast path with its own backward pass), so model code never asks which.

use burn::nn::Linear;
use burn::nn::conv::Conv2d;
use burn::nn::pool::AvgPool2d;
use burn::tensor::Tensor;

use crate::cpu;

/// A layer's forward pass, fast on the CPU backend and Burn's elsewhere; same result.
pub trait FastForward<I> {
    /// What the layer returns.
    type Output;

    /// The layer applied to `input` (shapes as the layer's `forward`).
    fn fast_forward(&self, input: I) -> Self::Output;
}

/// `[…, d_input]` → `[…, d_output]`; the bias seeds the product.
impl<const D: usize> FastForward<Tensor<D>> for Linear {
    type Output = Tensor<D>;

    fn fast_forward(&self, input: Tensor<D>) -> Tensor<D> {
        cpu::linear(self, input)
    }
}

/// `[batch, channels_in, H, W]` → `[batch, channels_out, H', W']`.
impl FastForward<Tensor<4>> for Conv2d {
    type Output = Tensor<4>;

    fn fast_forward(&self, input: Tensor<4>) -> Tensor<4> {
        cpu::conv2d(self, input)
    }
}

/// `[batch, channels, H, W]` → `[batch, channels, H', W']`.
impl FastForward<Tensor<4>> for AvgPool2d {
    type Output = Tensor<4>;

    fn fast_forward(&self, input: Tensor<4>) -> Tensor<4> {
        cpu::avg_pool2d(self, input)
    }
}
