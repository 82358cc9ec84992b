//! The port against ftfy itself, with and without [`fix_text`]'s shortcut, and the
//! shortcut's proof against ftfy's answers: here rather than in `tests/tokenizer_parity.rs`
//! because the full path and the proof are private. The texts and ftfy's output on them are
//! fixtures: `reference.jsonl` (`tests/reference/tokenizer_fixtures.py`), `ftfy_random.jsonl`,
//! seeded random texts over mojibake-prone characters (`tests/reference/gen_ftfy_fixable.py`),
//! and `ftfy_mojibake.jsonl`, UTF-8 text decoded with the wrong codecs, in places, with lost
//! bytes (`tests/reference/gen_ftfy_tables.py`).

use super::fixable::is_untouched;
use super::{fix_segments, fix_text};

/// Each line's `text` and what `ftfy.fix_text` made of it, from a tokenizer fixture.
fn samples(file: &str) -> Vec<(String, String)> {
    let path = format!(
        "{}/../../tests/fixtures/tokenizer/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.lines()
        .map(|line| {
            let sample: serde_json::Value = serde_json::from_str(line).expect("JSON line");
            let field = |name: &str| sample[name].as_str().expect(name).to_owned();
            (field("text"), field("ftfy"))
        })
        .collect()
}

/// The reference corpus, every cleaning step's fixture.
fn corpus() -> Vec<(String, String)> {
    let records = samples("reference.jsonl");
    assert!(records.len() >= 500, "corpus too small: {}", records.len());
    records
}

#[test]
fn without_shortcut_matches_on_the_corpus() {
    let records = corpus();
    let failures: Vec<String> = records
        .iter()
        .filter_map(|(text, ftfy)| {
            let got = fix_segments(text);
            (got != *ftfy).then(|| format!("  {text:?}\n    got  {got:?}\n    want {ftfy:?}"))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "ftfy.fix_text (full path): {} of {} texts differ from the reference:\n{}",
        failures.len(),
        records.len(),
        failures.join("\n")
    );
}

/// The port, with and without the shortcut, on every random and mojibake sample.
#[test]
fn matches_on_random_and_mojibake_samples() {
    let samples: Vec<(String, String)> = samples("ftfy_random.jsonl")
        .into_iter()
        .chain(samples("ftfy_mojibake.jsonl"))
        .collect();
    let changed = samples.iter().filter(|(text, ftfy)| text != ftfy).count();
    assert!(changed >= 2500, "only {changed} samples exercise a fixer");
    let failures: Vec<String> = samples
        .iter()
        .filter_map(|(text, ftfy)| {
            let full = fix_segments(text);
            let short = fix_text(text);
            (full != *ftfy || short != *ftfy)
                .then(|| format!("  {text:?}\n    got  {full:?}\n    want {ftfy:?}"))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} samples differ from ftfy:\n{}",
        failures.len(),
        samples.len(),
        failures
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// `is_untouched` may only answer yes where ftfy returns the text unchanged, and must answer
/// yes for the plain non-ASCII texts it exists for.
#[test]
fn untouched_shortcut_is_sound() {
    let pairs = corpus().into_iter().chain(samples("ftfy_random.jsonl"));
    let (mut taken, mut unchanged_non_ascii) = (0, 0);
    let mut unsound = Vec::new();
    for (text, fixed) in pairs {
        if !text.is_ascii() && text == fixed {
            unchanged_non_ascii += 1;
        }
        if is_untouched(&text) {
            taken += !text.is_ascii() as usize;
            if text != fixed {
                unsound.push(format!("{text:?} → {fixed:?}"));
            }
        }
    }
    assert!(
        unsound.is_empty(),
        "shortcut taken where ftfy changes the text:\n{}",
        unsound.join("\n")
    );
    eprintln!("shortcut taken for {taken} of {unchanged_non_ascii} unchanged non-ASCII texts");
    assert!(
        taken * 2 > unchanged_non_ascii,
        "{taken} of {unchanged_non_ascii}"
    );
}
