//! The tokenizer against OpenAI's `simple_tokenizer.py` on the fixture corpus
//! written by `reference/tokenizer_fixtures.py`: every cleaning step, the ids,
//! the decoded text and `clip.tokenize`'s rows, for every text.

use clip_tests::fixture;
use clip_tokenizer::{
    Tokenizer, basic_clean, clean, fix_text, html_unescape, python_strip, whitespace_clean,
};
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
        (format!("{:?}", fix_text(&r.text)), format!("{:?}", r.ftfy))
    });
}

#[test]
fn basic_clean_matches() {
    check("basic_clean", |r| {
        (
            format!("{:?}", basic_clean(&r.text)),
            format!("{:?}", r.basic),
        )
    });
}

#[test]
fn html_unescape_then_strip_matches_given_ftfy_output() {
    // Isolates the HTML step: start from the reference's own ftfy output.
    check("html.unescape x2 + strip", |r| {
        let twice = html_unescape(&html_unescape(&r.ftfy)).into_owned();
        (
            format!("{:?}", python_strip(&twice)),
            format!("{:?}", r.basic),
        )
    });
}

#[test]
fn whitespace_clean_and_lower_match_given_basic_clean_output() {
    check("whitespace_clean + lower", |r| {
        (
            format!("{:?}", whitespace_clean(&r.basic).to_lowercase()),
            format!("{:?}", r.clean),
        )
    });
}

#[test]
fn full_clean_matches() {
    check("clean", |r| {
        (format!("{:?}", clean(&r.text)), format!("{:?}", r.clean))
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

/// One text of `reference/hf_tokenizer_fixtures.py`: open_clip's `HFTokenizer` rows (context
/// 64, `clean="canonicalize"`) for SigLIP's SentencePiece and SigLIP 2's Gemma tokenizers.
#[derive(Deserialize)]
struct HfRecord {
    text: String,
    clean: String,
    siglip: Vec<u32>,
    gemma: Vec<u32>,
}

#[test]
fn siglip_and_gemma_tokenizers_match_open_clip() {
    use clip_tokenizer::{HfTokenizer, TextClean};
    let path = fixture("tokenizer/hf_reference.jsonl");
    let records: Vec<HfRecord> = std::fs::read_to_string(&path)
        .expect("fixture present")
        .lines()
        .map(|line| serde_json::from_str(line).expect("a record"))
        .collect();
    assert!(records.len() >= 500, "corpus too small: {}", records.len());
    let texts: Vec<&str> = records.iter().map(|r| r.text.as_str()).collect();
    let mut failures = Vec::new();
    for r in &records {
        let got = TextClean::Canonicalize.apply(&r.text);
        if got != r.clean {
            failures.push(format!(
                "clean {:?}\n    got  {got:?}\n    want {:?}",
                r.text, r.clean
            ));
        }
    }
    let mut truncated = 0;
    for (name, want) in [
        (
            "siglip",
            records.iter().map(|r| &r.siglip).collect::<Vec<_>>(),
        ),
        ("gemma", records.iter().map(|r| &r.gemma).collect()),
    ] {
        let dir = fixture(&format!("tokenizer/{name}"));
        let tokenizer =
            HfTokenizer::from_file(&dir.join("tokenizer.json"), TextClean::Canonicalize)
                .unwrap_or_else(|e| panic!("{e}"));
        let batch = tokenizer.tokenize(&texts, 64, true).unwrap();
        for (i, want) in want.iter().enumerate() {
            if batch.row(i) != want.as_slice() {
                failures.push(format!(
                    "{name} {:?}\n    got  {:?}\n    want {want:?}",
                    texts[i],
                    batch.row(i)
                ));
            }
        }
        // Without truncation a text that does not fit is an error naming it.
        let long = texts
            .iter()
            .position(|t| tokenizer.tokenize(&[t], 64, false).is_err());
        truncated += usize::from(long.is_some());
    }
    assert_eq!(truncated, 2, "the corpus has texts longer than the context");
    assert!(
        failures.is_empty(),
        "{} of {} differ:\n{}",
        failures.len(),
        2 * records.len(),
        failures[..failures.len().min(8)].join("\n")
    );
}
