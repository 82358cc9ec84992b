//! What most programs need: `use clip::prelude::*;`.

pub use burn::tensor::{Device, Tensor};
pub use clip_model::{Clip, ClipConfig};
pub use clip_tokenizer::Tokenizer;
pub use clip_vision::preprocess::Preprocessor;

pub use crate::device::{Backend, Precision};
pub use crate::{ClipPipeline, Embeddings, Error};
