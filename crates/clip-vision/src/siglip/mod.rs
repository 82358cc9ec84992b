//! SigLIP's image encoder (Hugging Face's `SiglipVisionTransformer`, timm's
//! `vit_*_siglip_*`): patches through a conv *with* bias, a positional embedding per patch
//! (no class token, no `ln_pre`), the pre-LN transformer, `ln_post` on every token, then
//! [`MapHead`]'s attention pooling. There is no projection: the width is the joint space.

mod map_head;

use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Initializer, LayerNorm};
use burn::tensor::{Device, Tensor};
use clip_nn::{Activation, FastForward, Transformer, TransformerConfig, layer_norm_eps};

pub use map_head::{MapHead, MapHeadConfig};

/// Configuration of [`SiglipVisionTransformer`] (HF's `SiglipVisionConfig`).
#[derive(Config, Debug)]
pub struct SiglipVisionConfig {
    /// Input side in pixels (`image_size`).
    pub input_resolution: usize,
    /// Patch side in pixels.
    pub patch_size: usize,
    /// Transformer width (`hidden_size`), also the output width.
    pub width: usize,
    /// Transformer depth.
    pub layers: usize,
    /// Attention heads.
    pub heads: usize,
    /// MLP hidden width (`intermediate_size`), also the head's.
    pub mlp_width: usize,
    /// MLP non-linearity (`gelu_pytorch_tanh`).
    #[config(default = "Activation::GeluTanh")]
    pub activation: Activation,
    /// The norms' epsilon.
    #[config(default = 1e-6)]
    pub norm_eps: f64,
}

/// SigLIP's ViT with attention pooling.
#[derive(Module, Debug)]
pub struct SiglipVisionTransformer {
    /// Patch embedding: a conv with kernel = stride = patch size, with bias.
    pub conv1: Conv2d,
    /// Positional embedding, `[grid², width]`.
    pub positional_embedding: Param<Tensor<2>>,
    /// The pre-LN transformer.
    pub transformer: Transformer,
    /// Norm of every output token (HF's `post_layernorm`).
    pub ln_post: LayerNorm,
    /// Attention pooling (HF's `head`).
    pub head: MapHead,
}

impl SiglipVisionConfig {
    /// Number of patches along one side.
    pub fn grid(&self) -> usize {
        self.input_resolution / self.patch_size
    }

    /// Builds the encoder (positions normal with std `width^-0.5`, as timm's SigLIP).
    pub fn init(&self, device: &Device) -> SiglipVisionTransformer {
        let std = (self.width as f64).powf(-0.5);
        let tokens = self.grid() * self.grid();
        SiglipVisionTransformer {
            conv1: Conv2dConfig::new([3, self.width], [self.patch_size, self.patch_size])
                .with_stride([self.patch_size, self.patch_size])
                .init(device),
            positional_embedding: Initializer::Normal { mean: 0.0, std }
                .init([tokens, self.width], device),
            transformer: TransformerConfig::new(self.width, self.layers, self.heads)
                .with_activation(self.activation)
                .with_mlp_width(Some(self.mlp_width))
                .with_norm_eps(self.norm_eps)
                .init(device),
            ln_post: layer_norm_eps(self.width, self.norm_eps, device),
            head: MapHeadConfig::new(self.width, self.heads, self.mlp_width, self.activation)
                .with_norm_eps(self.norm_eps)
                .init(device),
        }
    }
}

impl SiglipVisionTransformer {
    /// `[batch, 3, R, R]` pixels → `[batch, width]` features (not normalised).
    pub fn forward(&self, pixels: Tensor<4>) -> Tensor<2> {
        let x = self.conv1.fast_forward(pixels);
        let [batch, width, gh, gw] = x.dims();
        let x = x.reshape([batch, width, gh * gw]).swap_dims(1, 2)
            + self.positional_embedding.val().unsqueeze::<3>();
        let x = self.ln_post.forward(self.transformer.forward(x, false));
        self.head.forward(x)
    }
}
