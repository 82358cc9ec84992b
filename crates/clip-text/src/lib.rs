//! CLIP's text encoder, as in OpenAI's `clip/model.py` (`CLIP.encode_text`).
//!
//! Token and positional embeddings, a causal pre-LN transformer, `ln_final`, then the
//! feature at the end-of-text position (the first occurrence of the largest id, which is
//! what the reference's `argmax` picks) projected by `text_projection`. SigLIP's variant
//! drops the mask, reads the last position and adds a bias to the projection.

mod encoder;
mod tokens;

pub use clip_tokenizer::TokenBatch;
pub use encoder::{TextPool, TextTransformer, TextTransformerConfig};
pub use tokens::{eot_positions, token_tensor};
