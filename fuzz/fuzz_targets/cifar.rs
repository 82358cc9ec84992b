//! Arbitrary bytes as CIFAR-10's `test_batch` (beside a valid `batches.meta`): read into
//! images and labels or refused with an error naming the file.
#![no_main]

use std::sync::OnceLock;

use clip_zeroshot::{Cifar, read_cifar};
use libfuzzer_sys::fuzz_target;

const META: &[u8] = include_bytes!("../../tests/fixtures/cifar/cifar-10-batches-py/batches.meta");

fn scratch() -> &'static tempfile::TempDir {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().expect("a scratch directory");
        std::fs::write(dir.path().join("batches.meta"), META).expect("meta file");
        dir
    })
}

fuzz_target!(|data: &[u8]| {
    let dir = scratch().path();
    std::fs::write(dir.join("test_batch"), data).expect("scratch file");
    let _ = read_cifar(dir, Cifar::Ten, true);
});
