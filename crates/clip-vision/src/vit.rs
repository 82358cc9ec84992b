use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Initializer, LayerNorm};
use burn::tensor::{Device, Tensor};
use clip_nn::{Activation, FastForward, Transformer, TransformerConfig, layer_norm};

/// Configuration of [`VisionTransformer`] (OpenAI's `VisionTransformer.__init__` arguments).
#[derive(Config, Debug)]
pub struct VisionTransformerConfig {
    /// Input side in pixels.
    pub input_resolution: usize,
    /// Patch side in pixels.
    pub patch_size: usize,
    /// Transformer width.
    pub width: usize,
    /// Transformer depth.
    pub layers: usize,
    /// Attention heads (OpenAI: width / 64).
    pub heads: usize,
    /// Output (joint embedding) width.
    pub output_dim: usize,
    /// MLP non-linearity.
    #[config(default = "Activation::QuickGelu")]
    pub activation: Activation,
    /// MLP hidden width (default `4 × width`; open_clip's `mlp_ratio · width`).
    #[config(default = "None")]
    pub mlp_width: Option<usize>,
}

/// OpenAI's ViT image encoder.
#[derive(Module, Debug)]
pub struct VisionTransformer {
    /// Patch embedding: a bias-free conv with kernel = stride = patch size.
    pub conv1: Conv2d,
    /// The learned class token, [width].
    pub class_embedding: Param<Tensor<1>>,
    /// Positional embedding, [grid² + 1, width].
    pub positional_embedding: Param<Tensor<2>>,
    /// Norm after adding the positional embedding.
    pub ln_pre: LayerNorm,
    /// The pre-LN transformer.
    pub transformer: Transformer,
    /// Norm of the class token's output.
    pub ln_post: LayerNorm,
    /// Projection into the joint space, [width, output_dim].
    pub proj: Param<Tensor<2>>,
}

impl VisionTransformerConfig {
    /// Number of patches along one side.
    pub fn grid(&self) -> usize {
        self.input_resolution / self.patch_size
    }

    /// Builds the encoder with OpenAI's initialisation scales.
    pub fn init(&self, device: &Device) -> VisionTransformer {
        let scale = (self.width as f64).powf(-0.5);
        let tokens = self.grid() * self.grid() + 1;
        VisionTransformer {
            conv1: Conv2dConfig::new([3, self.width], [self.patch_size, self.patch_size])
                .with_stride([self.patch_size, self.patch_size])
                .with_bias(false)
                .init(device),
            class_embedding: normal(scale).init([self.width], device),
            positional_embedding: normal(scale).init([tokens, self.width], device),
            ln_pre: layer_norm(self.width, device),
            transformer: TransformerConfig::new(self.width, self.layers, self.heads)
                .with_activation(self.activation)
                .with_mlp_width(self.mlp_width)
                .init(device),
            ln_post: layer_norm(self.width, device),
            proj: normal(scale).init([self.width, self.output_dim], device),
        }
    }
}

fn normal(std: f64) -> Initializer {
    Initializer::Normal { mean: 0.0, std }
}

impl VisionTransformer {
    /// `[batch, 3, R, R]` pixels → `[batch, output_dim]` features (not normalised).
    pub fn forward(&self, pixels: Tensor<4>) -> Tensor<2> {
        let tokens = self.tokens(pixels);
        let x = self.transformer.forward(self.ln_pre.forward(tokens), false);
        let [batch, _, width] = x.dims();
        let cls = x.narrow(1, 0, 1).reshape([batch, width]);
        self.ln_post.forward(cls).matmul(self.proj.val())
    }

    /// Patch tokens with the class token prepended and positions added, before `ln_pre`.
    fn tokens(&self, pixels: Tensor<4>) -> Tensor<3> {
        let x = self.conv1.fast_forward(pixels);
        let [batch, width, gh, gw] = x.dims();
        let x = x.reshape([batch, width, gh * gw]).swap_dims(1, 2);
        let cls = self
            .class_embedding
            .val()
            .reshape([1, 1, width])
            .expand([batch, 1, width]);
        let x = Tensor::cat(vec![cls, x], 1);
        x + self.positional_embedding.val().unsqueeze::<3>()
    }

    /// The output of `ln_pre` (for debugging a port against the reference).
    pub fn ln_pre_output(&self, pixels: Tensor<4>) -> Tensor<3> {
        self.ln_pre.forward(self.tokens(pixels))
    }
}
