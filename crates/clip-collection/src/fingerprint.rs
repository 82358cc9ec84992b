//! Which weights made a collection's features, checkable on any machine without the file.

use clip_model::{Clip, to_f32_vec};
use sha2::{Digest, Sha256};

/// The first 16 hex digits of the SHA-256 of the text projection's values as f16: the same
/// for a model loaded in f32 or f16 from one checkpoint, different for other weights.
pub fn fingerprint(model: &Clip) -> String {
    let values = to_f32_vec(model.text.text_projection.val());
    let mut hasher = Sha256::new();
    for v in values {
        hasher.update(half::f16::from_f32(v).to_le_bytes());
    }
    hasher.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
