//! `cargo xtask tokenize`: OpenAI's `clip.tokenize` over a file of lines.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clip_tokenizer::{CONTEXT_LENGTH, HfTokenizer, TextClean, TextTokenizer};
use ndarray::Array2;

use crate::io::{read_lines, tokenize_lines, write_atomic};

#[derive(clap::Args)]
pub struct Args {
    /// UTF-8 text file, one text per line.
    #[arg(long)]
    input: PathBuf,
    /// Output .npy: int64 [lines, context_length].
    #[arg(long)]
    output: PathBuf,
    /// Tokens per row, SOT and EOT included.
    #[arg(long, default_value_t = CONTEXT_LENGTH)]
    context_length: usize,
    /// Cut texts that do not fit (EOT stays last) instead of failing.
    #[arg(long)]
    truncate: bool,
    /// A Hugging Face tokenizer.json (SigLIP's, SigLIP 2's) to use instead of OpenAI's, with
    /// the tokenizer_config.json beside it; texts are cleaned as open_clip's `--clean`.
    #[arg(long)]
    tokenizer: Option<PathBuf>,
    /// With --tokenizer: open_clip's text cleaning (canonicalize, lower or whitespace).
    #[arg(long, default_value = "canonicalize", requires = "tokenizer")]
    clean: String,
}

pub fn run(args: Args) -> Result<()> {
    let lines = read_lines(&args.input)?;
    let tokenizer = match &args.tokenizer {
        None => TextTokenizer::default(),
        Some(file) => {
            let clean = TextClean::from_name(&args.clean).with_context(|| {
                format!(
                    "--clean '{}': expected canonicalize, lower or whitespace",
                    args.clean
                )
            })?;
            HfTokenizer::from_file(file, clean)?.into()
        }
    };
    let batch = tokenize_lines(
        &tokenizer,
        &lines,
        &args.input,
        args.context_length,
        args.truncate,
    )?;
    let ids = Array2::from_shape_vec(
        (batch.len(), batch.context_length),
        batch.ids.iter().map(|&id| i64::from(id)).collect(),
    )
    .context("token array shape")?;
    write_atomic(&args.output, |tmp| {
        ndarray_npy::write_npy(tmp, &ids)
            .with_context(|| format!("cannot write {}", args.output.display()))
    })?;
    eprintln!(
        "tokenized {} lines into {}",
        batch.len(),
        args.output.display()
    );
    Ok(())
}
