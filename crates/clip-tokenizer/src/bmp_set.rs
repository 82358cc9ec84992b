//! Character properties tested on every character of every text, kept as one bit per code
//! point of the Basic Multilingual Plane, where nearly all text lies.

/// A set of characters: a bitmap over the BMP, a predicate beyond it.
pub(crate) struct BmpSet {
    bits: Vec<u64>,
    beyond: fn(char) -> bool,
}

impl BmpSet {
    /// The characters for which `member` holds (evaluated once per BMP character here,
    /// and on each test beyond the BMP).
    pub(crate) fn new(member: fn(char) -> bool) -> Self {
        Self::build(
            (0..0x10000)
                .filter_map(char::from_u32)
                .filter(|&c| member(c)),
            member,
        )
    }

    /// The given characters, all in the BMP.
    pub(crate) fn of_chars(chars: impl IntoIterator<Item = char>) -> Self {
        Self::build(chars, |_| false)
    }

    fn build(chars: impl IntoIterator<Item = char>, beyond: fn(char) -> bool) -> Self {
        let mut bits = vec![0u64; 0x10000 / 64];
        for c in chars {
            let i = c as usize;
            assert!(i < 0x10000, "{c:?} is beyond the BMP");
            bits[i / 64] |= 1 << (i % 64);
        }
        BmpSet { bits, beyond }
    }

    #[inline]
    pub(crate) fn contains(&self, c: char) -> bool {
        let i = c as usize;
        match self.bits.get(i / 64) {
            Some(word) => word & (1 << (i % 64)) != 0,
            None => (self.beyond)(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::BmpSet;

    #[test]
    fn bitmap_and_predicate_agree() {
        let set = BmpSet::new(char::is_uppercase);
        for c in ['A', 'a', 'Ω', 'ω', '\u{FFFF}', '𐐀', '𐐨', '😀'] {
            assert_eq!(set.contains(c), c.is_uppercase(), "{c:?}");
        }
        let listed = BmpSet::of_chars(['x', '\u{3000}']);
        assert!(listed.contains('x') && listed.contains('\u{3000}'));
        assert!(!listed.contains('y') && !listed.contains('😀'));
    }
}
