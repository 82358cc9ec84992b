//! Text cleaning, step for step as the reference:
//! `whitespace_clean(basic_clean(text)).lower()` where `basic_clean` is
//! `ftfy.fix_text`, `html.unescape` twice and `str.strip`.

use std::borrow::Cow;

use crate::html;

/// `ftfy.fix_text(text)` with ftfy's default configuration.
///
/// ASCII text without control characters, `&` or escapes is returned as is:
/// every ftfy fixer is the identity on it (mojibake, quotes, widths and
/// ligatures need non-ASCII, terminal escapes need ESC, HTML needs `&`, line
/// breaks need CR). Everything else goes through [`crate::ftfy::fix_text`].
pub fn fix_text(text: &str) -> Cow<'_, str> {
    let untouched = text
        .bytes()
        .all(|b| matches!(b, b'\t' | b'\n' | b'\x0C' | b' '..=b'~') && b != b'&');
    if untouched {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(crate::ftfy::fix_text(text))
    }
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
