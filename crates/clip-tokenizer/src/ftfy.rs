//! ftfy's `fix_text` with its default configuration, as the reference calls it.
//!
//! ftfy's driver is reproduced here: the text is fixed in `\n`-terminated
//! segments; HTML unescaping is switched off for good once a segment contains
//! `<`; within a segment the fixers run in ftfy's order until nothing changes.
//! The fixers whose port in `plsfix` agrees with ftfy (encoding repair, C1
//! controls, ligatures, character width, quotes, line breaks, NFC) come from
//! `plsfix`; HTML unescaping, terminal-escape and control-character removal,
//! where `plsfix` differs from ftfy 6.3, are written here. `plsfix` always
//! unescapes HTML (even where ftfy must not), so its input has each `&`
//! replaced by a stand-in that ftfy's mojibake heuristics treat alike (no
//! ASCII punctuation but a handful appears in them) and restored after.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::LazyLock;

use regex::Regex;
use unicode_normalization::UnicodeNormalization;

use crate::{clean, html};

/// ftfy's `max_decode_length`: longer segments are cut into pieces this long.
const MAX_DECODE_LENGTH: usize = 1_000_000;

/// `ftfy.chardata.HTML_ENTITIES` (names without `&`/`;`), written out by
/// `tests/reference/gen_html_entities.py`.
static FTFY_ENTITIES: LazyLock<HashMap<&'static str, String>> =
    LazyLock::new(|| html::parse_table(include_str!("../data/ftfy_entities.tsv")));

/// `ftfy.chardata.HTML_ENTITY_RE`.
static HTML_ENTITY_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"&#?[0-9A-Za-z]{1,24};").expect("valid pattern"));

/// `ftfy.fixes.ANSI_RE` (Python's `\d` is any decimal digit, as Rust's).
static ANSI_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\x1b\[((?:\d|;)*)([a-zA-Z])").expect("valid pattern"));

static PLSFIX_CONFIG: LazyLock<plsfix::TextFixerConfig> =
    LazyLock::new(|| plsfix::TextFixerConfig {
        unescape_html: Some(false),
        remove_terminal_escapes: false,
        remove_control_chars: false,
        ..Default::default()
    });

/// `ftfy.fix_text(text)`.
pub fn fix_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut unescape = true;
    let mut rest = text;
    while !rest.is_empty() {
        let mut end = rest.find('\n').map_or(rest.len(), |i| i + 1);
        if let Some((cut, _)) = rest[..end].char_indices().nth(MAX_DECODE_LENGTH) {
            end = cut;
        }
        let segment = &rest[..end];
        if segment.contains('<') {
            unescape = false;
        }
        out.push_str(&fix_segment(segment, unescape));
        rest = &rest[end..];
    }
    out
}

/// ftfy's `fix_and_explain` on one segment: all fixers until a fixed point.
///
/// After HTML unescaping, a text no other fixer can change (see
/// [`clean::needs_fixer`], with `&` — the unescaper's alone — masked) only gets NFC,
/// which is what ftfy's remaining fixers amount to on it; the rest run through plsfix.
fn fix_segment(segment: &str, unescape: bool) -> String {
    let mut text = segment.to_owned();
    loop {
        let before = text.clone();
        if unescape {
            text = unescape_html(&text).into_owned();
        }
        let masked = if text.contains('&') {
            Cow::Owned(text.replace('&', "%"))
        } else {
            Cow::Borrowed(text.as_str())
        };
        if clean::needs_fixer(&masked) {
            text = plsfix_without_html(&text);
            text = ANSI_RE.replace_all(&text, "").into_owned();
            let kept: String = text.chars().filter(|&c| !is_control(c)).collect();
            if kept != text {
                text = kept.nfc().collect();
            }
        } else if !unicode_normalization::is_nfc(&text) {
            text = text.nfc().collect();
        }
        if text == before {
            return text;
        }
    }
}

/// ASCII punctuation absent from ftfy's badness pattern, so swapping one for
/// `&` cannot change whether or how the encoding is repaired.
const AMPERSAND_STAND_INS: [char; 6] = ['%', '$', '@', '`', '~', '='];

/// `plsfix`'s fixers with `&` hidden from its HTML unescaping.
fn plsfix_without_html(text: &str) -> String {
    if !text.contains('&') {
        return plsfix::fix_text(text, Some(&PLSFIX_CONFIG));
    }
    // A stand-in must be absent even after compatibility mapping, since the
    // width fixer turns e.g. U+FF05 into '%'.
    let absent = |c: char| !text.nfkc().any(|d| d == c);
    match AMPERSAND_STAND_INS.iter().find(|&&c| absent(c)) {
        Some(&stand_in) => {
            let masked = text.replace('&', stand_in.encode_utf8(&mut [0; 4]));
            let fixed = plsfix::fix_text(&masked, Some(&PLSFIX_CONFIG));
            fixed.replace(stand_in, "&")
        }
        None => plsfix::fix_text(text, Some(&PLSFIX_CONFIG)),
    }
}

/// `ftfy.fixes.unescape_html`: only `&…;` forms, with ftfy's own table;
/// numeric references through `html.unescape` unless it leaves a `;`.
fn unescape_html(text: &str) -> Cow<'_, str> {
    if !text.contains('&') {
        return Cow::Borrowed(text);
    }
    HTML_ENTITY_RE.replace_all(text, |caps: &regex::Captures<'_>| {
        let entity = &caps[0];
        if let Some(value) = FTFY_ENTITIES.get(&entity[1..entity.len() - 1]) {
            return value.clone();
        }
        if entity.starts_with("&#") {
            let unescaped = html::unescape(entity);
            if !unescaped.contains(';') {
                return unescaped.into_owned();
            }
        }
        entity.to_owned()
    })
}

/// `ftfy.chardata.CONTROL_CHARS`, which `remove_control_chars` deletes.
fn is_control(c: char) -> bool {
    matches!(c,
        '\u{0}'..='\u{8}' | '\u{B}' | '\u{E}'..='\u{1F}' | '\u{7F}'
        | '\u{206A}'..='\u{206F}' | '\u{FEFF}' | '\u{FFF9}'..='\u{FFFC}')
}
