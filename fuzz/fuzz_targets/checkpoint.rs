//! Arbitrary bytes as a checkpoint file (TorchScript or `torch.save` zip + pickle, legacy
//! pickles, safetensors): opening it, inferring its architecture and writing its tensors
//! back out must fail cleanly, never panic, hang or allocate what the file only claims.
#![no_main]

use std::sync::OnceLock;

use clip_model::{Checkpoint, SaveDtype};
use libfuzzer_sys::fuzz_target;

fn scratch() -> &'static tempfile::TempDir {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().expect("a scratch directory"))
}

fuzz_target!(|data: &[u8]| {
    let dir = scratch().path();
    let input = dir.join("input.bin");
    std::fs::write(&input, data).expect("scratch file");
    let Ok(checkpoint) = Checkpoint::open(&input) else {
        return;
    };
    let _ = checkpoint.shapes();
    if let Ok(config) = checkpoint.config() {
        // Reads every tensor's data through the same path loading does.
        let _ = checkpoint.save(&dir.join("out.safetensors"), &config, SaveDtype::Keep);
    }
});
