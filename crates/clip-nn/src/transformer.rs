use burn::config::Config;
use burn::module::Module;
use burn::tensor::{Device, Tensor};

use crate::{Activation, ResidualAttentionBlock, ResidualAttentionBlockConfig};

/// Configuration of [`Transformer`].
#[derive(Config, Debug)]
pub struct TransformerConfig {
    /// Model width.
    pub width: usize,
    /// Number of blocks.
    pub layers: usize,
    /// Attention heads per block.
    pub heads: usize,
    /// MLP non-linearity.
    #[config(default = "Activation::QuickGelu")]
    pub activation: Activation,
    /// MLP hidden width (default `4 × width`).
    #[config(default = "None")]
    pub mlp_width: Option<usize>,
    /// The norms' epsilon (1e-5; SigLIP's 1e-6).
    #[config(default = 1e-5)]
    pub norm_eps: f64,
}

/// A stack of [`ResidualAttentionBlock`]s (`transformer.resblocks.N` in checkpoints).
#[derive(Module, Debug)]
pub struct Transformer {
    /// The blocks, in order.
    pub resblocks: Vec<ResidualAttentionBlock>,
}

impl TransformerConfig {
    /// Builds the stack.
    pub fn init(&self, device: &Device) -> Transformer {
        let block = ResidualAttentionBlockConfig::new(self.width, self.heads, self.activation)
            .with_mlp_width(self.mlp_width)
            .with_norm_eps(self.norm_eps);
        Transformer {
            resblocks: (0..self.layers).map(|_| block.init(device)).collect(),
        }
    }
}

impl Transformer {
    /// Runs every block; `causal` selects the text encoder's autoregressive mask.
    pub fn forward(&self, x: Tensor<3>, causal: bool) -> Tensor<3> {
        self.resblocks
            .iter()
            .fold(x, |x, block| block.forward(x, causal))
    }
}
