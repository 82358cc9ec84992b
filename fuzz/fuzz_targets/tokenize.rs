//! Arbitrary bytes through every public entry point: nothing may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let tokenizer = clip_tokenizer::Tokenizer::new();
    let text = String::from_utf8_lossy(data);
    let ids = tokenizer.encode(&text);
    let _ = tokenizer.decode(&ids);
    // Arbitrary ids, including ones outside the vocabulary.
    let raw: Vec<u32> = data.chunks(4).map(|c| c.iter().fold(0u32, |a, &b| a << 8 | u32::from(b))).collect();
    let _ = tokenizer.decode(&raw);
    let _ = tokenizer.try_decode(&raw);
    let context = data.first().map_or(77, |&b| usize::from(b % 80));
    let _ = tokenizer.tokenize(&[text.as_ref(), "a photo"], context, data.len() % 2 == 0);
});
