//! `--shard I/N`: which items one of N processes embeds. An item's part is a hash of its id,
//! so the split is the same on every machine and for every order of the inputs, and a grown
//! folder's new files spread over the parts without moving the old ones.

use std::fmt;
use std::str::FromStr;

use crate::CollectionError;

/// Part `index` of a split into `count` (0-based: `0/4` … `3/4`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Part {
    /// This part, `0..count`.
    pub index: u32,
    /// How many parts.
    pub count: u32,
}

impl Part {
    /// The whole collection: one part.
    pub const WHOLE: Part = Part { index: 0, count: 1 };

    /// Whether the item called `id` belongs to this part.
    pub fn contains(&self, id: &str) -> bool {
        self.count <= 1 || fnv1a(id.as_bytes()) % u64::from(self.count) == u64::from(self.index)
    }

    /// The prefix of this part's files: empty for the whole, else `I-of-N-`.
    pub fn file_prefix(&self) -> String {
        if self.count <= 1 {
            String::new()
        } else {
            format!("{:05}-of-{:05}-", self.index, self.count)
        }
    }
}

impl FromStr for Part {
    type Err = CollectionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || CollectionError::Part(s.to_owned());
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let index: u32 = i.trim().parse().map_err(|_| bad())?;
        let count: u32 = n.trim().parse().map_err(|_| bad())?;
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Part { index, count })
    }
}

impl fmt::Display for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// 64-bit FNV-1a: fixed by its definition, so every machine and Rust version agrees.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_cover_every_id_once() {
        let ids: Vec<String> = (0..1000).map(|i| format!("/photos/{i}.jpg")).collect();
        let parts: Vec<Part> = (0..4).map(|i| format!("{i}/4").parse().unwrap()).collect();
        let mut sizes = [0; 4];
        for id in &ids {
            let owners: Vec<usize> = (0..4).filter(|&p| parts[p].contains(id)).collect();
            assert_eq!(owners.len(), 1, "{id}");
            sizes[owners[0]] += 1;
        }
        assert!(sizes.iter().all(|&n| (200..300).contains(&n)), "{sizes:?}");
        assert!(Part::WHOLE.contains("/any"));
    }

    #[test]
    fn the_hash_is_fnv1a() {
        // Published FNV-1a 64 test vectors.
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn bad_parts_are_errors() {
        for bad in ["4/4", "1", "a/2", "0/0", "-1/2"] {
            assert!(bad.parse::<Part>().is_err(), "{bad}");
        }
        assert_eq!(
            "2/3".parse::<Part>().unwrap().file_prefix(),
            "00002-of-00003-"
        );
        assert_eq!("0/1".parse::<Part>().unwrap().file_prefix(), "");
    }
}
