//! The BPE vocabulary: OpenAI's `bpe_simple_vocab_16e6.txt.gz`, parsed once.
//!
//! The file is embedded (MIT licence, from OpenAI's CLIP repository, also shipped
//! in the `clip-anytorch` wheel) and decompressed lazily on first use.

use std::collections::HashMap;
use std::io::Read;
use std::sync::LazyLock;

use crate::bytes::byte_symbols;
use crate::error::TokenizerError;

/// Number of merges the reference reads: lines `1..=48_894` of the file.
pub const NUM_MERGES: usize = 49152 - 256 - 2;
/// `<|startoftext|>`.
pub const SOT: u32 = 49406;
/// `<|endoftext|>`; also the largest id, which CLIP's text pooling relies on.
pub const EOT: u32 = 49407;
/// Vocabulary size: 256 bytes, 256 word-final bytes, the merges, two specials.
pub const VOCAB_SIZE: usize = 512 + NUM_MERGES + 2;

static OPENAI_GZ: &[u8] = include_bytes!("../data/bpe_simple_vocab_16e6.txt.gz");

/// The parsed vocabulary shared by every [`crate::Tokenizer`] built on it.
pub(crate) static OPENAI: LazyLock<Vocab> =
    LazyLock::new(|| Vocab::from_gzip(OPENAI_GZ).expect("the embedded OpenAI vocabulary is valid"));

/// Ids instead of strings: BPE over ids is the reference's BPE over symbol
/// strings, because every symbol string has exactly one id.
pub(crate) struct Vocab {
    /// Id of each byte value as a non-final symbol; `+ 256` is its `</w>` form.
    pub byte_id: [u32; 256],
    /// `(left, right) -> (rank, merged id)`.
    pub merges: HashMap<(u32, u32), (u32, u32)>,
    /// Bytes of each id, with `</w>` spelled out as the reference's decoder sees it.
    pub bytes: Vec<Vec<u8>>,
}

impl Vocab {
    pub fn from_gzip(gz: &[u8]) -> Result<Self, TokenizerError> {
        let mut text = String::new();
        flate2::read::GzDecoder::new(gz)
            .read_to_string(&mut text)
            .map_err(|e| TokenizerError::Vocabulary(format!("cannot decompress: {e}")))?;
        Self::from_merges_text(&text)
    }

    /// Builds the vocabulary from the text of a merges file (first line is a header).
    pub fn from_merges_text(text: &str) -> Result<Self, TokenizerError> {
        let lines: Vec<&str> = text.split('\n').skip(1).take(NUM_MERGES).collect();
        if lines.len() < NUM_MERGES {
            return Err(TokenizerError::Vocabulary(format!(
                "expected {NUM_MERGES} merges, found {}",
                lines.len()
            )));
        }
        let symbols = byte_symbols();
        let symbol_byte: HashMap<char, u8> = symbols.iter().map(|&(b, c)| (c, b)).collect();
        let mut byte_id = [0u32; 256];
        let mut strings: Vec<String> = Vec::with_capacity(VOCAB_SIZE);
        for (id, &(b, c)) in symbols.iter().enumerate() {
            byte_id[b as usize] = id as u32;
            strings.push(c.to_string());
        }
        for &(_, c) in &symbols {
            strings.push(format!("{c}</w>"));
        }
        let mut pairs = Vec::with_capacity(NUM_MERGES);
        for (n, line) in lines.iter().enumerate() {
            let mut parts = line.split_whitespace();
            let (Some(a), Some(b), None) = (parts.next(), parts.next(), parts.next()) else {
                return Err(TokenizerError::Vocabulary(format!(
                    "merge line {} is not two symbols: {line:?}",
                    n + 2
                )));
            };
            strings.push(format!("{a}{b}"));
            pairs.push((a, b));
        }
        strings.push("<|startoftext|>".into());
        strings.push("<|endoftext|>".into());

        let ids: HashMap<&str, u32> = strings
            .iter()
            .enumerate()
            .map(|(i, s)| (s.as_str(), i as u32))
            .collect();
        if ids.len() != strings.len() {
            return Err(TokenizerError::Vocabulary(
                "duplicate vocabulary entries".into(),
            ));
        }
        let mut merges = HashMap::with_capacity(pairs.len());
        for (rank, (a, b)) in pairs.into_iter().enumerate() {
            let lookup = |s: &str| {
                ids.get(s).copied().ok_or_else(|| {
                    TokenizerError::Vocabulary(format!("merge part {s:?} is not in the vocabulary"))
                })
            };
            let merged = 512 + rank as u32;
            // `dict(zip(merges, ranks))`: a repeated pair keeps its last rank.
            merges.insert((lookup(a)?, lookup(b)?), (rank as u32, merged));
        }
        let bytes = strings
            .iter()
            .enumerate()
            .map(|(id, s)| {
                if id >= 512 + NUM_MERGES {
                    return s.as_bytes().to_vec(); // special tokens are plain ASCII
                }
                let (body, end) = match s.strip_suffix("</w>") {
                    Some(body) => (body, "</w>".as_bytes()),
                    None => (s.as_str(), &b""[..]),
                };
                body.chars()
                    .map(|c| symbol_byte[&c])
                    .chain(end.iter().copied())
                    .collect()
            })
            .collect();
        Ok(Vocab {
            byte_id,
            merges,
            bytes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_vocabulary_has_reference_shape() {
        let v = &*OPENAI;
        assert_eq!(v.bytes.len(), VOCAB_SIZE);
        assert_eq!(VOCAB_SIZE, 49408);
        assert_eq!(v.merges.len(), NUM_MERGES);
        assert_eq!(v.bytes[SOT as usize], b"<|startoftext|>");
        assert_eq!(v.bytes[EOT as usize], b"<|endoftext|>");
        assert_eq!(v.bytes[v.byte_id[b'a' as usize] as usize + 256], b"a</w>");
    }

    #[test]
    fn malformed_merges_are_errors() {
        assert!(Vocab::from_merges_text("header\na b\n").is_err());
        assert!(Vocab::from_gzip(b"not gzip").is_err());
    }
}
