//! Decoding and preprocessing image files in parallel, in input order, with a progress bar
//! and OpenAI's `_transform`; shared by `preprocess` and `embed --images`.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clip_vision::preprocess::Preprocessor;
use rayon::prelude::*;

use crate::io::progress;

/// Images decoded per parallel chunk: bounds memory while keeping both cores busy.
const CHUNK: usize = 64;

/// A file that could not be decoded, with its input position.
pub struct Skipped {
    pub index: usize,
    pub path: PathBuf,
    pub error: String,
}

/// Preprocesses `paths` chunk by chunk, handing each chunk's rows (in input order) to
/// `sink`. A bad file fails the run unless `skip_bad`, in which case its row is NaN (so rows
/// still map to inputs) and it is reported back.
pub fn preprocess_chunks(
    paths: &[PathBuf],
    preprocessor: Preprocessor,
    skip_bad: bool,
    mut sink: impl FnMut(&[Vec<f32>]) -> Result<()>,
) -> Result<Vec<Skipped>> {
    let r = preprocessor.resolution();
    let bar = progress(paths.len() as u64, "images");
    let mut skipped = Vec::new();
    for (c, chunk) in paths.chunks(CHUNK).enumerate() {
        let results: Vec<_> = chunk
            .par_iter()
            .map(|p| {
                let out = preprocessor.load(p);
                bar.inc(1);
                out
            })
            .collect();
        let mut rows = Vec::with_capacity(chunk.len());
        for (i, result) in results.into_iter().enumerate() {
            match result {
                Ok(pixels) => rows.push(pixels),
                Err(err) if skip_bad => {
                    bar.suspend(|| eprintln!("skipping {err}"));
                    skipped.push(Skipped {
                        index: c * CHUNK + i,
                        path: err.path,
                        error: err.detail,
                    });
                    rows.push(vec![f32::NAN; 3 * r * r]);
                }
                Err(err) => {
                    bar.finish_and_clear();
                    bail!("{err} (pass --skip-bad to skip unreadable images)");
                }
            }
        }
        sink(&rows)?;
    }
    bar.finish_and_clear();
    Ok(skipped)
}

/// Prints the skipped files and writes them, tab-separated (`index path error`), to `list`.
pub fn report_skipped(skipped: &[Skipped], list: &std::path::Path) -> Result<()> {
    if skipped.is_empty() {
        return Ok(());
    }
    eprintln!(
        "skipped {} unreadable image(s); their rows are NaN:",
        skipped.len()
    );
    let mut text = String::new();
    for s in skipped {
        eprintln!("  #{} {}: {}", s.index, s.path.display(), s.error);
        text.push_str(&format!("{}\t{}\t{}\n", s.index, s.path.display(), s.error));
    }
    crate::io::write_atomic(list, |tmp| Ok(std::fs::write(tmp, text)?))?;
    eprintln!("list of skipped images: {}", list.display());
    Ok(())
}
