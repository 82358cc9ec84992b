//! Text cleaning, step for step as the reference:
//! `whitespace_clean(basic_clean(text)).lower()` where `basic_clean` is
//! `ftfy.fix_text`, `html.unescape` twice and `str.strip`.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::Regex;

use crate::html;

/// `ftfy.fix_text(text)` with ftfy's default configuration.
///
/// Texts no fixer would touch are returned as they are, after a cheap check
/// ([`is_untouched`]); everything else goes through [`crate::ftfy::fix_text`].
pub fn fix_text(text: &str) -> Cow<'_, str> {
    if is_untouched(text) {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(crate::ftfy::fix_text(text))
    }
}

/// Where some ftfy fixer other than NFC could change a text: its per-character fixers'
/// characters (`&`, ESC, controls, ligatures, full-width forms, curly quotes, line
/// breaks) and a widened `BADNESS_RE`, outside of which `fix_encoding` does nothing.
/// Written by `tests/reference/gen_ftfy_fixable.py` from ftfy 6.3.1.
static FIXABLE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(include_str!("../data/ftfy_fixable.regex").trim_end()).expect("valid pattern")
});

/// True when `ftfy.fix_text` returns `text` unchanged, proven without running it.
///
/// ASCII text without control characters or `&` is untouched by every fixer (mojibake,
/// quotes, widths and ligatures need non-ASCII, terminal escapes need ESC, HTML needs
/// `&`, line breaks need CR). Other text is untouched when [`FIXABLE`] finds nothing and
/// it is already NFC. A `false` only means "run ftfy".
pub fn is_untouched(text: &str) -> bool {
    if text.is_ascii() {
        return ascii_untouched(text);
    }
    !FIXABLE.is_match(text) && is_nfc(text)
}

/// Whether `text` is in Unicode normalisation form C. Below U+0300 every character is
/// its own NFC form and starts no composition (no combining marks, no decompositions), so
/// such text is answered without the normaliser's lookups.
pub(crate) fn is_nfc(text: &str) -> bool {
    text.chars().all(|c| c < '\u{300}') || unicode_normalization::is_nfc(text)
}

/// Whether some ftfy fixer other than NFC normalisation could change `text`.
pub(crate) fn needs_fixer(text: &str) -> bool {
    if text.is_ascii() {
        !ascii_untouched(text)
    } else {
        FIXABLE.is_match(text)
    }
}

/// ASCII text that no fixer touches: no control characters but tab, newline and form feed,
/// and no `&`.
fn ascii_untouched(text: &str) -> bool {
    text.bytes()
        .all(|b| matches!(b, b'\t' | b'\n' | b'\x0C' | b' '..=b'~') && b != b'&')
}

/// Python's `str.isspace()`: Unicode White_Space plus the separators U+001C..U+001F.
pub fn is_python_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1C}'..='\u{1F}').contains(&c)
}

/// Python's `str.strip()` with no arguments.
pub fn python_strip(text: &str) -> &str {
    text.trim_matches(is_python_space)
}

/// The reference's `basic_clean`: ftfy, `html.unescape` twice, strip.
pub fn basic_clean(text: &str) -> String {
    let fixed = fix_text(text);
    let once = html::unescape(&fixed);
    let twice = html::unescape(&once);
    python_strip(&twice).to_owned()
}

/// The reference's `whitespace_clean`: runs of `\s` (the `regex` module's
/// `\s`, which is Unicode White_Space) become one space, then strip.
pub fn whitespace_clean(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_space = false;
    for c in text.chars() {
        if c.is_whitespace() {
            in_space = true;
        } else {
            if in_space {
                out.push(' ');
                in_space = false;
            }
            out.push(c);
        }
    }
    if in_space {
        out.push(' ');
    }
    python_strip(&out).to_owned()
}

/// The full cleaning the encoder applies before splitting into words.
pub fn clean(text: &str) -> String {
    whitespace_clean(&basic_clean(text)).to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_whitespace_sets() {
        // CPython 3.11: str.isspace() holds for exactly these code points.
        let py: Vec<u32> = (0..=0x10FFFFu32)
            .filter_map(char::from_u32)
            .filter(|&c| is_python_space(c))
            .map(u32::from)
            .collect();
        let mut expected: Vec<u32> = vec![0x9, 0xA, 0xB, 0xC, 0xD, 0x1C, 0x1D, 0x1E, 0x1F, 0x20];
        expected.extend([0x85, 0xA0, 0x1680]);
        expected.extend(0x2000..=0x200A);
        expected.extend([0x2028, 0x2029, 0x202F, 0x205F, 0x3000]);
        assert_eq!(py, expected);
    }

    #[test]
    fn whitespace_collapses_and_strips() {
        assert_eq!(whitespace_clean(" a \t\n b\u{3000}c  "), "a b c");
        assert_eq!(whitespace_clean("\u{1C}x\u{1C}y"), "x\u{1C}y");
    }
}
