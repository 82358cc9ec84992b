//! ftfy's `fix_encoding`: undoing mojibake, text that was encoded as UTF-8 and decoded
//! with a single-byte codec (possibly several times, possibly only in places).

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::Regex;
use regex::bytes::Regex as BytesRegex;

use super::codecs::{charmap, charmap_encodings, decode_utf8_variants};
use super::fixes::{C1_CONTROLS, fix_c1_controls};
use super::tables::pattern;

fn compile(name: &str) -> Regex {
    Regex::new(pattern(name)).expect("valid generated pattern")
}

fn compile_bytes(name: &str) -> BytesRegex {
    BytesRegex::new(pattern(name)).expect("valid generated pattern")
}

/// `badness.BADNESS_RE`: sequences that are unlikely in real text and likely in mojibake.
static BADNESS: LazyLock<Regex> = LazyLock::new(|| compile("badness"));
/// The repeated group of `chardata.UTF8_DETECTOR_RE`: runs that look like UTF-8 bytes
/// decoded one by one.
static UTF8_DETECTOR: LazyLock<Regex> = LazyLock::new(|| compile("utf8_detector"));
/// The detector's negative lookbehind: such a run may not follow one of these.
static UTF8_CONTINUATION_STRICT: LazyLock<Regex> = LazyLock::new(|| {
    let class = pattern("utf8_continuation_strict");
    Regex::new(&format!("^{class}$")).expect("valid generated pattern")
});
/// `chardata.ALTERED_UTF8_RE`: UTF-8 sequences whose 0xA0 byte became a space.
static ALTERED_UTF8: LazyLock<BytesRegex> = LazyLock::new(|| compile_bytes("altered_utf8"));
/// `chardata.LOSSY_UTF8_RE`: UTF-8 sequences with bytes lost to 0x1A (U+FFFD) or `?`.
static LOSSY_UTF8: LazyLock<BytesRegex> = LazyLock::new(|| compile_bytes("lossy_utf8"));

/// `badness.is_bad`.
pub(super) fn is_bad(text: &str) -> bool {
    BADNESS.is_match(text)
}

/// `ftfy.fix_encoding`: one repair after another until nothing changes.
pub(super) fn fix_encoding(text: &str) -> Cow<'_, str> {
    let Some(mut fixed) = fix_one_step(text) else {
        return Cow::Borrowed(text);
    };
    let mut previous = text.to_owned();
    while fixed != previous {
        previous = fixed;
        fixed = match fix_one_step(&previous) {
            Some(next) => next,
            None => return Cow::Owned(previous),
        };
    }
    Cow::Owned(fixed)
}

/// `_fix_encoding_one_step_and_explain`; `None` where it returns the text unchanged.
fn fix_one_step(text: &str) -> Option<String> {
    if text.is_ascii() || !is_bad(text) {
        return None;
    }
    // The text as UTF-8 read through each single-byte codec in turn.
    let mut latin1 = false;
    for codec in charmap_encodings() {
        let Some(mut bytes) = codec.encode(text) else {
            continue;
        };
        latin1 |= codec.name == "latin-1";
        if codec.name != "macroman" && ALTERED_UTF8.is_match(&bytes) {
            bytes = restore_byte_a0(&bytes);
        }
        if codec.name.starts_with("sloppy")
            && let Cow::Owned(replaced) = LOSSY_UTF8.replace_all(&bytes, "\u{FFFD}".as_bytes())
        {
            bytes = replaced;
        }
        if let Some(fixed) = decode_utf8_variants(&bytes) {
            return Some(fixed);
        }
    }
    // UTF-8 mojibake in places only.
    if utf8_runs(text).next().is_some()
        && let Cow::Owned(fixed) = decode_inconsistent_utf8(text)
        && fixed != text
    {
        return Some(fixed);
    }
    // Latin-1 meant as Windows-1252. (ftfy's test for text that is also Windows-1252 looks
    // for "windows-1252" among codecs named "sloppy-windows-1252", so it never holds.)
    if latin1 {
        let bytes = charmap("latin-1").encode(text)?;
        if let Some(fixed) = charmap("windows-1252").decode(&bytes)
            && fixed != text
        {
            return Some(fixed);
        }
    }
    if text.contains(|c| C1_CONTROLS.contains(&c)) {
        return Some(fix_c1_controls(text).into_owned());
    }
    None
}

/// `UTF8_DETECTOR_RE.finditer(text)`: the detector's runs, left to right and not
/// overlapping, each not preceded by a strict continuation character.
fn utf8_runs(text: &str) -> impl Iterator<Item = regex::Match<'_>> {
    let mut at = 0;
    std::iter::from_fn(move || {
        while let Some(m) = UTF8_DETECTOR.find_at(text, at) {
            let before = text[..m.start()].chars().next_back();
            let blocked = before
                .is_some_and(|c| UTF8_CONTINUATION_STRICT.is_match(c.encode_utf8(&mut [0; 4])));
            if !blocked {
                at = m.end();
                return Some(m);
            }
            // Try again one character further on, as Python's scan does.
            at = m.start() + text[m.start()..].chars().next().map_or(1, char::len_utf8);
        }
        None
    })
}

/// `fixes.decode_inconsistent_utf8`: each run the detector finds, if shorter than the
/// whole text and bad on its own, is fixed on its own.
fn decode_inconsistent_utf8(text: &str) -> Cow<'_, str> {
    let total = text.chars().count();
    let mut out = String::new();
    let mut copied = 0;
    for m in utf8_runs(text) {
        let run = m.as_str();
        if run.chars().count() < total
            && is_bad(run)
            && let Cow::Owned(fixed) = fix_encoding(run)
        {
            out.push_str(&text[copied..m.start()]);
            out.push_str(&fixed);
            copied = m.end();
        }
    }
    if copied == 0 {
        return Cow::Borrowed(text);
    }
    out.push_str(&text[copied..]);
    Cow::Owned(out)
}

/// `fixes.restore_byte_a0`: spaces that were 0xA0 bytes inside UTF-8 sequences put back —
/// first `Ã ` (à) where not followed by a space or by "quele", "quela", "quilo" or "s ",
/// then every sequence `ALTERED_UTF8_RE` matches.
fn restore_byte_a0(bytes: &[u8]) -> Vec<u8> {
    const KEEP: [&[u8]; 5] = [b" ", b"quele", b"quela", b"quilo", b"s "];
    let mut grave = Vec::with_capacity(bytes.len() + 8);
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == 0xC3 && bytes.get(i + 1) == Some(&b' ') {
            let after = &bytes[i + 2..];
            if !KEEP.iter().any(|k| after.starts_with(k)) {
                grave.extend_from_slice(b"\xC3\xA0 ");
                i += 2;
                continue;
            }
        }
        grave.push(bytes[i]);
        i += 1;
    }
    let restored = ALTERED_UTF8.replace_all(&grave, |caps: &regex::bytes::Captures<'_>| {
        caps[0]
            .iter()
            .map(|&b| if b == b' ' { 0xA0 } else { b })
            .collect::<Vec<u8>>()
    });
    restored.into_owned()
}
