//! One type for "the tokenizer this model reads": OpenAI's BPE or a `tokenizer.json` one.

use crate::{HfTokenizer, TokenBatch, Tokenizer, TokenizerError};

/// The tokenizer of a model: OpenAI's for CLIP, a [`HfTokenizer`] for SigLIP and others.
#[derive(Clone)]
pub enum TextTokenizer {
    /// OpenAI CLIP's byte-level BPE.
    Clip(Tokenizer),
    /// A Hugging Face `tokenizer.json`.
    HuggingFace(HfTokenizer),
}

impl std::fmt::Debug for TextTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TextTokenizer::Clip(_) => f.write_str("TextTokenizer::Clip"),
            TextTokenizer::HuggingFace(t) => t.fmt(f),
        }
    }
}

impl Default for TextTokenizer {
    fn default() -> Self {
        TextTokenizer::Clip(Tokenizer::new())
    }
}

impl From<Tokenizer> for TextTokenizer {
    fn from(t: Tokenizer) -> Self {
        TextTokenizer::Clip(t)
    }
}

impl From<HfTokenizer> for TextTokenizer {
    fn from(t: HfTokenizer) -> Self {
        TextTokenizer::HuggingFace(t)
    }
}

impl TextTokenizer {
    /// Rows of ids padded to `context_length`; a text that does not fit is an error unless
    /// `truncate` (see [`Tokenizer::tokenize`], [`HfTokenizer::tokenize`]).
    pub fn tokenize<S: AsRef<str> + Sync>(
        &self,
        texts: &[S],
        context_length: usize,
        truncate: bool,
    ) -> Result<TokenBatch, TokenizerError> {
        match self {
            TextTokenizer::Clip(t) => t.tokenize(texts, context_length, truncate),
            TextTokenizer::HuggingFace(t) => t.tokenize(texts, context_length, truncate),
        }
    }
}
