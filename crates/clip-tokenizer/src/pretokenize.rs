//! Splitting cleaned text into words, as the reference's pattern
//! `<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+`
//! (case-insensitive) does.
//!
//! ASCII text — nearly every caption and prompt — is split by a hand-written scanner that
//! follows the pattern's leftmost-first alternation byte by byte; anything else goes
//! through the regex itself. Both are checked against each other by a property test.

use std::sync::LazyLock;

use regex::Regex;

static PRETOKEN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+",
    )
    .expect("the pre-tokenizer pattern is valid")
});

/// Calls `word` for each word of `text`, in order.
pub(crate) fn for_each_word<'a>(text: &'a str, mut word: impl FnMut(&'a str)) {
    if text.is_ascii() {
        ascii_words(text, word);
    } else {
        for m in PRETOKEN.find_iter(text) {
            word(m.as_str());
        }
    }
}

/// `\s` restricted to ASCII: Unicode White_Space (U+001C..U+001F are not in it).
fn is_space(b: u8) -> bool {
    matches!(b, b'\t' | b'\n' | b'\x0B' | b'\x0C' | b'\r' | b' ')
}

fn ascii_words<'a>(text: &'a str, mut word: impl FnMut(&'a str)) {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let rest = &bytes[i..];
        let b = rest[0];
        let len = if b.is_ascii_alphabetic() {
            rest.iter().take_while(|c| c.is_ascii_alphabetic()).count()
        } else if b.is_ascii_digit() {
            1
        } else if is_space(b) {
            i += 1;
            continue;
        } else if let Some(len) = special_or_contraction(rest) {
            len
        } else {
            rest.iter()
                .take_while(|&&c| !(c.is_ascii_alphanumeric() || is_space(c)))
                .count()
        };
        word(&text[i..i + len]);
        i += len;
    }
}

/// Length of a special token or contraction starting `rest`, if one does.
fn special_or_contraction(rest: &[u8]) -> Option<usize> {
    const FIXED: [&[u8]; 9] = [
        b"<|startoftext|>",
        b"<|endoftext|>",
        b"'s",
        b"'t",
        b"'re",
        b"'ve",
        b"'m",
        b"'ll",
        b"'d",
    ];
    FIXED
        .iter()
        .find(|f| rest.len() >= f.len() && rest[..f.len()].eq_ignore_ascii_case(f))
        .map(|f| f.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn regex_words(text: &str) -> Vec<&str> {
        PRETOKEN.find_iter(text).map(|m| m.as_str()).collect()
    }

    fn scanned(text: &str) -> Vec<&str> {
        let mut out = Vec::new();
        ascii_words(text, |w| out.push(w));
        out
    }

    #[test]
    fn tricky_ascii() {
        for text in [
            "it's a dog's life, isn't it?!",
            "''s '''re 'x 'LL <|endoftext|>x!<|startoftext|> <|endoftext",
            "a1b22 3.5% \x1c\x1f\x00 tab\there",
            "!<|endoftext|>",
        ] {
            assert_eq!(scanned(text), regex_words(text), "{text:?}");
        }
    }

    proptest! {
        #[test]
        fn scanner_equals_the_regex(text in "[ -~\t\n\x0b\x0c\r\x00-\x1f]{0,60}|((<\\|endoftext\\|>|<\\|startoftext\\|>|'s|'ll|'|[a-zA-Z0-9!<|> ]){0,20})") {
            prop_assert_eq!(scanned(&text), regex_words(&text));
        }
    }
}
