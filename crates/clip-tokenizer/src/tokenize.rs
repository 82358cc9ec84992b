//! [`Tokenize`]: what text-side code needs from any tokenizer.

use crate::{TokenBatch, Tokenizer, TokenizerError};

/// Texts → rows of ids padded to a context; a text that does not fit is an error unless
/// `truncate`. Implemented by OpenAI's [`Tokenizer`] and, with the `huggingface` feature, by
/// `HfTokenizer` and `TextTokenizer`, so functions taking `&impl Tokenize` accept each.
pub trait Tokenize: Sync {
    /// See [`Tokenizer::tokenize`].
    fn tokenize_texts<S: AsRef<str> + Sync>(
        &self,
        texts: &[S],
        context_length: usize,
        truncate: bool,
    ) -> Result<TokenBatch, TokenizerError>;
}

/// `Tokenize` by the type's own `tokenize`.
macro_rules! by_inherent_tokenize {
    ($($(#[$attr:meta])* $ty:ty),*) => {$(
        $(#[$attr])*
        impl Tokenize for $ty {
            fn tokenize_texts<S: AsRef<str> + Sync>(
                &self,
                texts: &[S],
                context_length: usize,
                truncate: bool,
            ) -> Result<TokenBatch, TokenizerError> {
                self.tokenize(texts, context_length, truncate)
            }
        }
    )*};
}

by_inherent_tokenize!(
    Tokenizer,
    #[cfg(feature = "huggingface")]
    crate::HfTokenizer,
    #[cfg(feature = "huggingface")]
    crate::TextTokenizer
);
