//! The tokenizer: cleaning, pre-tokenizing, BPE, and OpenAI's `tokenize`.

use std::sync::Arc;

use rayon::prelude::*;

use crate::bpe::bpe;
use crate::clean::clean;
use crate::error::TokenizerError;
use crate::pretokenize::for_each_word;
use crate::vocab::{EOT, OPENAI, SOT, VOCAB_SIZE, Vocab};

/// Words kept in the BPE cache; beyond this the cache evicts, so memory stays
/// bounded however much distinct text passes through.
const CACHE_WORDS: usize = 1 << 16;

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
    cache: Arc<quick_cache::sync::Cache<String, Arc<[u32]>>>,
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
            cache: Arc::new(quick_cache::sync::Cache::new(CACHE_WORDS)),
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
        for_each_word(&text, |word| match word {
            "<|startoftext|>" => out.push(SOT),
            "<|endoftext|>" => out.push(EOT),
            _ => match self.cache.get(word) {
                Some(ids) => out.extend_from_slice(&ids),
                None => {
                    let start = out.len();
                    bpe(self.vocab, word.as_bytes(), out);
                    self.cache.insert(word.to_owned(), out[start..].into());
                }
            },
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
        let rows: Vec<Result<Vec<u32>, TokenizerError>> = texts
            .par_iter()
            .enumerate()
            .map(|(index, text)| self.row(index, text.as_ref(), context_length, truncate))
            .collect();
        let mut batch = TokenBatch {
            ids: vec![0; texts.len() * context_length],
            lengths: Vec::with_capacity(texts.len()),
            context_length,
        };
        for (i, row) in rows.into_iter().enumerate() {
            let row = row?;
            batch.ids[i * context_length..][..row.len()].copy_from_slice(&row);
            batch.lengths.push(row.len());
        }
        Ok(batch)
    }

    fn row(
        &self,
        index: usize,
        text: &str,
        context_length: usize,
        truncate: bool,
    ) -> Result<Vec<u32>, TokenizerError> {
        let mut row = vec![SOT];
        self.encode_into(text, &mut row);
        row.push(EOT);
        if row.len() > context_length {
            if !truncate {
                return Err(TokenizerError::TooLong {
                    index,
                    text: text.to_owned(),
                    tokens: row.len(),
                    context_length,
                });
            }
            row.truncate(context_length);
            row[context_length - 1] = EOT;
        }
        Ok(row)
    }
}
