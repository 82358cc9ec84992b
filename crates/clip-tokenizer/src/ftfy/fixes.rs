//! ftfy's per-character fixers (`ftfy.fixes`), each returning the text borrowed when it
//! has nothing to change.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::Regex;
use rustc_hash::FxHashMap;

use super::codecs::charmap;
use super::tables::{CONTROLS, CharMap, LIGATURES, QUOTES, WIDTH};
use crate::bmp_set::BmpSet;

/// `ftfy.fixes.ANSI_RE` (Python's `\d` is any decimal digit, as Rust's).
static ANSI_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\x1b\[((?:\d|;)*)([a-zA-Z])").expect("valid pattern"));

/// `text` with every character `f` replaces (pushing the replacement) rewritten.
fn map_chars(text: &str, mut f: impl FnMut(char, &mut String) -> bool) -> Cow<'_, str> {
    let mut scratch = String::new();
    let Some((at, first)) = text.char_indices().find(|&(_, c)| f(c, &mut scratch)) else {
        return Cow::Borrowed(text);
    };
    let mut out = String::with_capacity(text.len());
    out.push_str(&text[..at]);
    out.push_str(&scratch);
    for c in text[at + first.len_utf8()..].chars() {
        if !f(c, &mut out) {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// `str.translate` with one of ftfy's tables.
fn translate<'a>(text: &'a str, table: &CharMap) -> Cow<'a, str> {
    map_chars(text, |c, out| match table.get(c) {
        Some(to) => {
            out.push_str(to);
            true
        }
        None => false,
    })
}

/// ftfy's fixers after `fix_encoding`, in its order (`fix_surrogates` left out: Rust
/// strings hold no surrogates).
const SEQUENCE: [fn(&str) -> Cow<'_, str>; 7] = [
    fix_c1_controls,
    fix_latin_ligatures,
    fix_character_width,
    uncurl_quotes,
    fix_line_breaks,
    remove_terminal_escapes,
    remove_control_chars,
];

/// [`SEQUENCE`] composed into one table: what each character becomes after all of them.
/// Each fixer maps characters one by one, except at CR (CRLF is one line break) and ESC
/// (a terminal escape spans several characters), and none of them produces either, so on
/// text without CR and ESC the composition is exact.
struct Composed {
    /// The characters the table changes (all in the BMP).
    changed: BmpSet,
    table: FxHashMap<char, String>,
}

static COMPOSED: LazyLock<Composed> = LazyLock::new(|| {
    let candidates = [&*LIGATURES, &*WIDTH, &*QUOTES, &*CONTROLS]
        .into_iter()
        .flat_map(|t| t.chars())
        .chain(C1_CONTROLS)
        .chain(['\u{2028}', '\u{2029}']);
    let mut table = FxHashMap::default();
    for c in candidates.filter(|&c| c != '\r' && c != '\x1b') {
        let mut text = c.to_string();
        for fixer in SEQUENCE {
            text = fixer(&text).into_owned();
        }
        if text != c.to_string() {
            table.insert(c, text);
        }
    }
    Composed {
        changed: BmpSet::of_chars(table.keys().copied()),
        table,
    }
});

/// Every fixer after `fix_encoding`, in ftfy's order: one pass over the text through the
/// composed table, or the fixers one by one on text with CR or ESC.
pub(super) fn fix_characters(text: &str) -> Cow<'_, str> {
    if text.contains(['\r', '\x1b']) {
        let mut text = Cow::Borrowed(text);
        for fixer in SEQUENCE {
            if let Cow::Owned(next) = fixer(&text) {
                text = Cow::Owned(next);
            }
        }
        return text;
    }
    let composed = &*COMPOSED;
    map_chars(text, |c, out| {
        let hit = composed.changed.contains(c);
        if hit {
            out.push_str(&composed.table[&c]);
        }
        hit
    })
}

/// `chardata.C1_CONTROL_RE`'s characters, which Latin-1 has where Windows-1252 has others.
pub(super) const C1_CONTROLS: std::ops::RangeInclusive<char> = '\u{80}'..='\u{9F}';

/// `fix_c1_controls`: C1 controls (U+0080..U+009F) read as the Windows-1252 characters
/// of their bytes (ftfy's sloppy codec, which keeps the five Windows leaves undefined).
pub(super) fn fix_c1_controls(text: &str) -> Cow<'_, str> {
    let windows = charmap("sloppy-windows-1252");
    map_chars(text, |c, out| {
        let c1 = C1_CONTROLS.contains(&c);
        if c1 {
            out.push(
                windows
                    .decode_byte(c as u8)
                    .expect("sloppy codecs define every byte"),
            );
        }
        c1
    })
}

/// `fix_latin_ligatures`.
pub(super) fn fix_latin_ligatures(text: &str) -> Cow<'_, str> {
    translate(text, &LIGATURES)
}

/// `fix_character_width`.
pub(super) fn fix_character_width(text: &str) -> Cow<'_, str> {
    translate(text, &WIDTH)
}

/// `uncurl_quotes`.
pub(super) fn uncurl_quotes(text: &str) -> Cow<'_, str> {
    translate(text, &QUOTES)
}

/// `fix_line_breaks`: CRLF, then CR, LINE/PARAGRAPH SEPARATOR and NEL become `\n`.
pub(super) fn fix_line_breaks(text: &str) -> Cow<'_, str> {
    let breaks = |c: char| matches!(c, '\r' | '\u{2028}' | '\u{2029}' | '\u{85}');
    if !text.contains(breaks) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(text.replace("\r\n", "\n").replace(breaks, "\n"))
}

/// `remove_terminal_escapes`.
pub(super) fn remove_terminal_escapes(text: &str) -> Cow<'_, str> {
    if !text.contains('\x1b') {
        return Cow::Borrowed(text);
    }
    ANSI_RE.replace_all(text, "")
}

/// `remove_control_chars`.
pub(super) fn remove_control_chars(text: &str) -> Cow<'_, str> {
    translate(text, &CONTROLS)
}
