//! [`ModelInputs`]: how a model reads images and captions, so its training batches are
//! prepared as its inference is (open_clip trains with the model's own transform).

use clip_tokenizer::{TextTokenizer, TokenizerError};
use clip_vision::preprocess::Preprocessor;

use crate::Clip;

/// A model's image transform, tokenizer and context length.
#[derive(Debug, Clone)]
pub struct ModelInputs {
    /// The image transform ([`Clip::preprocessor`]).
    pub preprocessor: Preprocessor,
    /// The tokenizer ([`Clip::tokenizer`]).
    pub tokenizer: TextTokenizer,
    /// Tokens per caption.
    pub context_length: usize,
}

impl ModelInputs {
    /// What `model` reads.
    pub fn of(model: &Clip) -> Result<Self, TokenizerError> {
        Ok(ModelInputs {
            preprocessor: model.preprocessor(),
            tokenizer: model.tokenizer()?,
            context_length: model.config.context_length,
        })
    }

    /// OpenAI's transform at `resolution` and its tokenizer at `context_length`.
    pub fn openai(resolution: usize, context_length: usize) -> Self {
        ModelInputs {
            preprocessor: Preprocessor::new(resolution),
            tokenizer: TextTokenizer::default(),
            context_length,
        }
    }
}
