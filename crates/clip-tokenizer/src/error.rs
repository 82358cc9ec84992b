//! Errors of the tokenizer: every failure a caller can cause is one of these.

/// What went wrong while tokenizing or loading a vocabulary.
#[derive(Debug, thiserror::Error)]
pub enum TokenizerError {
    /// A text has more tokens (with SOT and EOT) than the context holds.
    #[error(
        "input {index} ({text:?}) is too long for context length {context_length} \
         ({tokens} tokens); shorten it or enable truncation"
    )]
    TooLong {
        /// Position of the text in the batch.
        index: usize,
        /// The text.
        text: String,
        /// Its tokens, with SOT and EOT.
        tokens: usize,
        /// The context it had to fit.
        context_length: usize,
    },
    /// A context of zero tokens.
    #[error("context length {0} is too short: it must be at least 1")]
    ContextTooShort(usize),
    /// A token id outside the vocabulary.
    #[error("token id {0} is outside the vocabulary (0..{max})", max = crate::VOCAB_SIZE)]
    UnknownId(u32),
    /// A merges file that is not OpenAI's format.
    #[error("invalid BPE vocabulary: {0}")]
    Vocabulary(String),
    /// A tokenizer file that could not be read.
    #[error("cannot read the tokenizer {}: {detail}", path.display())]
    Load {
        /// The file.
        path: std::path::PathBuf,
        /// What went wrong.
        detail: String,
    },
    /// The model reads a tokenizer of its own that is not at hand.
    #[error("{0}")]
    Unavailable(String),
    /// A text the tokenizer could not encode.
    #[error("cannot tokenize: {0}")]
    Encode(String),
}
