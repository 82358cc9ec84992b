//! The data order: a pure function of (seed, epoch), so a resumed run sees exactly the
//! batches the uninterrupted one would have.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};

/// The order in which epoch `epoch` visits `n` images.
pub fn epoch_order(n: usize, seed: u64, epoch: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    let mut rng = StdRng::seed_from_u64(mix(seed, epoch as u64, 0x5eed));
    order.shuffle(&mut rng);
    order
}

/// Which of an image's `count` captions epoch `epoch` uses (one per image per epoch).
pub fn caption_choice(count: usize, seed: u64, epoch: usize, image: usize) -> usize {
    if count <= 1 {
        return 0;
    }
    let mut rng = StdRng::seed_from_u64(mix(seed, epoch as u64, image as u64 + 1));
    rng.random_range(0..count)
}

/// Three words mixed into one seed.
pub(crate) fn mix(a: u64, b: u64, c: u64) -> u64 {
    // SplitMix64 finaliser over the three words.
    let mut z = a ^ b.rotate_left(21) ^ c.rotate_left(42) ^ 0x9e37_79b9_7f4a_7c15;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_are_permutations_fixed_by_seed_and_epoch() {
        let a = epoch_order(100, 3, 0);
        let mut sorted = a.clone();
        sorted.sort();
        assert_eq!(sorted, (0..100).collect::<Vec<_>>());
        assert_eq!(a, epoch_order(100, 3, 0));
        assert_ne!(a, epoch_order(100, 3, 1));
        assert_ne!(a, epoch_order(100, 4, 0));
        let picks: Vec<usize> = (0..50).map(|i| caption_choice(5, 1, 0, i)).collect();
        assert!(picks.iter().all(|&p| p < 5));
        assert!(picks.iter().any(|&p| p != picks[0]));
    }
}
