//! Helpers shared by the command-line tests: running the built `xtask`, fixture paths,
//! reading .npz members, and the one-line error contract.
#![allow(dead_code)] // each test binary uses its own subset

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A path under the repository's `tests/fixtures/`.
pub fn fixtures(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures")
        .join(relative)
}

/// Runs the built `xtask` binary with `args`.
pub fn xtask(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .output()
        .expect("xtask runs")
}

/// The run's stderr as text.
pub fn stderr(run: &Output) -> String {
    String::from_utf8_lossy(&run.stderr).into_owned()
}

/// One f32 array of an .npz written by numpy.
pub fn npz_f32(path: &Path, name: &str) -> ndarray::ArrayD<f32> {
    use ndarray_npy::ReadNpyExt;
    let mut zip = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    ndarray::ArrayD::<f32>::read_npy(zip.by_name(&format!("{name}.npy")).unwrap()).unwrap()
}

/// The run failed with exactly one `error: …` line on stderr, containing `needle`.
pub fn assert_one_line_error(run: &Output, needle: &str, what: &str) {
    assert!(!run.status.success(), "{what}: succeeded");
    let err = stderr(run);
    assert!(
        err.starts_with("error: ") && err.trim_end().lines().count() == 1 && err.contains(needle),
        "{what}: {err}"
    );
}

/// A tiny ViT CLIP for training tests (`--config`): 16-pixel images, one layer per tower.
pub const TINY_CONFIG: &str = r#"{
  "embed_dim": 16, "image_resolution": 16, "vision_layers": 1, "vision_width": 32,
  "vision_patch_size": 8, "context_length": 16, "vocab_size": 49408,
  "transformer_width": 32, "transformer_heads": 2, "transformer_layers": 1,
  "vision_head_width": 16
}"#;

/// The tensors of a safetensors file, by name, as raw bytes (for bit-exact comparisons).
pub fn tensors(path: &Path) -> Vec<(String, Vec<u8>)> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut out: Vec<(String, Vec<u8>)> = st
        .tensors()
        .into_iter()
        .map(|(name, view)| (name, view.data().to_vec()))
        .collect();
    out.sort();
    out
}
