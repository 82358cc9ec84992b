//! Byte-pair merging of one pre-token, as the reference's `bpe()`.
//!
//! The reference repeatedly takes the lowest-ranked adjacent pair and merges
//! all its occurrences left to right. A pair containing a merged symbol always
//! ranks after the merge that made it, so processing single occurrences from a
//! min-heap ordered by (rank, position) performs the same merges in the same
//! order, in O(n log n) instead of O(n²) for long words.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::vocab::Vocab;

/// Merges the byte-level symbols of `word` (one pre-token's UTF-8 bytes) and
/// appends the resulting ids to `out`.
pub(crate) fn bpe(vocab: &Vocab, word: &[u8], out: &mut Vec<u32>) {
    // The last symbol carries `</w>`: its id is 256 after the bare byte's.
    let n = match word {
        [] => return,
        [byte] => return out.push(vocab.byte_id[*byte as usize] + 256),
        _ => word.len(),
    };
    let mut ids: Vec<u32> = word.iter().map(|&b| vocab.byte_id[b as usize]).collect();
    ids[n - 1] += 256;
    // Doubly linked list over positions; `usize::MAX` marks the ends.
    let mut prev: Vec<usize> = (0..n).map(|i| i.wrapping_sub(1)).collect();
    let mut next: Vec<usize> = (1..=n).collect();
    next[n - 1] = usize::MAX;
    let mut alive = vec![true; n];

    let mut heap = BinaryHeap::new();
    let push = |heap: &mut BinaryHeap<_>, ids: &[u32], left: usize, right: usize| {
        if let Some(&(rank, merged)) = vocab.merges.get(&(ids[left], ids[right])) {
            heap.push(Reverse((rank, left, right, merged)));
        }
    };
    for i in 0..n - 1 {
        push(&mut heap, &ids, i, i + 1);
    }
    while let Some(Reverse((_, left, right, merged))) = heap.pop() {
        // Skip entries made stale by an earlier merge of either side.
        if !alive[left] || !alive[right] || next[left] != right {
            continue;
        }
        let pair = (ids[left], ids[right]);
        if vocab.merges.get(&pair).map(|m| m.1) != Some(merged) {
            continue;
        }
        ids[left] = merged;
        alive[right] = false;
        next[left] = next[right];
        if next[right] != usize::MAX {
            prev[next[right]] = left;
        }
        if prev[left] != usize::MAX {
            push(&mut heap, &ids, prev[left], left);
        }
        if next[left] != usize::MAX {
            push(&mut heap, &ids, left, next[left]);
        }
    }
    let mut i = 0;
    while i != usize::MAX {
        out.push(ids[i]);
        i = next[i];
    }
}

#[cfg(test)]
mod tests {
    use super::bpe;
    use crate::vocab::OPENAI;
    use proptest::prelude::*;

    /// The reference algorithm, transcribed literally: find the lowest-ranked
    /// pair, merge all its occurrences left to right, repeat.
    fn reference_bpe(word: &[u8]) -> Vec<u32> {
        let v = &*OPENAI;
        let mut w: Vec<u32> = word.iter().map(|&b| v.byte_id[b as usize]).collect();
        *w.last_mut().unwrap() += 256;
        loop {
            let best = w
                .windows(2)
                .filter_map(|p| v.merges.get(&(p[0], p[1])).map(|m| (m.0, p[0], p[1], m.1)))
                .min();
            let Some((_, first, second, merged)) = best else {
                break;
            };
            let mut merged_word = Vec::with_capacity(w.len());
            let mut i = 0;
            while i < w.len() {
                if i + 1 < w.len() && w[i] == first && w[i + 1] == second {
                    merged_word.push(merged);
                    i += 2;
                } else {
                    merged_word.push(w[i]);
                    i += 1;
                }
            }
            w = merged_word;
        }
        w
    }

    fn heap_bpe(word: &[u8]) -> Vec<u32> {
        let mut out = Vec::new();
        bpe(&OPENAI, word, &mut out);
        out
    }

    #[test]
    fn repeated_symbols_merge_left_to_right() {
        for word in ["aaa", "aaaa", "aaaaa", "lolololol", "hello", "a"] {
            assert_eq!(
                heap_bpe(word.as_bytes()),
                reference_bpe(word.as_bytes()),
                "{word}"
            );
        }
    }

    proptest! {
        #[test]
        fn heap_merging_equals_reference_merging(word in "[a-e]{1,24}|\\PC{1,12}") {
            prop_assert_eq!(heap_bpe(word.as_bytes()), reference_bpe(word.as_bytes()));
        }
    }
}
