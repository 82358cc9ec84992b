//! `cargo xtask preprocess`: OpenAI's `_transform(R)` over image files into one f32 .npy
//! `[N, 3, R, R]`, the input `embed --pixels` takes.

use std::io::{BufWriter, Write};
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clip_vision::preprocess::Preprocessor;

use crate::images::{preprocess_chunks, report_skipped};
use crate::io::{NpyHeader, write_atomic};

#[derive(clap::Args)]
pub struct Args {
    /// Output side length (224 for most models; 288, 336, 384, 448 for the others).
    #[arg(long, default_value_t = 224)]
    resolution: usize,
    /// Output .npy: f32 [N, 3, R, R], normalised with OpenAI's mean and std.
    #[arg(long)]
    output: PathBuf,
    /// Skip images that do not decode (their rows are NaN and they are listed in
    /// OUTPUT.skipped.tsv) instead of failing.
    #[arg(long)]
    skip_bad: bool,
    /// Image files (PNG, JPEG, GIF, WebP, BMP, TIFF).
    #[arg(required = true)]
    images: Vec<PathBuf>,
}

pub fn run(args: Args) -> Result<()> {
    if args.resolution == 0 {
        bail!("--resolution must be at least 1");
    }
    let r = args.resolution;
    let n = args.images.len();
    let preprocessor = Preprocessor::new(r);
    let mut skipped = Vec::new();
    write_atomic(&args.output, |tmp| {
        let file = std::fs::File::create(tmp)
            .with_context(|| format!("cannot create {}", args.output.display()))?;
        let mut out = BufWriter::new(file);
        NpyHeader::f32(&[n, 3, r, r]).write(&mut out)?;
        skipped = preprocess_chunks(&args.images, preprocessor, args.skip_bad, |rows| {
            for row in rows {
                let bytes: Vec<u8> = row.iter().flat_map(|v| v.to_le_bytes()).collect();
                out.write_all(&bytes)?;
            }
            Ok(())
        })?;
        out.flush()?;
        Ok(())
    })
    .with_context(|| format!("cannot write {}", args.output.display()))?;
    report_skipped(&skipped, &skipped_list(&args.output))?;
    eprintln!(
        "wrote {} of {n} image(s) as [{n}, 3, {r}, {r}] to {}",
        n - skipped.len(),
        args.output.display()
    );
    Ok(())
}

/// `OUTPUT.skipped.tsv` beside the output.
pub fn skipped_list(output: &std::path::Path) -> PathBuf {
    let mut name = output.as_os_str().to_owned();
    name.push(".skipped.tsv");
    PathBuf::from(name)
}
