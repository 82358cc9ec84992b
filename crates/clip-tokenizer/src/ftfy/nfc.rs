//! ftfy's last fixer, `unicodedata.normalize("NFC", text)`, applied piece by piece so that
//! text already in NFC is proven so without being copied.

use std::borrow::Cow;
use std::sync::LazyLock;

use unicode_normalization::{IsNormalized, UnicodeNormalization};

use crate::bmp_set::BmpSet;

/// `text` in NFC, borrowed when it already is.
///
/// Normalisation is local: before a character that [`is_nfc_boundary`], no character
/// combines with or is reordered past what precedes it, so the text is cut there into
/// pieces that normalise on their own, and only pieces with some other character in them
/// are normalised.
pub(super) fn to_nfc(text: &str) -> Cow<'_, str> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_texts::texts_over;
    use proptest::prelude::*;

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
}
