//! Arbitrary bytes through the restricted unpickler checkpoints and CIFAR are read with:
//! an error for anything it does not accept, never a panic, a hang or a huge allocation.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = clip_model::checkpoint::pickle::parse(data);
});
