use burn::nn::{LayerNorm, LayerNormConfig};
use burn::tensor::Device;

/// A LayerNorm as CLIP uses it: eps 1e-5, computed in f32 (Burn widens low-precision
/// inputs itself, which is what OpenAI's `LayerNorm` subclass does by hand).
pub fn layer_norm(width: usize, device: &Device) -> LayerNorm {
    LayerNormConfig::new(width).with_epsilon(1e-5).init(device)
}
