use burn::config::Config;
use burn::module::Module;
use burn::nn::LayerNorm;
use burn::tensor::{Device, Tensor};

use crate::{
    Activation, Mlp, MlpConfig, MultiheadAttention, MultiheadAttentionConfig, layer_norm_eps,
};

/// Configuration of [`ResidualAttentionBlock`].
#[derive(Config, Debug)]
pub struct ResidualAttentionBlockConfig {
    /// Model width.
    pub width: usize,
    /// Attention heads.
    pub heads: usize,
    /// MLP non-linearity.
    pub activation: Activation,
    /// MLP hidden width (default `4 × width`, OpenAI's; open_clip's `mlp_ratio` varies it:
    /// 6144 for ViT-g/14's 1408, 8192 for ViT-bigG/14's 1664).
    #[config(default = "None")]
    pub mlp_width: Option<usize>,
    /// The norms' epsilon (1e-5; SigLIP's 1e-6).
    #[config(default = 1e-5)]
    pub norm_eps: f64,
}

/// A pre-LN transformer block: `x + attn(ln_1(x))`, then `x + mlp(ln_2(x))`.
#[derive(Module, Debug)]
pub struct ResidualAttentionBlock {
    /// Self-attention.
    pub attn: MultiheadAttention,
    /// Norm before attention.
    pub ln_1: LayerNorm,
    /// Feed-forward.
    pub mlp: Mlp,
    /// Norm before the MLP.
    pub ln_2: LayerNorm,
}

impl ResidualAttentionBlockConfig {
    /// Builds the block.
    pub fn init(&self, device: &Device) -> ResidualAttentionBlock {
        ResidualAttentionBlock {
            attn: MultiheadAttentionConfig::new(self.width, self.heads).init(device),
            ln_1: layer_norm_eps(self.width, self.norm_eps, device),
            mlp: MlpConfig::new(
                self.width,
                self.mlp_width.unwrap_or(4 * self.width),
                self.activation,
            )
            .init(device),
            ln_2: layer_norm_eps(self.width, self.norm_eps, device),
        }
    }
}

impl ResidualAttentionBlock {
    /// `[batch, tokens, width] -> [batch, tokens, width]`.
    pub fn forward(&self, x: Tensor<3>, causal: bool) -> Tensor<3> {
        let x = x.clone() + self.attn.forward(self.ln_1.forward(x), causal);
        x.clone() + self.mlp.forward(self.ln_2.forward(x))
    }
}
