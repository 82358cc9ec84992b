//! Building blocks shared by CLIP's two encoders.
//!
//! OpenAI's `clip/model.py` builds both the vision transformer and the text transformer
//! from one `Transformer` of `ResidualAttentionBlock`s; this crate holds that transformer
//! once so that `clip-vision` and `clip-text` both stand on it. Field names mirror the
//! reference (`resblocks`, `ln_1`, `attn`, `mlp.c_fc`, `mlp.c_proj`) so that a checkpoint
//! key maps onto a module path with as few renames as possible.
//!
//! Every layer is called through [`FastForward::fast_forward`] (or, for the fused units, its
//! companions [`linear_activated`] and [`conv2d_batch_norm`]): the product runs through fused
//! fast paths on the CPU backend (the project's AVX-512 or AVX2 kernels over pre-packed
//! weights, the `gemm` crate beside them; see [`panel_kernel`] and [`cpu_matmul`]), and
//! through Burn everywhere else. The fast paths are the `cpu-fast` feature (on by default);
//! without it every layer runs through Burn.

mod activation;
mod adamw_step;
mod attention;
mod block;
#[cfg(feature = "cpu-fast")]
mod cpu;
#[cfg(not(feature = "cpu-fast"))]
#[path = "portable.rs"]
mod cpu;
mod fast_forward;
mod layer_norm;
mod mlp;
mod transformer;

pub use activation::Activation;
pub use adamw_step::AdamWStep;
pub use attention::{MultiheadAttention, MultiheadAttentionConfig, merge_heads, split_heads};
pub use block::{ResidualAttentionBlock, ResidualAttentionBlockConfig};
pub use cpu::{
    ChannelsLast, adamw_step, conv2d_batch_norm, cpu_matmul, linear_activated, one_query_attention,
    panel_kernel, set_int8_linears, squared_sum,
};
pub use fast_forward::FastForward;
pub use layer_norm::{LAYER_NORM_EPS, layer_norm, layer_norm_eps};
pub use mlp::{Mlp, MlpConfig};
pub use transformer::{Transformer, TransformerConfig};
