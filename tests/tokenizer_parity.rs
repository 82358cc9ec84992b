//! The tokenizer against OpenAI's `simple_tokenizer.py` on the fixture corpus
//! written by `reference/tokenizer_fixtures.py`: every cleaning step, the ids,
//! the decoded text and `clip.tokenize`'s rows, for every text.

use clip_tests::fixture;
use clip_tokenizer::{Tokenizer, clean, ftfy, html};
use serde::Deserialize;

#[derive(Deserialize)]
struct Record {
    text: String,
    ftfy: String,
    basic: String,
    clean: String,
    ids: Vec<u32>,
    decoded: String,
}

fn records() -> Vec<Record> {
    let path = fixture("tokenizer/reference.jsonl");
    let text = std::fs::read_to_string(&path).expect("tokenizer fixtures present");
    let records: Vec<Record> = text
        .lines()
        .map(|line| serde_json::from_str(line).expect("fixture line is a record"))
        .collect();
    assert!(records.len() >= 500, "corpus too small: {}", records.len());
    records
}

/// Checks `step` on every record and reports all mismatches at once.
fn check(name: &str, step: impl Fn(&Record) -> (String, String)) {
    let records = records();
    let failures: Vec<String> = records
        .iter()
        .filter_map(|r| {
            let (got, want) = step(r);
            (got != want).then(|| format!("  {:?}\n    got  {got}\n    want {want}", r.text))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{name}: {} of {} texts differ from the reference:\n{}",
        failures.len(),
        records.len(),
        failures.join("\n")
    );
}

#[test]
fn ftfy_fix_text_matches() {
    check("ftfy.fix_text", |r| {
        (
            format!("{:?}", clean::fix_text(&r.text)),
            format!("{:?}", r.ftfy),
        )
    });
}

#[test]
fn ftfy_without_shortcut_matches() {
    check("ftfy.fix_text (full path)", |r| {
        (
            format!("{:?}", ftfy::fix_text(&r.text)),
            format!("{:?}", r.ftfy),
        )
    });
}

#[derive(Deserialize)]
struct Sample {
    text: String,
    ftfy: String,
}

/// ftfy's output on generated texts, one JSON line each: `ftfy_random.jsonl`, seeded random
/// texts over mojibake-prone characters (`reference/gen_ftfy_fixable.py`), and
/// `ftfy_mojibake.jsonl`, UTF-8 text decoded with the wrong codecs, in places, with lost bytes
/// (`reference/gen_ftfy_tables.py`).
fn samples(file: &str) -> Vec<Sample> {
    let text = std::fs::read_to_string(fixture(&format!("tokenizer/{file}"))).unwrap();
    text.lines()
        .map(|line| serde_json::from_str(line).expect("sample line"))
        .collect()
}

/// The ftfy port, with and without the shortcut, on every random and mojibake sample.
#[test]
fn ftfy_matches_on_random_and_mojibake_samples() {
    let samples: Vec<Sample> = samples("ftfy_random.jsonl")
        .into_iter()
        .chain(samples("ftfy_mojibake.jsonl"))
        .collect();
    let changed = samples.iter().filter(|s| s.text != s.ftfy).count();
    assert!(changed >= 2500, "only {changed} samples exercise a fixer");
    let failures: Vec<String> = samples
        .iter()
        .filter_map(|s| {
            let full = ftfy::fix_text(&s.text);
            let short = clean::fix_text(&s.text);
            (full != s.ftfy || short != s.ftfy)
                .then(|| format!("  {:?}\n    got  {full:?}\n    want {:?}", s.text, s.ftfy))
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

/// `clean::is_untouched` may only answer yes where ftfy returns the text unchanged, and
/// must answer yes for the plain non-ASCII texts it exists for.
#[test]
fn untouched_shortcut_is_sound() {
    let corpus = records();
    let samples = samples("ftfy_random.jsonl");
    let pairs = corpus
        .iter()
        .map(|r| (&r.text, &r.ftfy))
        .chain(samples.iter().map(|s| (&s.text, &s.ftfy)));
    let (mut taken, mut unchanged_non_ascii) = (0, 0);
    let mut unsound = Vec::new();
    for (text, fixed) in pairs {
        if !text.is_ascii() && text == fixed {
            unchanged_non_ascii += 1;
        }
        if clean::is_untouched(text) {
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

#[test]
fn basic_clean_matches() {
    check("basic_clean", |r| {
        (
            format!("{:?}", clean::basic_clean(&r.text)),
            format!("{:?}", r.basic),
        )
    });
}

#[test]
fn html_unescape_then_strip_matches_given_ftfy_output() {
    // Isolates the HTML step: start from the reference's own ftfy output.
    check("html.unescape x2 + strip", |r| {
        let twice = html::unescape(&html::unescape(&r.ftfy)).into_owned();
        (
            format!("{:?}", clean::python_strip(&twice)),
            format!("{:?}", r.basic),
        )
    });
}

#[test]
fn whitespace_clean_and_lower_match_given_basic_clean_output() {
    check("whitespace_clean + lower", |r| {
        (
            format!("{:?}", clean::whitespace_clean(&r.basic).to_lowercase()),
            format!("{:?}", r.clean),
        )
    });
}

#[test]
fn full_clean_matches() {
    check("clean", |r| {
        (
            format!("{:?}", clean::clean(&r.text)),
            format!("{:?}", r.clean),
        )
    });
}

#[test]
fn encode_matches() {
    let tokenizer = Tokenizer::new();
    check("encode", |r| {
        (
            format!("{:?}", tokenizer.encode(&r.text)),
            format!("{:?}", r.ids),
        )
    });
}

#[test]
fn decode_matches() {
    let tokenizer = Tokenizer::new();
    check("decode", |r| {
        (
            format!("{:?}", tokenizer.decode(&r.ids)),
            format!("{:?}", r.decoded),
        )
    });
}

#[test]
fn tokenize_rows_follow_clip_tokenize() {
    let tokenizer = Tokenizer::new();
    let records = records();
    let texts: Vec<&str> = records.iter().map(|r| r.text.as_str()).collect();
    let batch = tokenizer.tokenize(&texts, 77, true).unwrap();
    for (i, r) in records.iter().enumerate() {
        let mut want = vec![49406];
        want.extend(&r.ids);
        want.push(49407);
        if want.len() > 77 {
            want.truncate(77);
            want[76] = 49407;
        }
        assert_eq!(batch.lengths[i], want.len(), "{:?}", r.text);
        want.resize(77, 0);
        assert_eq!(batch.row(i), &want[..], "{:?}", r.text);
    }
    // Without truncation the first long text is named in the error.
    let first_long = records
        .iter()
        .position(|r| r.ids.len() + 2 > 77)
        .expect("corpus has long texts");
    let err = tokenizer
        .tokenize(&texts, 77, false)
        .unwrap_err()
        .to_string();
    assert!(err.contains(&format!("input {first_long} ")), "{err}");
}
