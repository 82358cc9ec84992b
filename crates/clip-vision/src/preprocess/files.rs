//! Image files in: read, decode as Pillow opens them, preprocess (the `image` feature).

use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::{PilImage, Preprocessor, decode};

/// An image file that could not be read or decoded.
#[derive(Debug, thiserror::Error)]
#[error("{}: {detail}", path.display())]
pub struct ImageError {
    /// The file.
    pub path: PathBuf,
    /// What is wrong with it.
    pub detail: String,
}

/// Reads and decodes an image file in the mode Pillow would open it in.
pub fn open(path: impl AsRef<Path>) -> Result<PilImage, ImageError> {
    let path = path.as_ref();
    let error = |detail: String| ImageError {
        path: path.to_path_buf(),
        detail,
    };
    let bytes = std::fs::read(path).map_err(|e| error(e.to_string()))?;
    decode(&bytes).map_err(error)
}

impl Preprocessor {
    /// [`open`] then [`Preprocessor::pixels`].
    pub fn load(&self, path: impl AsRef<Path>) -> Result<Vec<f32>, ImageError> {
        Ok(self.pixels(&open(path)?))
    }

    /// [`Preprocessor::load`] of many files in parallel; results keep the input order.
    pub fn load_all<P: AsRef<Path> + Sync>(
        &self,
        paths: &[P],
    ) -> Vec<Result<Vec<f32>, ImageError>> {
        paths.par_iter().map(|p| self.load(p)).collect()
    }
}
