//! Tokenizers of the other CLIP families — SigLIP's SentencePiece, SigLIP 2's Gemma — read
//! from a Hugging Face `tokenizer.json` by the `tokenizers` crate, with open_clip's text
//! cleaning before and `HFTokenizer`'s truncation and padding after, so the ids equal
//! `open_clip.get_tokenizer(…)(texts)`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rayon::prelude::*;
use tokenizers::{Encoding, TruncationDirection};

use crate::clean::{basic_clean, python_strip, whitespace_clean};
use crate::{TokenBatch, TokenizerError};

/// open_clip's `clean` option of `HFTokenizer`: what is done to a text before it is split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TextClean {
    /// `basic_clean`, `_` → space, ASCII punctuation removed, lowercase, whitespace
    /// collapsed (big_vision's `canonicalize_text`; SigLIP's).
    #[default]
    Canonicalize,
    /// `basic_clean`, whitespace collapsed, lowercase.
    Lower,
    /// `basic_clean`, whitespace collapsed.
    Whitespace,
}

impl TextClean {
    /// The cleaned text.
    pub fn apply(self, text: &str) -> String {
        let basic = basic_clean(text);
        match self {
            TextClean::Canonicalize => {
                let kept: String = basic
                    .chars()
                    .map(|c| if c == '_' { ' ' } else { c })
                    .filter(|c| !c.is_ascii_punctuation())
                    .collect();
                let lower = kept.to_lowercase();
                let words: Vec<&str> = lower
                    .split(is_python_space)
                    .filter(|w| !w.is_empty())
                    .collect();
                words.join(" ")
            }
            TextClean::Lower => whitespace_clean(&basic).to_lowercase(),
            TextClean::Whitespace => whitespace_clean(&basic),
        }
    }

    /// open_clip's spelling (`canonicalize`, `lower`, `whitespace`).
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "canonicalize" => Some(TextClean::Canonicalize),
            "lower" => Some(TextClean::Lower),
            "whitespace" => Some(TextClean::Whitespace),
            _ => None,
        }
    }
}

/// Python's `str.split()` separators.
fn is_python_space(c: char) -> bool {
    python_strip(c.encode_utf8(&mut [0; 4])).is_empty()
}

/// A `tokenizer.json` tokenizer with open_clip's cleaning, truncation and padding. Cheap to
/// clone; safe to share across threads.
#[derive(Clone)]
pub struct HfTokenizer {
    inner: Arc<tokenizers::Tokenizer>,
    clean: TextClean,
    pad_id: u32,
    sides: Sides,
    path: PathBuf,
}

/// What `tokenizer_config.json` says beyond `tokenizer.json`.
#[derive(Debug, Clone, Default, PartialEq)]
struct Settings {
    pad_token: Option<String>,
    sides: Sides,
}

/// Where padding goes and which end truncation cuts (`padding_side`, `truncation_side`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Sides {
    pad_left: bool,
    truncate_left: bool,
}

/// Tokenizer classes whose `padding_side` defaults to `left` in `transformers` (Gemma's is
/// SigLIP 2's), so a configuration naming one and no side pads on the left, as there.
const LEFT_PADDING_CLASSES: [&str; 5] = [
    "GemmaTokenizer",
    "LlamaTokenizer",
    "CodeLlamaTokenizer",
    "CohereTokenizer",
    "XLNetTokenizer",
];

impl std::fmt::Debug for HfTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HfTokenizer")
            .field("vocab", &self.inner.get_vocab_size(true))
            .field("clean", &self.clean)
            .field("pad_id", &self.pad_id)
            .finish()
    }
}

impl HfTokenizer {
    /// Reads `tokenizer.json`; the padding token is the `pad_token` of a
    /// `tokenizer_config.json` beside it (as `transformers` reads it), else the file's own
    /// padding setting, else `<pad>`, else id 0. That file's `padding_side` and
    /// `truncation_side` are honoured, with `transformers`' class defaults.
    pub fn from_file(path: &Path, clean: TextClean) -> Result<Self, TokenizerError> {
        let bad = |detail: String| TokenizerError::Load {
            path: path.to_path_buf(),
            detail,
        };
        let inner = tokenizers::Tokenizer::from_file(path).map_err(|e| bad(e.to_string()))?;
        let config = path.with_file_name(config_name(path));
        let settings = match std::fs::read_to_string(&config) {
            Ok(text) => settings(&text).map_err(|e| TokenizerError::Load {
                path: config.clone(),
                detail: e,
            })?,
            Err(_) => Settings::default(),
        };
        let pad_id = match settings.pad_token {
            Some(token) => inner.token_to_id(&token).ok_or_else(|| {
                bad(format!(
                    "the pad token {token:?} of {} is not in the vocabulary",
                    config.display()
                ))
            })?,
            None => inner
                .get_padding()
                .map(|p| p.pad_id)
                .or_else(|| inner.token_to_id("<pad>"))
                .unwrap_or(0),
        };
        Ok(HfTokenizer {
            inner: Arc::new(inner),
            clean,
            pad_id,
            sides: settings.sides,
            path: path.to_path_buf(),
        })
    }

    /// The `tokenizer.json` this was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The id rows are padded with.
    pub fn pad_id(&self) -> u32 {
        self.pad_id
    }

