//! File helpers shared by the commands: reading line files and writing
//! outputs atomically, so an interrupted run never leaves a half-written file.

use std::fs;
use std::path::Path;

use anyhow::{Context, Result};

pub use clip_model::fs::read_lines;

/// [`clip_model::fs::write_atomic`] with the command line's error type (for inference).
pub fn write_atomic(path: &Path, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    clip_model::fs::write_atomic(path, write)
}

/// An `.npz` (a zip of `.npy` members, as `numpy.savez` writes) built in memory.
#[derive(Default)]
pub struct NpzWriter {
    members: Vec<(String, Vec<u8>)>,
}

impl NpzWriter {
    /// Adds `array` as `name.npy`.
    pub fn add<A, S, D>(&mut self, name: &str, array: &ndarray::ArrayBase<S, D>) -> Result<()>
    where
        A: ndarray_npy::WritableElement,
        S: ndarray::Data<Elem = A>,
        D: ndarray::Dimension,
    {
        use ndarray_npy::WriteNpyExt;
        let mut bytes = Vec::new();
        array
            .write_npy(&mut bytes)
            .with_context(|| format!("encoding {name}"))?;
        self.members.push((format!("{name}.npy"), bytes));
        Ok(())
    }

    /// Writes the archive atomically.
    pub fn write(self, path: &Path) -> Result<()> {
        use std::io::Write;
        write_atomic(path, |tmp| {
            let file = fs::File::create(tmp)
                .with_context(|| format!("cannot create {}", path.display()))?;
            let mut zip = zip::ZipWriter::new(file);
            let options = zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Stored)
                .large_file(true);
            for (name, bytes) in &self.members {
                zip.start_file(name.as_str(), options)?;
                zip.write_all(bytes)?;
            }
            zip.finish()?;
            Ok(())
        })
        .with_context(|| format!("cannot write {}", path.display()))
    }
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

/// The header of a little-endian, C-order `.npy` (format 1.0), for writing rows as they
/// are produced instead of holding the whole array in memory.
pub struct NpyHeader {
    descr: &'static str,
    shape: Vec<usize>,
}

impl NpyHeader {
    /// An f32 array of `shape`.
    pub fn f32(shape: &[usize]) -> Self {
        NpyHeader {
            descr: "<f4",
            shape: shape.to_vec(),
        }
    }

    /// Writes magic, version and the header dict padded to a 64-byte boundary.
    pub fn write(&self, out: &mut impl std::io::Write) -> Result<()> {
        let dims: Vec<String> = self.shape.iter().map(usize::to_string).collect();
        let shape = match dims.len() {
            1 => format!("({},)", dims[0]),
            _ => format!("({})", dims.join(", ")),
        };
        let mut dict = format!(
            "{{'descr': '{}', 'fortran_order': False, 'shape': {shape}, }}",
            self.descr
        );
        let unpadded = 10 + dict.len() + 1;
        dict.push_str(&" ".repeat((64 - unpadded % 64) % 64));
        dict.push('\n');
        out.write_all(b"\x93NUMPY\x01\x00")?;
        out.write_all(&(dict.len() as u16).to_le_bytes())?;
        out.write_all(dict.as_bytes())?;
        Ok(())
    }
}

/// `clip.tokenize` of the lines of `path`; a line too long for the context is reported
/// by its line number with the `--truncate` hint.
pub fn tokenize_lines(
    lines: &[String],
    path: &Path,
    context_length: usize,
    truncate: bool,
) -> Result<clip_tokenizer::TokenBatch> {
    clip_tokenizer::Tokenizer::new()
        .tokenize(lines, context_length, truncate)
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
