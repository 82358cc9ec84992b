use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::{Initializer, Linear, LinearConfig};
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{Device, Tensor};
use clip_nn::{FastForward, merge_heads, one_query_attention, split_heads};

/// Configuration of [`AttentionPool2d`].
#[derive(Config, Debug)]
pub struct AttentionPool2dConfig {
    /// Side of the incoming feature map (input resolution / 32).
    pub spacial_dim: usize,
    /// Channels of the feature map.
    pub embed_dim: usize,
    /// Attention heads.
    pub num_heads: usize,
    /// Output width.
    pub output_dim: usize,
}

/// CLIP's attention pooling: the mean of the feature map is prepended as a token, a
/// positional embedding is added, and only that mean token queries all tokens.
#[derive(Module, Debug)]
pub struct AttentionPool2d {
    /// [spacial_dim² + 1, embed_dim].
    pub positional_embedding: Param<Tensor<2>>,
    /// Key projection.
    pub k_proj: Linear,
    /// Query projection.
    pub q_proj: Linear,
    /// Value projection.
    pub v_proj: Linear,
    /// Output projection (to output_dim).
    pub c_proj: Linear,
    /// Attention heads.
    pub num_heads: usize,
}

impl AttentionPool2dConfig {
    /// Builds the head with OpenAI's initialisation scale for the positional embedding.
    pub fn init(&self, device: &Device) -> AttentionPool2d {
        let tokens = self.spacial_dim * self.spacial_dim + 1;
        let std = (self.embed_dim as f64).powf(-0.5);
        let linear = |out| LinearConfig::new(self.embed_dim, out).init(device);
        AttentionPool2d {
            positional_embedding: Initializer::Normal { mean: 0.0, std }
                .init([tokens, self.embed_dim], device),
            k_proj: linear(self.embed_dim),
            q_proj: linear(self.embed_dim),
            v_proj: linear(self.embed_dim),
            c_proj: linear(self.output_dim),
            num_heads: self.num_heads,
        }
    }
}

impl AttentionPool2d {
    /// `[batch, C, H, W] -> [batch, output_dim]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let [batch, channels, h, w] = x.dims();
        self.forward_tokens(x.reshape([batch, channels, h * w]).swap_dims(1, 2))
    }

    /// [`AttentionPool2d::forward`] of the map given as tokens [batch, h · w, channels]
    /// (pixels in row-major order).
    pub fn forward_tokens(&self, x: Tensor<3>) -> Tensor<2> {
        let mean = x.clone().mean_dim(1);
        let x = Tensor::cat(vec![mean, x], 1) + self.positional_embedding.val().unsqueeze::<3>();
        let query = self.q_proj.fast_forward(x.clone().narrow(1, 0, 1));
        let [batch, _, width] = query.dims();
        let query = query.reshape([batch, width]);
        let folded = one_query_attention(&x, &query, &self.k_proj, &self.v_proj, self.num_heads);
        let out = match folded {
            Some(out) => out,
            None => self.projected_attention(x, query),
        };
        self.c_proj.fast_forward(out)
    }

    /// The heads' attention of `query` [batch, width] over the keys and values of `x`
    /// [batch, tokens, width], merged: [batch, width] (the reference's form; the CPU fast
    /// path folds the projections instead, see [`one_query_attention`]).
    fn projected_attention(&self, x: Tensor<3>, query: Tensor<2>) -> Tensor<2> {
        let [batch, width] = query.dims();
        let query = query.unsqueeze_dim(1);
        let out = attention(
            split_heads(query, self.num_heads),
            split_heads(self.k_proj.fast_forward(x.clone()), self.num_heads),
            split_heads(self.v_proj.fast_forward(x), self.num_heads),
            None,
            None,
            AttentionModuleOptions::default(),
        );
        merge_heads(out).reshape([batch, width])
    }
}
