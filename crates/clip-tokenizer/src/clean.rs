//! Text cleaning, step for step as the reference:
//! `whitespace_clean(basic_clean(text)).lower()` where `basic_clean` is
//! `ftfy.fix_text` (the port in [`crate::ftfy`]), `html.unescape` twice and `str.strip`.

use std::sync::LazyLock;

use crate::bmp_set::BmpSet;
use crate::ftfy::fix_text;
use crate::html;

/// Python's `str.isspace()`: Unicode White_Space plus the separators U+001C..U+001F.
fn is_python_space(c: char) -> bool {
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

/// The full cleaning the encoder applies before splitting into words:
/// `whitespace_clean(basic_clean(text)).lower()`, collapsing and lowercasing in one pass.
pub fn clean(text: &str) -> String {
    let fixed = fix_text(text);
    let once = html::unescape(&fixed);
    let twice = html::unescape(&once);
    collapse_and_lower(python_strip(&twice))
}

/// `whitespace_clean(text).lower()` for a text `str.strip` leaves as it is: its ends are
/// not whitespace, so neither are the collapsed text's, and the second strip has nothing
/// to do. Lowercasing is per character except for `Σ`, whose lowercase depends on its
/// neighbours (final sigma), so text with one is lowercased as a whole.
fn collapse_and_lower(text: &str) -> String {
    if text.contains('Σ') {
        return whitespace_clean(text).to_lowercase();
    }
    let cased = &*CASED;
    let mut out = String::with_capacity(text.len());
    let mut in_space = false;
    for c in text.chars() {
        if c.is_whitespace() {
            in_space = true;
            continue;
        }
        if in_space {
            out.push(' ');
            in_space = false;
        }
        if c.is_ascii() {
            out.push(c.to_ascii_lowercase());
        } else if cased.contains(c) {
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// The characters whose lowercase is another (most scripts have no case, and the set spares
/// them the case table's binary search).
static CASED: LazyLock<BmpSet> = LazyLock::new(|| BmpSet::new(|c| c.to_lowercase().ne([c])));

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_texts::texts_over;
    use proptest::prelude::*;

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

    /// Whitespace of every kind, cased letters, `Σ` and entities.
    fn texts() -> impl Strategy<Value = String> {
        texts_over(" \t\n\x0b\x1c\x1f\u{85}\u{a0}\u{3000}aZ&;İΣσΑ.\u{301}", 24)
    }

    proptest! {
        #[test]
        fn one_pass_equals_the_reference_steps(text in texts()) {
            let twice = html::unescape(&html::unescape(&text)).into_owned();
            prop_assert_eq!(
                collapse_and_lower(python_strip(&twice)),
                whitespace_clean(python_strip(&twice)).to_lowercase()
            );
        }
    }

    #[test]
    fn final_sigma_follows_its_neighbours() {
        for text in ["ΟΔΥΣΣΕΥΣ", "aΣ b", "Σ", "aΣb", "Σa  Σ.  xΣ"] {
            assert_eq!(
                collapse_and_lower(text),
                whitespace_clean(text).to_lowercase(),
                "{text}"
            );
        }
    }

    #[test]
    fn whitespace_collapses_and_strips() {
        assert_eq!(whitespace_clean(" a \t\n b\u{3000}c  "), "a b c");
        assert_eq!(whitespace_clean("\u{1C}x\u{1C}y"), "x\u{1C}y");
    }
}
