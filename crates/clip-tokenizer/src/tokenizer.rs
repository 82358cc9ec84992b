//! The tokenizer: cleaning, pre-tokenizing, BPE, and OpenAI's `tokenize`.

use rayon::prelude::*;

use crate::bpe::bpe;
use crate::cache::{WordCache, new_generation};
use crate::clean::clean;
use crate::error::TokenizerError;
use crate::pretokenize::for_each_word;
use crate::vocab::{EOT, OPENAI, SOT, VOCAB_SIZE, Vocab};

/// OpenAI CLIP's tokenizer. Cheap to clone; safe to share across threads.
///
/// ```
/// let tokenizer = clip_tokenizer::Tokenizer::new();
/// assert_eq!(tokenizer.encode("hello world"), [3306, 1002]);
/// let batch = tokenizer.tokenize(&["a photo of a cat"], 77, false).unwrap();
/// assert_eq!(&batch.row(0)[..7], [49406, 320, 1125, 539, 320, 2368, 49407]);
/// assert_eq!(batch.lengths, [7]);
/// ```
#[derive(Clone)]
pub struct Tokenizer {
    vocab: &'static Vocab,
    /// Which per-thread BPE caches are this tokenizer's (see [`WordCache`]).
    generation: u64,
}

/// Token ids of a batch, row-major `[texts, context_length]`, zero-padded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenBatch {
    /// `texts × context_length` ids, each row SOT, tokens, EOT, zeros.
    pub ids: Vec<u32>,
    /// Tokens in each row, SOT and EOT included (the position after EOT).
    pub lengths: Vec<usize>,
    /// Columns of `ids`.
    pub context_length: usize,
}

impl TokenBatch {
    /// Wraps row-major ids tokenized elsewhere (e.g. `clip.tokenize`'s output); each row's
    /// length is taken as the reference's text encoder reads it: up to and including the
    /// first occurrence of the row's largest id (its end-of-text). `None` if `ids` is not a
    /// whole number of rows or the context is empty.
    pub fn from_ids(ids: Vec<u32>, context_length: usize) -> Option<Self> {
        if context_length == 0 || !ids.len().is_multiple_of(context_length) {
            return None;
        }
        let lengths = ids
            .chunks(context_length)
            .map(|row| {
                let mut best = 0;
                for (i, &id) in row.iter().enumerate() {
                    if id > row[best] {
                        best = i;
                    }
                }
                best + 1
            })
            .collect();
        Some(TokenBatch {
            ids,
            lengths,
            context_length,
        })
    }

    /// Rows `start..end` as their own batch.
    ///
    /// # Panics
    /// If the range is out of bounds.
    pub fn slice_rows(&self, start: usize, end: usize) -> TokenBatch {
        TokenBatch {
            ids: self.ids[start * self.context_length..end * self.context_length].to_vec(),
            lengths: self.lengths[start..end].to_vec(),
            context_length: self.context_length,
        }
    }

    /// Number of rows (texts).
    pub fn len(&self) -> usize {
        self.lengths.len()
    }

    /// Whether the batch holds no texts.
    pub fn is_empty(&self) -> bool {
        self.lengths.is_empty()
    }

    /// The ids of row `i`, padding included.
    pub fn row(&self, i: usize) -> &[u32] {
        &self.ids[i * self.context_length..(i + 1) * self.context_length]
    }

    /// `(ids, lengths)`.
    pub fn into_parts(self) -> (Vec<u32>, Vec<usize>) {
        (self.ids, self.lengths)
    }
}

impl Default for Tokenizer {
    fn default() -> Self {
        Self::new()
    }
}

impl Tokenizer {
    /// The tokenizer with OpenAI's vocabulary (decompressed on first use).
    pub fn new() -> Self {
        Tokenizer {
            vocab: &OPENAI,
            generation: new_generation(),
        }
    }

    /// Id of `<|startoftext|>`.
    pub fn sot(&self) -> u32 {
        SOT
    }

    /// Id of `<|endoftext|>`.
    pub fn eot(&self) -> u32 {
        EOT
    }

    /// Token ids of `text`, without SOT/EOT, as `SimpleTokenizer.encode`.
    pub fn encode(&self, text: &str) -> Vec<u32> {
        let mut out = Vec::with_capacity(text.len() / 3 + 2);
        self.encode_into(text, &mut out);
        out
    }

