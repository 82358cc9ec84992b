//! Text strategies shared by the unit tests' properties.

use proptest::prelude::*;

/// Texts drawn mostly from `chars`, with any character now and then (a regex strategy
/// would merge the classes into one and draw `chars` rarely).
pub(crate) fn texts_over(chars: &str, max_len: usize) -> impl Strategy<Value = String> {
    let chars: Vec<char> = chars.chars().collect();
    proptest::collection::vec(
        prop_oneof![5 => proptest::sample::select(chars), 1 => any::<char>()],
        0..max_len,
    )
    .prop_map(|chars| chars.into_iter().collect())
}
