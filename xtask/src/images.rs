//! Image files preprocessed with a progress bar (`preprocess`, `embed --images`), and the
//! list of the files skipped.

use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow};
use clip_vision::preprocess::{ImageError, Preprocessor, Skipped};

use crate::io::progress;

/// [`Preprocessor::load_chunks`] with a progress bar and the command line's hint for bad
/// files.
pub fn preprocess_chunks(
    paths: &[PathBuf],
    preprocessor: Preprocessor,
    skip_bad: bool,
    sink: impl FnMut(&[Vec<f32>]) -> Result<()>,
) -> Result<Vec<Skipped>> {
    let bar = progress(paths.len() as u64, "images");
    let result = preprocessor.load_chunks(paths, skip_bad, || bar.inc(1), sink);
    bar.finish_and_clear();
    result.map_err(|err| match err.downcast::<ImageError>() {
        Ok(err) => anyhow!("{err} (pass --skip-bad to skip unreadable images)"),
        Err(other) => other,
    })
}

/// Prints the skipped files and writes them, tab-separated (`index path error`), to `list`.
pub fn report_skipped(skipped: &[Skipped], list: &Path) -> Result<()> {
    if skipped.is_empty() {
        return Ok(());
    }
    eprintln!(
        "skipped {} unreadable image(s); their rows are NaN:",
        skipped.len()
    );
    let mut text = String::new();
    for s in skipped {
        let (path, detail) = (s.error.path.display(), &s.error.detail);
        eprintln!("  #{} {path}: {detail}", s.index);
        text.push_str(&format!("{}\t{path}\t{detail}\n", s.index));
    }
    clip_model::fs::write_bytes_atomic(list, text.as_bytes())?;
    eprintln!("list of skipped images: {}", list.display());
    Ok(())
}
