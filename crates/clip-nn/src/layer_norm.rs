use burn::nn::{LayerNorm, LayerNormConfig};
use burn::tensor::Device;

/// CLIP's LayerNorm epsilon (PyTorch's default); SigLIP uses 1e-6.
pub const LAYER_NORM_EPS: f64 = 1e-5;

/// A LayerNorm as CLIP uses it: eps 1e-5, computed in f32 (Burn widens low-precision
/// inputs itself, which is what OpenAI's `LayerNorm` subclass does by hand).
pub fn layer_norm(width: usize, device: &Device) -> LayerNorm {
    layer_norm_eps(width, LAYER_NORM_EPS, device)
}

/// A LayerNorm with another epsilon.
pub fn layer_norm_eps(width: usize, eps: f64, device: &Device) -> LayerNorm {
    LayerNormConfig::new(width).with_epsilon(eps).init(device)
}
