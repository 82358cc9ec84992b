//! ftfy 6.3.1's `fix_text` with its default configuration, as the reference calls it.
//!
//! A port of ftfy's driver and fixers: the text is fixed in `\n`-terminated segments;
//! HTML unescaping is switched off for good once a segment contains `<`; within a
//! segment the fixers run in ftfy's order until nothing changes. ftfy's tables (codecs,
//! the mojibake patterns, the per-character maps) are generated from ftfy itself by
//! `tests/reference/gen_ftfy_tables.py`. ASCII text no fixer acts on skips the port
//! ([`fix_text`]).

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::LazyLock;

use regex::Regex;

use crate::html;

mod codecs;
mod encoding;
mod fixable;
mod fixes;
mod nfc;
mod tables;
#[cfg(test)]
mod tests;

use fixable::{ascii_untouched, needs_fixer};
use nfc::to_nfc;

/// ftfy's `max_decode_length`: longer segments are cut into pieces this long.
const MAX_DECODE_LENGTH: usize = 1_000_000;

/// `ftfy.chardata.HTML_ENTITIES` (names without `&`/`;`), written out by
/// `tests/reference/gen_html_entities.py`.
static FTFY_ENTITIES: LazyLock<HashMap<&'static str, String>> =
    LazyLock::new(|| html::parse_table(include_str!("../../data/ftfy_entities.tsv")));

/// `ftfy.chardata.HTML_ENTITY_RE`.
static HTML_ENTITY_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"&#?[0-9A-Za-z]{1,24};").expect("valid pattern"));

/// `ftfy.fix_text(text)` with ftfy's default configuration, borrowed when unchanged.
///
/// ASCII text without control characters or `&` is returned as it is, without running
/// the port: no fixer acts on it, and most text the tokenizer sees is such. Everything
/// else goes through the port, each of whose passes only normalises where no other fixer
/// could act.
pub fn fix_text(text: &str) -> Cow<'_, str> {
    if text.is_ascii() && ascii_untouched(text) {
        Cow::Borrowed(text)
    } else {
        fix_segments(text)
    }
}

/// ftfy's driver, without [`fix_text`]'s shortcut: each segment through [`fix_segment`].
fn fix_segments(text: &str) -> Cow<'_, str> {
    // Built only once a segment changes.
    let mut out: Option<String> = None;
    let mut unescape = true;
    let mut start = 0;
    while start < text.len() {
        let rest = &text[start..];
        let mut end = rest.find('\n').map_or(rest.len(), |i| i + 1);
        // A segment of at most MAX_DECODE_LENGTH bytes has at most that many characters.
        if end > MAX_DECODE_LENGTH
            && let Some((cut, _)) = rest[..end].char_indices().nth(MAX_DECODE_LENGTH)
        {
            end = cut;
        }
        let segment = &rest[..end];
        if segment.contains('<') {
            unescape = false;
        }
        match (fix_segment(segment, unescape), &mut out) {
            (Cow::Borrowed(same), Some(out)) => out.push_str(same),
            (Cow::Borrowed(_), None) => {}
            (Cow::Owned(fixed), out) => out
                .get_or_insert_with(|| String::with_capacity(text.len()) + &text[..start])
                .push_str(&fixed),
        }
        start += end;
    }
    out.map_or(Cow::Borrowed(text), Cow::Owned)
}

/// ftfy's `fix_and_explain` on one segment: all fixers until a fixed point.
///
/// After HTML unescaping, a text no other fixer can change (see [`needs_fixer`], with `&`
/// — the unescaper's alone — masked) only gets NFC, which is what ftfy's remaining fixers
/// amount to on it.
fn fix_segment(segment: &str, unescape: bool) -> Cow<'_, str> {
    let mut text = Cow::Borrowed(segment);
    // Whether `text` is a previous pass's output, which is NFC.
    let mut normalized = false;
    loop {
        let mut fixed = if unescape {
            unescape_html(&text)
        } else {
            Cow::Borrowed(text.as_ref())
        };
        let masked = if fixed.contains('&') {
            Cow::Owned(fixed.replace('&', "%"))
        } else {
            Cow::Borrowed(fixed.as_ref())
        };
        if needs_fixer(&masked) {
            if let Cow::Owned(next) = encoding::fix_encoding(&fixed) {
                fixed = Cow::Owned(next);
            }
            if let Cow::Owned(next) = fixes::fix_characters(&fixed) {
                fixed = Cow::Owned(next);
            }
        }
        if normalized && matches!(fixed, Cow::Borrowed(_)) {
            return text;
        }
        if let Cow::Owned(next) = to_nfc(&fixed) {
            fixed = Cow::Owned(next);
        }
        match fixed {
            Cow::Owned(next) if next != text => {
                text = Cow::Owned(next);
                normalized = true;
            }
            _ => return text,
        }
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
