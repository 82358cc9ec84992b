//! Splitting cleaned text into words, as the reference's pattern
//! `<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+`
//! (Python's `regex` module, case-insensitive) does.
//!
//! A scanner follows the pattern's leftmost-first alternation character by character: a
//! special token or contraction where one starts, else a run of letters, one number or a
//! run of other characters; characters in none of the classes (whitespace) are skipped.
//! Which class each character is in is taken from Python's `regex` module itself
//! (`data/pretokenize_classes.tsv`, written by `tests/reference/gen_pretokenize_classes.py`):
//! Rust's regex crate disagrees on U+0345, which its `(?i)[\p{L}]` holds and Python's not.

use std::collections::HashMap;
use std::sync::LazyLock;

/// Where the pattern puts a character.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Class {
    /// In no class: between words.
    Skip,
    /// `[\p{L}]`, runs of which are one word.
    Letter,
    /// `[\p{N}]`, a word each.
    Number,
    /// `[^\s\p{L}\p{N}]`, runs of which are one word.
    Other,
}

/// Every character's [`Class`], as blocks of 256 code points shared where equal.
struct Classes {
    /// The ASCII characters' classes, looked up without decoding.
    ascii: [Class; 128],
    /// Block of each 256 code points: an index into `blocks`.
    index: Vec<u16>,
    blocks: Vec<[Class; 256]>,
    /// Characters other than an ASCII letter's two cases that match it case-insensitively
    /// (U+017F `ſ` matches `s`), with that letter.
    folds: Vec<(char, u8)>,
}

static CLASSES: LazyLock<Classes> = LazyLock::new(|| {
    let mut all = vec![Class::Other; 0x110000];
    let mut folds = Vec::new();
    let hex = |s: &str| u32::from_str_radix(s, 16).expect("hex code point");
    for line in include_str!("../data/pretokenize_classes.tsv").lines() {
        let cells: Vec<&str> = line.split('\t').collect();
        let class = match cells[0] {
            "fold" => {
                let c = char::from_u32(hex(cells[1])).expect("scalar value");
                folds.push((c, cells[2].as_bytes()[0]));
                continue;
            }
            "L" => Class::Letter,
            "N" => Class::Number,
            "O" => Class::Other,
            "-" => Class::Skip,
            other => panic!("pretokenize_classes.tsv: unknown class {other:?}"),
        };
        all[hex(cells[1]) as usize..=hex(cells[2]) as usize].fill(class);
    }
    let ascii = all[..128].try_into().expect("128 code points");
    let mut seen = HashMap::new();
    let mut blocks = Vec::new();
    let index = all
        .chunks_exact(256)
        .map(|chunk| {
            let block: [Class; 256] = chunk.try_into().expect("256 code points");
            *seen.entry(block).or_insert_with(|| {
                blocks.push(block);
                (blocks.len() - 1) as u16
            })
        })
        .collect();
    Classes {
        ascii,
        index,
        blocks,
        folds,
    }
});

impl Classes {
    #[inline]
    fn of(&self, c: char) -> Class {
        let i = c as usize;
        if i < 128 {
            return self.ascii[i];
        }
        self.blocks[self.index[i >> 8] as usize][i & 0xFF]
    }

    /// Bytes of the leading run of `text` in `class`.
    #[inline]
    fn run(&self, text: &str, class: Class) -> usize {
        text.char_indices()
            .find(|&(_, c)| self.of(c) != class)
            .map_or(text.len(), |(i, _)| i)
    }

    /// Bytes of the special token or contraction starting `text`, if one does.
    fn literal(&self, text: &str) -> Option<usize> {
        const LITERALS: [&str; 9] = [
            "<|startoftext|>",
            "<|endoftext|>",
            "'s",
            "'t",
            "'re",
            "'ve",
            "'m",
            "'ll",
            "'d",
        ];
        LITERALS.iter().find_map(|literal| {
            let mut chars = text.char_indices();
            for p in literal.bytes() {
                let (_, c) = chars.next()?;
                let same = if c.is_ascii() {
                    (c as u8).eq_ignore_ascii_case(&p)
                } else {
                    self.folds.contains(&(c, p))
                };
                if !same {
                    return None;
                }
            }
            Some(chars.next().map_or(text.len(), |(i, _)| i))
        })
    }
}

/// Calls `word` for each word of `text`, in order.
pub(crate) fn for_each_word<'a>(text: &'a str, mut word: impl FnMut(&'a str)) {
    let classes = &*CLASSES;
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        let len = match classes.of(c) {
            Class::Skip => {
                rest = &rest[c.len_utf8()..];
                continue;
            }
            Class::Letter => classes.run(rest, Class::Letter),
            Class::Number => c.len_utf8(),
            Class::Other => match c {
                '<' | '\'' => classes.literal(rest),
                _ => None,
            }
            .unwrap_or_else(|| classes.run(rest, Class::Other)),
        };
        word(&rest[..len]);
        rest = &rest[len..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use regex::Regex;

    fn words(text: &str) -> Vec<&str> {
        let mut out = Vec::new();
        for_each_word(text, |w| out.push(w));
        out
    }

    /// The pattern in Rust's regex crate, which agrees with Python's on ASCII.
    fn regex_words(text: &str) -> Vec<&str> {
        static PATTERN: LazyLock<Regex> = LazyLock::new(|| {
            Regex::new(
                r"(?i)<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+",
            )
            .expect("valid pattern")
        });
        PATTERN.find_iter(text).map(|m| m.as_str()).collect()
    }

    #[test]
    fn tricky_ascii() {
        for text in [
            "it's a dog's life, isn't it?!",
            "''s '''re 'x 'LL <|endoftext|>x!<|startoftext|> <|endoftext",
            "a1b22 3.5% \x1c\x1f\x00 tab\there",
            "!<|endoftext|>",
        ] {
            assert_eq!(words(text), regex_words(text), "{text:?}");
        }
    }

    /// Python's `findall` on seeded random texts over the characters that decide the split
    /// (`tests/reference/gen_pretokenize_classes.py`).
    #[test]
    fn matches_the_reference_pattern() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/fixtures/tokenizer/pretokenize.jsonl"
        );
        let fixture = std::fs::read_to_string(path).expect("pretokenize fixture");
        let mut checked = 0;
        for line in fixture.lines() {
            let sample: serde_json::Value = serde_json::from_str(line).expect("JSON line");
            let text = sample["text"].as_str().expect("text");
            let expected: Vec<&str> = sample["words"]
                .as_array()
                .expect("words")
                .iter()
                .map(|w| w.as_str().expect("word"))
                .collect();
            assert_eq!(words(text), expected, "{text:?}");
            checked += 1;
        }
        assert_eq!(checked, 2000);
    }

    proptest! {
        #[test]
        fn ascii_scan_equals_the_regex(text in "[ -~\t\n\x0b\x0c\r\x00-\x1f]{0,60}|((<\\|endoftext\\|>|<\\|startoftext\\|>|'s|'ll|'|[a-zA-Z0-9!<|> ]){0,20})") {
            prop_assert_eq!(words(&text), regex_words(&text));
        }
    }
}
