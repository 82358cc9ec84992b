//! Properties that hold for every input, checked on arbitrary strings.

use clip_tokenizer::{Tokenizer, VOCAB_SIZE, clean};
use proptest::prelude::*;

/// `s` without the characters the reference's word pattern skips: whitespace, and U+0345,
/// which its case-insensitive classes leave out (it folds to a letter, so it is not "other",
/// but it is no letter itself).
fn without_skipped(s: &str) -> String {
    s.chars()
        .filter(|&c| !c.is_whitespace() && c != '\u{345}')
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Decoding the ids gives back the cleaned text: the reference's decoder
    /// puts a space after every word, so compare with whitespace (and U+0345) removed.
    #[test]
    fn decode_inverts_encode(text in "\\PC{0,40}|[ -~]{0,60}|.{0,20}|(a|\u{345}|\u{1fbc}| ){0,10}") {
        let tokenizer = Tokenizer::new();
        let ids = tokenizer.encode(&text);
        prop_assert!(ids.iter().all(|&id| (id as usize) < VOCAB_SIZE));
        let decoded = tokenizer.decode(&ids);
        prop_assert_eq!(without_skipped(&decoded), without_skipped(&clean(&text)));
    }

    /// Every row starts with SOT, ends with EOT at `length - 1`, is zero after,
    /// and truncation keeps the first tokens.
    #[test]
    fn tokenize_rows_are_well_formed(text in "\\PC{0,120}", context in 1usize..80) {
        let tokenizer = Tokenizer::new();
        let batch = tokenizer.tokenize(&[&text], context, true).unwrap();
        let len = batch.lengths[0];
        let row = batch.row(0);
        prop_assert!(len >= 1 && len <= context);
        prop_assert_eq!(row[len - 1], tokenizer.eot());
        prop_assert!(row[len..].iter().all(|&id| id == 0));
        let full = tokenizer.encode(&text);
        if context >= 2 {
            prop_assert_eq!(row[0], tokenizer.sot());
            let kept = (len - 2).min(full.len());
            prop_assert_eq!(&row[1..1 + kept], &full[..kept]);
        }
        prop_assert_eq!(tokenizer.tokenize(&[&text], context, false).is_ok(), full.len() + 2 <= context);
    }

    /// The cache shared across threads never changes an answer.
    #[test]
    fn batch_equals_one_by_one(texts in proptest::collection::vec("\\PC{0,30}", 0..16)) {
        let tokenizer = Tokenizer::new();
        let batch = tokenizer.tokenize(&texts, 77, true).unwrap();
        for (i, text) in texts.iter().enumerate() {
            let single = Tokenizer::new().tokenize(&[text], 77, true).unwrap();
            prop_assert_eq!(batch.row(i), single.row(0));
        }
    }
}