    fn encode_into(&self, text: &str, out: &mut Vec<u32>) {
        let text = clean(text);
        WordCache::with(self.generation, |cache| {
            for_each_word(&text, |word| match word.as_bytes() {
                b"<|startoftext|>" => out.push(SOT),
                b"<|endoftext|>" => out.push(EOT),
                // One byte is one symbol: nothing to merge, so nothing worth caching.
                [_] => bpe(self.vocab, word.as_bytes(), out),
                _ => cache.extend(word, out, |out| bpe(self.vocab, word.as_bytes(), out)),
            })
        });
    }

    /// Text of `ids` as `SimpleTokenizer.decode`: bytes joined, invalid UTF-8
    /// replaced, each `</w>` a space. Unknown ids decode to U+FFFD.
    pub fn decode(&self, ids: &[u32]) -> String {
        let mut bytes = Vec::with_capacity(ids.len() * 4);
        for &id in ids {
            match self.vocab.bytes.get(id as usize) {
                Some(b) => bytes.extend_from_slice(b),
                None => bytes.extend_from_slice("\u{FFFD}".as_bytes()),
            }
        }
        String::from_utf8_lossy(&bytes).replace("</w>", " ")
    }

    /// [`Tokenizer::decode`], failing on an id outside the vocabulary as the
    /// reference does.
    pub fn try_decode(&self, ids: &[u32]) -> Result<String, TokenizerError> {
        match ids.iter().find(|&&id| id as usize >= VOCAB_SIZE) {
            Some(&id) => Err(TokenizerError::UnknownId(id)),
            None => Ok(self.decode(ids)),
        }
    }

    /// OpenAI's `clip.tokenize`: each row is SOT, the tokens and EOT, padded
    /// with zeros to `context_length`. A text that does not fit is an error
    /// naming it, unless `truncate`, which cuts it and puts EOT last.
    /// Texts are encoded in parallel.
    pub fn tokenize<S: AsRef<str> + Sync>(
        &self,
        texts: &[S],
        context_length: usize,
        truncate: bool,
    ) -> Result<TokenBatch, TokenizerError> {
        if context_length == 0 {
            return Err(TokenizerError::ContextTooShort(context_length));
        }
        let mut ids = vec![0; texts.len() * context_length];
        let mut lengths = vec![0; texts.len()];
        // Rows are written in place, each thread reusing one buffer; of several texts that
        // are too long, the first is reported, as the reference's loop would.
        let first_error = ids
            .par_chunks_mut(context_length)
            .zip(lengths.par_iter_mut())
            .enumerate()
            .map_init(Vec::new, |buffer, (index, (row, length))| {
                let text = texts[index].as_ref();
                buffer.clear();
                buffer.push(SOT);
                self.encode_into(text, buffer);
                buffer.push(EOT);
                if buffer.len() > context_length {
                    if !truncate {
                        return Some(TokenizerError::TooLong {
                            index,
                            text: text.to_owned(),
                            tokens: buffer.len(),
                            context_length,
                        });
                    }
                    buffer.truncate(context_length);
                    buffer[context_length - 1] = EOT;
                }
                row[..buffer.len()].copy_from_slice(buffer);
                *length = buffer.len();
                None
            })
            .flatten()
            .min_by_key(|error| match error {
                TokenizerError::TooLong { index, .. } => *index,
                _ => usize::MAX,
            });
        match first_error {
            Some(error) => Err(error),
            None => Ok(TokenBatch {
                ids,
                lengths,
                context_length,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_from_elsewhere_get_the_lengths_tokenize_gives() {
        let tokenizer = Tokenizer::new();
        let batch = tokenizer
            .tokenize(
                &["a photo of a cat", "", "word ".repeat(30).as_str()],
                16,
                true,
            )
            .unwrap();
        assert_eq!(batch.lengths[1], 2);
        assert_eq!(
            TokenBatch::from_ids(batch.ids.clone(), 16),
            Some(batch.clone())
        );
        assert_eq!(batch.slice_rows(1, 3).lengths, batch.lengths[1..3]);
        assert_eq!(batch.slice_rows(1, 3).row(1), batch.row(2));
        assert_eq!(TokenBatch::from_ids(vec![1, 2, 3], 2), None);
        assert_eq!(TokenBatch::from_ids(vec![], 0), None);
    }
}
