//! webdataset's shuffle buffer: samples enter a buffer of fixed size; once it is full, each
//! new sample takes the place of a randomly drawn one, which leaves; at the end the rest
//! leaves in random order. Memory is the buffer's, whatever the data set's size.

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

/// A bounded shuffle buffer with its own seeded generator.
pub struct ShuffleBuffer<T> {
    items: Vec<T>,
    capacity: usize,
    rng: StdRng,
}

impl<T> ShuffleBuffer<T> {
    /// A buffer of `capacity` (at least 1) drawing from `seed`.
    pub fn new(capacity: usize, seed: u64) -> Self {
        ShuffleBuffer {
            items: Vec::with_capacity(capacity.clamp(1, 1 << 16)),
            capacity: capacity.max(1),
            rng: StdRng::seed_from_u64(seed),
        }
    }

    /// Adds `item`; once the buffer is full, returns a randomly drawn one in exchange.
    pub fn push(&mut self, item: T) -> Option<T> {
        if self.items.len() < self.capacity {
            self.items.push(item);
            return None;
        }
        let j = self.rng.random_range(0..self.items.len());
        Some(std::mem::replace(&mut self.items[j], item))
    }

    /// A randomly drawn remaining item (for the end of the input).
    pub fn pop(&mut self) -> Option<T> {
        if self.items.is_empty() {
            return None;
        }
        let j = self.rng.random_range(0..self.items.len());
        Some(self.items.swap_remove(j))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(capacity: usize, seed: u64, n: usize) -> Vec<usize> {
        let mut buffer = ShuffleBuffer::new(capacity, seed);
        let mut out: Vec<usize> = (0..n).filter_map(|i| buffer.push(i)).collect();
        out.extend(std::iter::from_fn(|| buffer.pop()));
        out
    }

    #[test]
    fn emits_each_item_once_in_a_seeded_order_within_the_buffer_window() {
        let out = drain(10, 7, 100);
        let mut sorted = out.clone();
        sorted.sort();
        assert_eq!(sorted, (0..100).collect::<Vec<_>>());
        assert_eq!(out, drain(10, 7, 100));
        assert_ne!(out, drain(10, 8, 100));
        assert_ne!(out, (0..100).collect::<Vec<_>>());
        // The k-th emitted item entered at most `capacity` pushes after it.
        for (k, &item) in out.iter().enumerate().take(90) {
            assert!(item <= k + 10, "item {item} emitted {k}th");
        }
        assert_eq!(drain(1, 0, 5), [0, 1, 2, 3, 4]);
    }
}
