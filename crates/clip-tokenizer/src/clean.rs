//! Text cleaning, step for step as the reference:
//! `whitespace_clean(basic_clean(text)).lower()` where `basic_clean` is
//! `ftfy.fix_text`, `html.unescape` twice and `str.strip`.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::Regex;
use unicode_normalization::{IsNormalized, UnicodeNormalization};

use crate::bmp_set::BmpSet;
use crate::html;

/// `ftfy.fix_text(text)` with ftfy's default configuration, borrowed when unchanged.
///
/// ASCII text without control characters or `&` is returned as it is (see
/// [`is_untouched`]); everything else goes through [`crate::ftfy::fix_text`], whose
/// passes check [`FIXABLE`] themselves.
pub fn fix_text(text: &str) -> Cow<'_, str> {
    if text.is_ascii() && ascii_untouched(text) {
        Cow::Borrowed(text)
    } else {
        crate::ftfy::fix_text(text)
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
/// it is already NFC — the claim each pass of [`crate::ftfy::fix_text`] rests on when it
/// only normalises. A `false` only means "run ftfy".
pub fn is_untouched(text: &str) -> bool {
    !needs_fixer(text) && matches!(to_nfc(text), Cow::Borrowed(_))
}

/// `text` in NFC, borrowed when it already is.
///
/// Normalisation is local: before a character that [`is_nfc_boundary`], no character
/// combines with or is reordered past what precedes it, so the text is cut there into
/// pieces that normalise on their own, and only pieces with some other character in them
/// are normalised.
pub(crate) fn to_nfc(text: &str) -> Cow<'_, str> {
    let mut out: Option<String> = None;
    // The current piece: where it starts, and whether it holds a non-boundary character.
    let (mut start, mut plain) = (0, true);
    let settle = |start: usize, end: usize, out: &mut Option<String>| {
        let piece = &text[start..end];
        let normalized: String = piece.nfc().collect();
        if let Some(out) = out {
            out.push_str(&normalized);
        } else if normalized != piece {
            *out = Some(String::with_capacity(text.len() + 8) + &text[..start] + &normalized);
        }
    };
    for (i, c) in text.char_indices() {
        if is_nfc_boundary(c) {
            match (&mut out, plain) {
                (_, false) => settle(start, i, &mut out),
                (Some(out), true) => out.push_str(&text[start..i]),
                (None, true) => {}
            }
            (start, plain) = (i, true);
        } else {
            plain = false;
        }
    }
    match (&mut out, plain) {
        (_, false) => settle(start, text.len(), &mut out),
        (Some(out), true) => out.push_str(&text[start..]),
        (None, true) => {}
    }
    out.map_or(Cow::Borrowed(text), Cow::Owned)
}

/// A character that is NFC on its own, with combining class 0, and that never comes second
/// in a canonical composition (`NFC_Quick_Check=Yes`): normalisation neither combines it
/// with nor reorders it past anything before it. Every character below U+0300 is one.
fn is_nfc_boundary(c: char) -> bool {
    static BOUNDARIES: LazyLock<BmpSet> = LazyLock::new(|| {
        BmpSet::new(|c| {
            unicode_normalization::char::canonical_combining_class(c) == 0
                && unicode_normalization::is_nfc_quick(std::iter::once(c)) == IsNormalized::Yes
        })
    });
    c < '\u{300}' || BOUNDARIES.contains(c)
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

    /// Texts drawn mostly from `chars`, with any character now and then (a regex strategy
    /// would merge the classes into one and draw `chars` rarely).
    fn texts_over(chars: &str, max_len: usize) -> impl Strategy<Value = String> {
        let chars: Vec<char> = chars.chars().collect();
        proptest::collection::vec(
            prop_oneof![5 => proptest::sample::select(chars), 1 => any::<char>()],
            0..max_len,
        )
        .prop_map(|chars| chars.into_iter().collect())
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

    /// Combining marks, Hangul jamo and syllables, composable letters and the Indic vowel
    /// signs that combine as second characters.
    fn nfc_texts() -> impl Strategy<Value = String> {
        texts_over(
            "aeAEoOìé\u{300}\u{301}\u{308}\u{323}\u{327}\u{344}\u{345}\u{1100}\u{1161}\u{11a8}\u{ac00}\u{ac01}\u{b47}\u{b3e}\u{b57}\u{cc6}\u{cd5}\u{dd9}\u{dcf}\u{1b05}\u{1b35}\u{2adc}\u{338}\u{3d2}\u{fb2a}\u{5bc}\u{1d15e}\u{1d165}",
            16,
        )
    }

    proptest! {
        #[test]
        fn local_nfc_equals_whole_text_nfc(text in nfc_texts()) {
            let whole: String = text.nfc().collect();
            let local = to_nfc(&text);
            prop_assert_eq!(&*local, whole.as_str());
            prop_assert_eq!(matches!(local, Cow::Borrowed(_)), whole == text);
        }
    }

    /// What the pieces rest on: after any of these prefixes, every boundary character
    /// leaves the prefix's normalisation as it is.
    #[test]
    fn nfc_boundaries_cut_normalisation() {
        let prefixes = [
            "e", "\u{1100}", "\u{ac00}", "a\u{301}", "\u{b47}", "\u{cc6}", "\u{dd9}", "\u{1b05}",
            "=", "\u{5d9}",
        ];
        let mut boundaries = 0;
        for c in (0..0x110000)
            .filter_map(char::from_u32)
            .filter(|&c| is_nfc_boundary(c))
        {
            boundaries += 1;
            for prefix in prefixes {
                let joined: String = format!("{prefix}{c}").nfc().collect();
                let apart: String = prefix.nfc().chain(std::iter::once(c).nfc()).collect();
                assert_eq!(joined, apart, "{prefix:?} + {c:?}");
            }
        }
        assert!(boundaries > 1_000_000, "{boundaries}");
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
