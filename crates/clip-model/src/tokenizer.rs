//! The tokenizer a model reads: OpenAI's for CLIP, or for SigLIP the `tokenizer.json` that
//! lies beside the weights (SentencePiece, SigLIP 2's Gemma; found as a hub repository or the
//! download cache lays it out).

use std::path::{Path, PathBuf};

use clip_tokenizer::{HfTokenizer, TextClean};

use crate::{ClipConfig, LoadError, TextPoolName};

/// The file's name in a hub repository.
pub const FILE_NAME: &str = "tokenizer.json";

/// The files a tokenizer is made of (fetched and copied together).
pub(crate) const FILES: [&str; 2] = [FILE_NAME, "tokenizer_config.json"];

/// Weight file names whose prefix is shared by their repository's other files in the
/// download cache (`TAG-model.safetensors` → `TAG-tokenizer.json`).
const WEIGHT_NAMES: [&str; 4] = [
    "open_clip_model.safetensors",
    "open_clip_pytorch_model.bin",
    "model.safetensors",
    "open_clip_pytorch_model.safetensors",
];

/// The `tokenizer.json` that belongs to the weights at `weights`: `STEM.tokenizer.json`
/// (written by [`copy_beside`]), `TAG-tokenizer.json` for a cached download, or
/// `tokenizer.json` in the same folder.
pub fn beside(weights: &Path) -> Option<PathBuf> {
    crate::companion::beside(weights, &WEIGHT_NAMES, true, FILE_NAME)
}

/// The tokenizer beside `weights` of a model that reads one (SigLIP's family, with big_vision's
/// `canonicalize` cleaning). CLIP models keep OpenAI's tokenizer even when their repository
/// also ships a `tokenizer.json` (LAION's do, for transformers): open_clip tokenizes them with
/// its own, which that file only approximates.
pub(crate) fn load(weights: &Path, config: &ClipConfig) -> Result<Option<HfTokenizer>, LoadError> {
    if config.text_pool != TextPoolName::Last {
        return Ok(None);
    }
    let Some(file) = beside(weights) else {
        return Ok(None);
    };
    HfTokenizer::from_file(&file, TextClean::Canonicalize)
        .map(Some)
        .map_err(|e| LoadError::corrupt(&file, "tokenizer", e))
}

/// Copies the tokenizer files of `from` (weights) beside `to` as `STEM.tokenizer.json` …,
/// so the saved model finds them; nothing to do for a model without one.
pub fn copy_beside(from: &Path, to: &Path) -> std::io::Result<()> {
    match beside(from) {
        Some(json) => copy_to(&json, to),
        None => Ok(()),
    }
}

/// Copies the tokenizer whose `tokenizer.json` is `json` (and its `tokenizer_config.json`)
/// beside the weights `to`, as `STEM.tokenizer.json` ….
pub fn copy_to(json: &Path, to: &Path) -> std::io::Result<()> {
    let (Some(dir), Some(stem)) = (to.parent(), to.file_stem().and_then(|s| s.to_str())) else {
        return Ok(());
    };
    if beside(to).as_deref() == Some(json) {
        return Ok(()); // already found from there (a converted download in the cache)
    }
    let prefix = json
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_suffix(FILE_NAME))
        .unwrap_or_default()
        .to_owned();
    for file in FILES {
        let source = json.with_file_name(format!("{prefix}{file}"));
        if source.is_file() {
            std::fs::copy(&source, dir.join(format!("{stem}.{file}")))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn found_beside_the_weights_under_each_name() {
        let dir = tempfile::tempdir().unwrap();
        let weights = dir.path().join("ab12-model.safetensors");
        assert_eq!(beside(&weights), None);
        let plain = dir.path().join(FILE_NAME);
        std::fs::write(&plain, "{}").unwrap();
        assert_eq!(beside(&weights), Some(plain));
        let tagged = dir.path().join("ab12-tokenizer.json");
        std::fs::write(&tagged, "{}").unwrap();
        assert_eq!(beside(&weights), Some(tagged.clone()));
        let own = dir.path().join("ab12-model.tokenizer.json");
        std::fs::write(&own, "{}").unwrap();
        assert_eq!(beside(&weights), Some(own));

        std::fs::write(dir.path().join("ab12-tokenizer_config.json"), "{}").unwrap();
        std::fs::remove_file(dir.path().join("ab12-model.tokenizer.json")).unwrap();
        let out = dir.path().join("saved.safetensors");
        copy_beside(&weights, &out).unwrap();
        assert!(dir.path().join("saved.tokenizer.json").is_file());
        assert!(dir.path().join("saved.tokenizer_config.json").is_file());
        assert_eq!(beside(&out), Some(dir.path().join("saved.tokenizer.json")));
    }
}
