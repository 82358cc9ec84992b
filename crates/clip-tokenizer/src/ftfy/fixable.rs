//! Where ftfy's fixers other than NFC could act: outside it, a pass over the text only
//! normalises, and ASCII text is left as it is without running ftfy at all.

use std::sync::LazyLock;

use regex::Regex;

/// Where some ftfy fixer other than NFC could change a text: its per-character fixers'
/// characters (`&`, ESC, controls, ligatures, full-width forms, curly quotes, line
/// breaks) and a widened `BADNESS_RE`, outside of which `fix_encoding` does nothing.
/// Written by `tests/reference/gen_ftfy_fixable.py` from ftfy 6.3.1.
static FIXABLE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(include_str!("../../data/ftfy_fixable.regex").trim_end()).expect("valid pattern")
});

/// True when `ftfy.fix_text` returns `text` unchanged, proven without running it.
///
/// ASCII text without control characters or `&` is untouched by every fixer (mojibake,
/// quotes, widths and ligatures need non-ASCII, terminal escapes need ESC, HTML needs
/// `&`, line breaks need CR). Other text is untouched when [`FIXABLE`] finds nothing and
/// it is already NFC — the claim each pass of [`super::fix_segment`] rests on when it
/// only normalises. A `false` only means "run ftfy". Only the tests ask: the driver checks
/// the two halves where they fall, [`needs_fixer`] after unescaping and NFC per pass.
#[cfg(test)]
pub(super) fn is_untouched(text: &str) -> bool {
    !needs_fixer(text) && matches!(super::nfc::to_nfc(text), std::borrow::Cow::Borrowed(_))
}

/// Whether some ftfy fixer other than NFC normalisation could change `text`.
pub(super) fn needs_fixer(text: &str) -> bool {
    if text.is_ascii() {
        !ascii_untouched(text)
    } else {
        FIXABLE.is_match(text)
    }
}

/// ASCII text that no fixer touches: no control characters but tab, newline and form feed,
/// and no `&`.
pub(super) fn ascii_untouched(text: &str) -> bool {
    text.bytes()
        .all(|b| matches!(b, b'\t' | b'\n' | b'\x0C' | b' '..=b'~') && b != b'&')
}
