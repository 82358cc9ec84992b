use burn::config::Config;
use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{Device, Tensor};

use crate::FastForward;

/// Configuration of [`MultiheadAttention`].
#[derive(Config, Debug)]
pub struct MultiheadAttentionConfig {
    /// Model width (embed_dim in PyTorch).
    pub width: usize,
    /// Number of heads; `width` must be a multiple of it.
    pub heads: usize,
}

/// Self-attention laid out as PyTorch's `nn.MultiheadAttention`, the module OpenAI's CLIP uses.
///
/// PyTorch keeps the query, key and value projections in one `in_proj_weight` [3·W, W]; here
/// it is one `Linear` W → 3·W named `in_proj`, so the checkpoint's `in_proj_weight` /
/// `in_proj_bias` map onto `in_proj.weight` / `in_proj.bias` and one matmul computes q, k, v.
#[derive(Module, Debug)]
pub struct MultiheadAttention {
    /// Packed q, k, v projection.
    pub in_proj: Linear,
    /// Output projection.
    pub out_proj: Linear,
    /// Number of heads.
    pub heads: usize,
}

impl MultiheadAttentionConfig {
    /// Builds the module.
    pub fn init(&self, device: &Device) -> MultiheadAttention {
        assert!(
            self.heads > 0 && self.width.is_multiple_of(self.heads),
            "attention width {} is not a multiple of {} heads",
            self.width,
            self.heads
        );
        MultiheadAttention {
            in_proj: LinearConfig::new(self.width, 3 * self.width).init(device),
            out_proj: LinearConfig::new(self.width, self.width).init(device),
            heads: self.heads,
        }
    }
}

impl MultiheadAttention {
    /// Self-attention over `x` [batch, tokens, width]; `causal` hides every later position
    /// from each query (−∞ before the softmax, exactly as CLIP's text mask).
    pub fn forward(&self, x: Tensor<3>, causal: bool) -> Tensor<3> {
        let width = x.dims()[2];
        let qkv = self.in_proj.fast_forward(x);
        if let Some(heads) = crate::cpu::self_attention(&qkv, self.heads, causal) {
            return self.out_proj.fast_forward(heads);
        }
        let q = qkv.clone().narrow(2, 0, width);
        let k = qkv.clone().narrow(2, width, width);
        let v = qkv.narrow(2, 2 * width, width);
        self.heads_then_out(q, k, v, causal)
    }

    /// Scaled dot-product attention of `q` [batch, q, width] to `k`, `v` [batch, n, width]
    /// head by head, heads merged, then `out_proj`.
    fn heads_then_out(&self, q: Tensor<3>, k: Tensor<3>, v: Tensor<3>, causal: bool) -> Tensor<3> {
        let [batch, q_len, width] = q.dims();
        let options = AttentionModuleOptions {
            is_causal: causal,
            ..Default::default()
        };
        let out = attention(
            split_heads(q, self.heads),
            split_heads(k, self.heads),
            split_heads(v, self.heads),
            None,
            None,
            options,
        );
        self.out_proj
            .fast_forward(merge_heads(out).reshape([batch, q_len, width]))
    }

    /// Attention from `queries` [batch, q, width] to `x` [batch, tokens, width] (keys and
    /// values), unmasked: SigLIP's attention-pooling head, where one learned probe attends
    /// to every patch. The queries ride along in one packed projection of both inputs.
    pub fn attend(&self, queries: Tensor<3>, x: Tensor<3>) -> Tensor<3> {
        let [_, q_len, width] = queries.dims();
        let tokens = x.dims()[1];
        let qkv = self.in_proj.fast_forward(Tensor::cat(vec![queries, x], 1));
        let q = qkv.clone().narrow(1, 0, q_len).narrow(2, 0, width);
        let kv = qkv.narrow(1, q_len, tokens);
        let k = kv.clone().narrow(2, width, width);
        let v = kv.narrow(2, 2 * width, width);
        self.heads_then_out(q, k, v, false)
    }
}

/// `[batch, tokens, width]` → `[batch, heads, tokens, width / heads]`.
pub fn split_heads(x: Tensor<3>, heads: usize) -> Tensor<4> {
    let [batch, tokens, width] = x.dims();
    x.reshape([batch, tokens, heads, width / heads])
        .swap_dims(1, 2)
}

/// `[batch, heads, tokens, head_dim]` → `[batch, tokens, heads · head_dim]`.
pub fn merge_heads(x: Tensor<4>) -> Tensor<3> {
    let [batch, heads, tokens, head_dim] = x.dims();
    x.swap_dims(1, 2).reshape([batch, tokens, heads * head_dim])
}
