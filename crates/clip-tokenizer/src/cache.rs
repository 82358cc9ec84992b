//! The BPE cache: the ids of words already merged, kept per thread.
//!
//! A word's ids depend only on the word (the vocabulary is fixed), so every thread can keep
//! its own map and no lock or shared cache line is touched while encoding: a shared
//! concurrent cache made batch tokenization on two threads slower than on one. Each
//! [`Tokenizer`](crate::Tokenizer) (and its clones) owns a generation number; a thread's map
//! is emptied when another tokenizer uses it, so a new tokenizer starts cold, as the
//! reference's does. The map is emptied when full, which bounds memory however much
//! distinct text passes through.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use rustc_hash::FxBuildHasher;

/// Words kept per thread before the map is emptied.
const CACHE_WORDS: usize = 1 << 16;

static GENERATIONS: AtomicU64 = AtomicU64::new(1);

/// A fresh owner id for a new tokenizer.
pub(crate) fn new_generation() -> u64 {
    GENERATIONS.fetch_add(1, Ordering::Relaxed)
}

/// One thread's words → ids, for the tokenizer of generation `owner`.
pub(crate) struct WordCache {
    owner: u64,
    words: HashMap<Box<str>, Box<[u32]>, FxBuildHasher>,
}

thread_local! {
    static WORDS: RefCell<WordCache> = RefCell::new(WordCache {
        owner: 0,
        words: HashMap::default(),
    });
}

impl WordCache {
    /// Runs `f` with this thread's cache for the tokenizer of generation `owner`.
    pub(crate) fn with<R>(owner: u64, f: impl FnOnce(&mut WordCache) -> R) -> R {
        WORDS.with_borrow_mut(|cache| {
            if cache.owner != owner {
                cache.owner = owner;
                cache.words.clear();
            }
            f(cache)
        })
    }

    /// Appends the ids of `word` to `out`, computing them with `merge` (which appends
    /// them) on a miss.
    pub(crate) fn extend(
        &mut self,
        word: &str,
        out: &mut Vec<u32>,
        merge: impl FnOnce(&mut Vec<u32>),
    ) {
        if let Some(ids) = self.words.get(word) {
            out.extend_from_slice(ids);
            return;
        }
        let start = out.len();
        merge(out);
        if self.words.len() >= CACHE_WORDS {
            self.words.clear();
        }
        self.words.insert(word.into(), out[start..].into());
    }
}
