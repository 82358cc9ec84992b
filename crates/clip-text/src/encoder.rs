use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::{Embedding, EmbeddingConfig, Initializer, LayerNorm};
use burn::tensor::{Device, Int, Tensor, TensorData};
use clip_nn::{Activation, Transformer, TransformerConfig, layer_norm_eps};

use crate::{TokenBatch, eot_positions, token_tensor};

/// Configuration of [`TextTransformer`] (the text half of `build_model`'s fields).
#[derive(Config, Debug)]
pub struct TextTransformerConfig {
    /// Maximum sequence length (77).
    pub context_length: usize,
    /// Vocabulary size (49408).
    pub vocab_size: usize,
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
    /// MLP hidden width (default `4 × width`).
    #[config(default = "None")]
    pub mlp_width: Option<usize>,
    /// The norms' epsilon (1e-5; SigLIP's 1e-6).
    #[config(default = 1e-5)]
    pub norm_eps: f64,
    /// Whether each position sees only those before it (CLIP) or all (SigLIP).
    #[config(default = true)]
    pub causal: bool,
    /// Which position's output is the text feature.
    #[config(default = "TextPool::Eot")]
    pub pool: TextPool,
    /// Whether the projection has a bias (SigLIP's `head` is a `Linear`).
    #[config(default = false)]
    pub projection_bias: bool,
}

/// Where the text feature is read from the transformer's output.
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum TextPool {
    /// The end-of-text token, the row's largest id (OpenAI's `argmax`).
    Eot,
    /// The last position of the context, padding or not (SigLIP).
    Last,
}

/// CLIP's causal text transformer with end-of-text pooling, or SigLIP's unmasked one
/// pooled at the last position.
#[derive(Module, Debug)]
pub struct TextTransformer {
    /// Token embedding, [vocab, width].
    pub token_embedding: Embedding,
    /// Positional embedding, [context_length, width].
    pub positional_embedding: Param<Tensor<2>>,
    /// The causal transformer.
    pub transformer: Transformer,
    /// Final norm.
    pub ln_final: LayerNorm,
    /// Projection into the joint space, [width, output_dim].
    pub text_projection: Param<Tensor<2>>,
    /// The projection's bias, [output_dim] (SigLIP).
    pub text_projection_bias: Option<Param<Tensor<1>>>,
    /// Whether attention is causal.
    #[module(skip)]
    pub causal: bool,
    /// The pooled position.
    #[module(skip)]
    pub pool: TextPool,
}

impl TextTransformerConfig {
    /// Builds the encoder with OpenAI's initialisation (normal 0.02 tokens, 0.01 positions,
    /// width^-0.5 projection).
    pub fn init(&self, device: &Device) -> TextTransformer {
        let normal = |std| Initializer::Normal { mean: 0.0, std };
        TextTransformer {
            token_embedding: EmbeddingConfig::new(self.vocab_size, self.width)
                .with_initializer(normal(0.02))
                .init(device),
            positional_embedding: normal(0.01).init([self.context_length, self.width], device),
            transformer: TransformerConfig::new(self.width, self.layers, self.heads)
                .with_activation(self.activation)
                .with_mlp_width(self.mlp_width)
                .with_norm_eps(self.norm_eps)
                .init(device),
            ln_final: layer_norm_eps(self.width, self.norm_eps, device),
            text_projection: normal((self.width as f64).powf(-0.5))
                .init([self.width, self.output_dim], device),
            text_projection_bias: self
                .projection_bias
                .then(|| Initializer::Zeros.init([self.output_dim], device)),
            causal: self.causal,
            pool: self.pool,
        }
    }
}

impl TextTransformer {
    /// Encodes token ids `[rows, context]` into `[rows, output_dim]` features (not normalised).
    ///
    /// With the causal mask and end-of-text pooling only the positions up to the last row's
    /// end-of-text token are computed: a position never sees those after it, so the pooled
    /// features are exactly those of the full sequence. Otherwise every position is.
    pub fn forward(&self, tokens: &TokenBatch) -> Tensor<2> {
        let device = self.positional_embedding.device();
        let pooled = match self.pool {
            TextPool::Eot => eot_positions(tokens),
            TextPool::Last => vec![tokens.context_length - 1; tokens.len()],
        };
        let len = match (self.causal, self.pool) {
            (true, TextPool::Eot) => pooled.iter().max().map_or(1, |&m| m + 1),
            _ => tokens.context_length,
        };
        let x = self.hidden(token_tensor(tokens, len, &device));
        let [rows, len, width] = x.dims();
        let index: Vec<i64> = pooled
            .iter()
            .enumerate()
            .map(|(r, &p)| (r * len + p) as i64)
            .collect();
        let index = Tensor::<1, Int>::from_data(TensorData::new(index, [rows]), &device);
        let features = x
            .reshape([rows * len, width])
            .select(0, index)
            .matmul(self.text_projection.val());
        match &self.text_projection_bias {
            Some(bias) => features + bias.val().unsqueeze::<2>(),
            None => features,
        }
    }

    /// The output of `ln_final` for every position, `[rows, len, width]`.
    pub fn hidden(&self, tokens: Tensor<2, Int>) -> Tensor<3> {
        let [_, len] = tokens.dims();
        let x = self.token_embedding.forward(tokens)
            + self
                .positional_embedding
                .val()
                .narrow(0, 0, len)
                .unsqueeze::<3>();
        self.ln_final
            .forward(self.transformer.forward(x, self.causal))
    }
}
