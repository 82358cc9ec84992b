//! Zero-shot classifier weights kept on disk, keyed by (weights, classes, templates), so a
//! repeated evaluation skips encoding thousands of prompts.

use std::path::Path;

use burn::tensor::{Tensor, TensorData};
use clip_model::fs::{FileError, write_bytes_atomic};
use clip_model::{Clip, to_f32_vec};
use clip_tokenizer::Tokenize;
use sha2::{Digest, Sha256};

use crate::{Prompts, ZeroShotError, zeroshot_classifier};

const MAGIC: &[u8; 8] = b"CLIPZS01";

/// The cache key: a digest of the weights' identity (`weights_id`: e.g. the file's path,
/// size and modification time, or its content digest), the context length, every class
/// and every template.
pub fn classifier_key(weights_id: &str, model: &Clip, prompts: &Prompts) -> String {
    let mut h = Sha256::new();
    h.update(weights_id.as_bytes());
    h.update([0]);
    h.update(model.config.context_length.to_le_bytes());
    for part in [&prompts.classes, &prompts.templates] {
        h.update((part.len() as u64).to_le_bytes());
        for s in part.iter() {
            h.update((s.len() as u64).to_le_bytes());
            h.update(s.as_bytes());
        }
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// [`zeroshot_classifier`], read from `dir/<key>.bin` when an earlier run stored it there
/// (a file that does not read back is recomputed), written there (atomically) otherwise.
/// Returns the weights and whether they came from the cache.
pub fn cached_classifier(
    model: &Clip,
    tokenizer: &impl Tokenize,
    prompts: &Prompts,
    batch_size: usize,
    dir: &Path,
    key: &str,
    progress: impl FnMut(usize),
) -> Result<(Tensor<2>, bool), ZeroShotError> {
    let file = dir.join(format!("{key}.bin"));
    let device = model.logit_scale.val().device();
    let expected = [model.config.embed_dim, prompts.classes.len()];
    if let Some((dims, values)) = read(&file).filter(|(d, _)| *d == expected) {
        return Ok((
            Tensor::from_data(TensorData::new(values, dims), &device),
            true,
        ));
    }
    let weights = zeroshot_classifier(model, tokenizer, prompts, batch_size, progress)?;
    let values = to_f32_vec(weights.clone());
    // A cache that cannot be written only costs the next run time.
    let _ = write(dir, &file, expected, &values);
    Ok((weights, false))
}

fn read(file: &Path) -> Option<([usize; 2], Vec<f32>)> {
    let bytes = std::fs::read(file).ok()?;
    let (magic, rest) = bytes.split_at_checked(8)?;
    if magic != MAGIC {
        return None;
    }
    let (head, data) = rest.split_at_checked(16)?;
    let rows = u64::from_le_bytes(head[..8].try_into().ok()?) as usize;
    let cols = u64::from_le_bytes(head[8..].try_into().ok()?) as usize;
    if data.len() != rows.checked_mul(cols)?.checked_mul(4)? {
        return None;
    }
    let values = data
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    Some(([rows, cols], values))
}

fn write(dir: &Path, file: &Path, dims: [usize; 2], values: &[f32]) -> Result<(), FileError> {
    std::fs::create_dir_all(dir).map_err(|error| FileError {
        path: dir.to_owned(),
        action: "create the cache directory",
        error,
    })?;
    let mut bytes = Vec::with_capacity(24 + 4 * values.len());
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&(dims[0] as u64).to_le_bytes());
    bytes.extend_from_slice(&(dims[1] as u64).to_le_bytes());
    bytes.extend(values.iter().flat_map(|v| v.to_le_bytes()));
    write_bytes_atomic(file, &bytes)
}

/// What identifies weights for [`classifier_key`]: a file's canonical path, size and
/// modification time (a rewritten file gets a new key); a model name or URL as given.
pub fn weights_identity(weights: &Path) -> String {
    match (weights.canonicalize(), std::fs::metadata(weights)) {
        (Ok(path), Ok(meta)) => {
            let modified = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos());
            format!("{}|{}|{modified}", path.display(), meta.len())
        }
        _ => weights.display().to_string(),
    }
}
