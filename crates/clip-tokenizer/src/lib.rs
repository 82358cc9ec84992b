//! OpenAI CLIP's tokenizer, token for token identical to the reference
//! `clip/simple_tokenizer.py` and `clip.tokenize`.
//!
//! Text is cleaned as the reference cleans it (ftfy's `fix_text`, HTML
//! unescaping twice, whitespace collapsing, lowercasing), split with the
//! reference's pattern and merged with OpenAI's byte-level BPE vocabulary
//! (49,408 ids; `<|startoftext|>` = 49406, `<|endoftext|>` = 49407).
//!
//! ```
//! use clip_tokenizer::Tokenizer;
//!
//! let tokenizer = Tokenizer::new();
//! let ids = tokenizer.encode("A photo of a cat.");
//! assert_eq!(tokenizer.decode(&ids), "a photo of a cat . ");
//!
//! // Too long for the context: an error unless truncation is asked for.
//! let long = "word ".repeat(100);
//! assert!(tokenizer.tokenize(&[&long], 77, false).is_err());
//! let batch = tokenizer.tokenize(&[&long], 77, true).unwrap();
//! assert_eq!(batch.row(0)[76], tokenizer.eot());
//! ```

mod bmp_set;
mod bpe;
mod bytes;
mod cache;
mod clean;
mod error;
mod ftfy;
mod html;
#[cfg(feature = "huggingface")]
mod huggingface;
mod pretokenize;
#[cfg(test)]
mod test_texts;
#[cfg(feature = "huggingface")]
mod text_tokenizer;
mod tokenize;
mod tokenizer;
mod vocab;

pub use error::TokenizerError;
#[cfg(feature = "huggingface")]
pub use huggingface::{HfTokenizer, TextClean};
#[cfg(feature = "huggingface")]
pub use text_tokenizer::TextTokenizer;
pub use tokenize::Tokenize;
pub use tokenizer::{TokenBatch, Tokenizer};
pub use vocab::{EOT, NUM_MERGES, SOT, VOCAB_SIZE};

// The reference's cleaning steps one by one, each identical to its Python original, so
// that callers (and the parity tests) can check or reuse a step without the rest.
pub use clean::{basic_clean, clean, python_strip, whitespace_clean};
pub use ftfy::fix_text;
pub use html::unescape as html_unescape;

/// CLIP's context length: every released model reads 77 tokens.
pub const CONTEXT_LENGTH: usize = 77;
