//! Python's `html.unescape`, exactly.
//!
//! The reference cleans text with `html.unescape(html.unescape(text))`, so the
//! tokenizer must reproduce Python's rules rather than a browser's: the HTML5
//! named-reference table (including legacy names without `;` and the
//! longest-prefix fallback), numeric references with or without `;`, and the
//! replacement tables for invalid code points.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::LazyLock;

/// `html.entities.html5`, written out by `tests/reference/gen_html_entities.py`.
static ENTITIES: LazyLock<HashMap<&'static str, String>> =
    LazyLock::new(|| parse_table(include_str!("../data/html5_entities.tsv")));

/// Parses `name<TAB>hex code points` lines.
pub(crate) fn parse_table(table: &'static str) -> HashMap<&'static str, String> {
    table
        .lines()
        .filter_map(|line| {
            let (name, points) = line.split_once('\t')?;
            let value = points
                .split(' ')
                .filter_map(|hex| u32::from_str_radix(hex, 16).ok().and_then(char::from_u32))
                .collect();
            Some((name, value))
        })
        .collect()
}

/// Python's `_invalid_charrefs` for 0x80..=0x9F: Windows-1252, except the five
/// bytes that code page leaves undefined, which stay as themselves.
const C1_REPLACEMENTS: [char; 32] = [
    '\u{20AC}', '\u{81}', '\u{201A}', '\u{0192}', '\u{201E}', '\u{2026}', '\u{2020}', '\u{2021}',
    '\u{02C6}', '\u{2030}', '\u{0160}', '\u{2039}', '\u{0152}', '\u{8D}', '\u{017D}', '\u{8F}',
    '\u{90}', '\u{2018}', '\u{2019}', '\u{201C}', '\u{201D}', '\u{2022}', '\u{2013}', '\u{2014}',
    '\u{02DC}', '\u{2122}', '\u{0161}', '\u{203A}', '\u{0153}', '\u{9D}', '\u{017E}', '\u{0178}',
];

/// Python's `_invalid_codepoints`: references to these expand to nothing.
fn is_invalid_codepoint(n: u32) -> bool {
    matches!(n, 0x1..=0x8 | 0xB | 0xE..=0x1F | 0x7F..=0x9F | 0xFDD0..=0xFDEF)
        || (n <= 0x10FFFF && (n & 0xFFFE) == 0xFFFE)
}

/// Replaces every character reference in `text` as `html.unescape` does.
pub fn unescape(text: &str) -> Cow<'_, str> {
    if !text.contains('&') {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        match reference_len(after) {
            Some(len) => {
                replace_reference(&after[..len], &mut out);
                rest = &after[len..];
            }
            None => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// Length in bytes of the reference after `&`, as Python's pattern
/// `&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)` would match it.
fn reference_len(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    let with_semicolon = |end: usize| {
        Some(if bytes.get(end) == Some(&b';') {
            end + 1
        } else {
            end
        })
    };
    if let Some(num) = s.strip_prefix('#') {
        let (digits, skip) = match num.as_bytes().first() {
            Some(b'x' | b'X') => (
                num[1..].bytes().take_while(u8::is_ascii_hexdigit).count(),
                2,
            ),
            _ => (num.bytes().take_while(u8::is_ascii_digit).count(), 1),
        };
        if digits > 0 {
            return with_semicolon(skip + digits);
        }
        // `&#x` without hex digits falls through to the name pattern, which
        // excludes '#', so nothing matches.
        return None;
    }
    let end = s
        .char_indices()
        .take(32)
        .take_while(|&(_, c)| !matches!(c, '\t' | '\n' | '\x0C' | ' ' | '<' | '&' | '#' | ';'))
        .last()
        .map(|(i, c)| i + c.len_utf8())?;
    with_semicolon(end)
}

/// Python's `_replace_charref` for one matched reference (without the `&`).
fn replace_reference(s: &str, out: &mut String) {
    if let Some(num) = s.strip_prefix('#') {
        let num = num.trim_end_matches(';');
        let value = match num.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16),
            None => num.parse::<u32>(),
        }
        .unwrap_or(u32::MAX); // only overflow can fail: Python's big int is > 0x10FFFF
        match value {
            0x00 => out.push('\u{FFFD}'),
            0x0D => out.push('\r'),
            0x80..=0x9F => out.push(C1_REPLACEMENTS[(value - 0x80) as usize]),
            0xD800..=0xDFFF | 0x110000.. => out.push('\u{FFFD}'),
            v if is_invalid_codepoint(v) => {}
            v => out.push(char::from_u32(v).expect("surrogates and out-of-range excluded above")),
        }
        return;
    }
    if let Some(value) = ENTITIES.get(s) {
        out.push_str(value);
        return;
    }
    // The longest prefix (of at least two characters) that names an entity.
    let boundaries: Vec<usize> = s.char_indices().map(|(i, _)| i).skip(2).collect();
    for &end in boundaries.iter().rev() {
        if let Some(value) = ENTITIES.get(&s[..end]) {
            out.push_str(value);
            out.push_str(&s[end..]);
            return;
        }
    }
    out.push('&');
    out.push_str(s);
}

#[cfg(test)]
mod tests {
    use super::unescape;

    #[test]
    fn named_numeric_and_legacy_references() {
        // Expected values from CPython 3.11 `html.unescape`.
        let cases = [
            ("&amp;", "&"),
            ("&amp", "&"),
            ("&amp;amp;", "&amp;"),
            ("&notit;", "¬it;"),
            ("&notin;", "∉"),
            ("&#39;", "'"),
            ("&#x27", "'"),
            ("&#X41;&#65", "AA"),
            ("&#0;", "\u{FFFD}"),
            ("&#128;", "€"),
            ("&#x81;", "\u{81}"),
            ("&#xD800;", "\u{FFFD}"),
            ("&#99999999999999999999;", "\u{FFFD}"),
            ("&#1;x", "x"),
            ("&#xFFFE;", ""),
            ("&#x", "&#x"),
            ("& amp;", "& amp;"),
            ("&unknown;", "&unknown;"),
            ("&ab", "&ab"),
            ("&lt&gt", "<>"),
            ("&NotEqualTilde;", "\u{2242}\u{338}"),
        ];
        for (input, expected) in cases {
            assert_eq!(unescape(input), expected, "input {input:?}");
        }
    }
}