    /// Ids of the cleaned text with the file's special tokens (`</s>` after, or `<bos>`
    /// before), not truncated.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, TokenizerError> {
        let encoding = self.split(text)?;
        Ok(self.finish(encoding)?.get_ids().to_vec())
    }

    /// `HFTokenizer.__call__`: each row the ids of [`HfTokenizer::encode`], padded to
    /// `context_length`. A text that does not fit is an error naming it, unless `truncate`,
    /// which keeps its first tokens and the special ones (`truncation=True`).
    pub fn tokenize<S: AsRef<str> + Sync>(
        &self,
        texts: &[S],
        context_length: usize,
        truncate: bool,
    ) -> Result<TokenBatch, TokenizerError> {
        if context_length == 0 {
            return Err(TokenizerError::ContextTooShort(context_length));
        }
        let specials = self
            .inner
            .get_post_processor()
            .map_or(0, |p| tokenizers::PostProcessor::added_tokens(p, false));
        let rows: Vec<Vec<u32>> = texts
            .par_iter()
            .enumerate()
            .map(|(index, text)| {
                let text = text.as_ref();
                let mut encoding = self.split(text)?;
                let tokens = encoding.len() + specials;
                if tokens > context_length {
                    if !truncate {
                        return Err(TokenizerError::TooLong {
                            index,
                            text: text.to_owned(),
                            tokens,
                            context_length,
                        });
                    }
                    let direction = match self.sides.truncate_left {
                        true => TruncationDirection::Left,
                        false => TruncationDirection::Right,
                    };
                    encoding.truncate(context_length.saturating_sub(specials), 0, direction);
                }
                let mut ids = self.finish(encoding)?.get_ids().to_vec();
                ids.truncate(context_length);
                Ok(ids)
            })
            .collect::<Result<_, _>>()?;
        let mut ids = vec![self.pad_id; texts.len() * context_length];
        let lengths = rows.iter().map(Vec::len).collect();
        for (row, tokens) in ids.chunks_mut(context_length).zip(&rows) {
            let start = match self.sides.pad_left {
                true => context_length - tokens.len(),
                false => 0,
            };
            row[start..start + tokens.len()].copy_from_slice(tokens);
        }
        Ok(TokenBatch {
            ids,
            lengths,
            context_length,
        })
    }

    fn split(&self, text: &str) -> Result<Encoding, TokenizerError> {
        self.inner
            .encode(self.clean.apply(text), false)
            .map_err(|e| TokenizerError::Encode(e.to_string()))
    }

    fn finish(&self, encoding: Encoding) -> Result<Encoding, TokenizerError> {
        self.inner
            .post_process(encoding, None, true)
            .map_err(|e| TokenizerError::Encode(e.to_string()))
    }
}

/// `tokenizer_config.json`, or `TAG-tokenizer_config.json` beside `TAG-tokenizer.json`.
fn config_name(tokenizer: &Path) -> String {
    let name = tokenizer
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let tag = name.strip_suffix("tokenizer.json").unwrap_or("");
    format!("{tag}tokenizer_config.json")
}

/// A `tokenizer_config.json`: `pad_token` (a string or `{"content": …}`), the sides.
fn settings(json: &str) -> Result<Settings, String> {
    let value: serde_json::Value = serde_json::from_str(json).map_err(|e| e.to_string())?;
    let pad_token = match &value["pad_token"] {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Object(o) => {
            o.get("content").and_then(|c| c.as_str()).map(str::to_owned)
        }
        _ => None,
    };
    let class = value["tokenizer_class"].as_str().unwrap_or_default();
    let class = class.strip_suffix("Fast").unwrap_or(class);
    let left = |key: &str, default: bool| match value[key].as_str() {
        Some("left") => Ok(true),
        Some("right") => Ok(false),
        None => Ok(default),
        Some(other) => Err(format!("{key} '{other}' is neither 'left' nor 'right'")),
    };
    Ok(Settings {
        pad_token,
        sides: Sides {
            pad_left: left("padding_side", LEFT_PADDING_CLASSES.contains(&class))?,
            truncate_left: left("truncation_side", false)?,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonicalize_is_big_visions() {
        let clean = TextClean::Canonicalize;
        assert_eq!(clean.apply("  A photo_of a CAT!!  "), "a photo of a cat");
        assert_eq!(
            clean.apply("it's 5 o'clock, (really)."),
            "its 5 oclock really"
        );
        assert_eq!(TextClean::Lower.apply("A  Cat!"), "a cat!");
        assert_eq!(TextClean::Whitespace.apply(" A \n Cat! "), "A Cat!");
    }

    #[test]
    fn settings_as_transformers_reads_them() {
        let pad = |json| settings(json).map(|s| s.pad_token);
        assert_eq!(pad(r#"{"pad_token": "</s>"}"#), Ok(Some("</s>".into())));
        assert_eq!(
            pad(r#"{"pad_token": {"content": "<pad>", "lstrip": false}}"#),
            Ok(Some("<pad>".into()))
        );
        assert_eq!(pad("{}"), Ok(None));
        assert!(pad("nope").is_err());
        let sides = |json| settings(json).unwrap().sides;
        assert!(!sides(r#"{"tokenizer_class": "T5Tokenizer"}"#).pad_left);
        assert!(sides(r#"{"tokenizer_class": "GemmaTokenizer"}"#).pad_left);
        assert!(
            !sides(r#"{"tokenizer_class": "GemmaTokenizerFast", "padding_side": "right"}"#)
                .pad_left
        );
        assert!(sides(r#"{"truncation_side": "left"}"#).truncate_left);
        assert!(settings(r#"{"padding_side": "up"}"#).is_err());
        assert_eq!(
            config_name(Path::new("x/ab12-tokenizer.json")),
            "ab12-tokenizer_config.json"
        );
    }
}
