use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::{Initializer, LayerNorm};
use burn::tensor::{Device, Tensor};
use clip_nn::{
    Activation, Mlp, MlpConfig, MultiheadAttention, MultiheadAttentionConfig, layer_norm_eps,
};

/// Configuration of [`MapHead`] (HF's `SiglipMultiheadAttentionPoolingHead`).
#[derive(Config, Debug)]
pub struct MapHeadConfig {
    /// Model width.
    pub width: usize,
    /// Attention heads.
    pub heads: usize,
    /// MLP hidden width.
    pub mlp_width: usize,
    /// MLP non-linearity.
    pub activation: Activation,
    /// The norm's epsilon.
    #[config(default = 1e-6)]
    pub norm_eps: f64,
}

/// Multihead attention pooling: a learned probe attends to every patch token, then a
/// residual MLP; the probe's output is the image feature (SigLIP has no class token).
#[derive(Module, Debug)]
pub struct MapHead {
    /// The learned query, `[1, 1, width]`.
    pub probe: Param<Tensor<3>>,
    /// Attention from the probe to the tokens (PyTorch `nn.MultiheadAttention` layout).
    pub attn: MultiheadAttention,
    /// Norm before the MLP.
    pub ln: LayerNorm,
    /// Feed-forward.
    pub mlp: Mlp,
}

impl MapHeadConfig {
    /// Builds the head (probe: Xavier-uniform as HF initialises it).
    pub fn init(&self, device: &Device) -> MapHead {
        let probe = Initializer::XavierUniform { gain: 1.0 }.init_with(
            [1, 1, self.width],
            Some(self.width),
            Some(self.width),
            device,
        );
        MapHead {
            probe,
            attn: MultiheadAttentionConfig::new(self.width, self.heads).init(device),
            ln: layer_norm_eps(self.width, self.norm_eps, device),
            mlp: MlpConfig::new(self.width, self.mlp_width, self.activation).init(device),
        }
    }
}

impl MapHead {
    /// `[batch, tokens, width]` → `[batch, width]`.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<2> {
        let [batch, _, width] = x.dims();
        let probe = self.probe.val().expand([batch, 1, width]);
        let pooled = self.attn.attend(probe, x);
        let pooled = pooled.clone() + self.mlp.forward(self.ln.forward(pooled));
        pooled.reshape([batch, width])
    }
}
