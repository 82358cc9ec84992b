//! File helpers shared by the commands: reading line files and writing
//! outputs atomically, so an interrupted run never leaves a half-written file.

use std::path::Path;

use anyhow::Result;

pub use clip::npy::{NpyHeader, NpzWriter};
pub use clip_model::fs::read_lines;

/// [`clip_model::fs::write_atomic`] with the command line's error type (for inference).
pub fn write_atomic(path: &Path, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    clip_model::fs::write_atomic(path, write)
}

/// A progress bar on stderr (hidden when stderr is not a terminal).
pub fn progress(len: u64, unit: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(len);
    bar.set_style(
        indicatif::ProgressStyle::with_template(&format!(
            "{{bar:40}} {{pos}}/{{len}} {unit} [{{elapsed_precise}}<{{eta_precise}}]"
        ))
        .expect("valid template"),
    );
    bar
}

/// `clip.tokenize` of the lines of `path`; a line too long for the context is reported
/// by its line number with the `--truncate` hint.
pub fn tokenize_lines(
    tokenizer: &impl clip_tokenizer::Tokenize,
    lines: &[String],
    path: &Path,
    context_length: usize,
    truncate: bool,
) -> Result<clip_tokenizer::TokenBatch> {
    tokenizer
        .tokenize_texts(lines, context_length, truncate)
        .map_err(|err| match err {
            clip_tokenizer::TokenizerError::TooLong {
                index,
                tokens,
                context_length,
                ..
            } => anyhow::anyhow!(
                "{}: line {} has {tokens} tokens, more than the context length {context_length}; \
                 pass --truncate to cut it",
                path.display(),
                index + 1
            ),
            other => other.into(),
        })
}
