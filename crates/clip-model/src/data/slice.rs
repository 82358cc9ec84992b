//! Which rows of each global batch one rank of a multi-process run loads.

use std::ops::Range;

/// Rank `rank` of `ranks`: it loads rows `rank·n/ranks .. (rank+1)·n/ranks` of every global
/// batch of `n` (every row exactly once, sizes differing by at most one). The global batches
/// are the same on every rank, so the position in the data (epoch, batch, samples) is the
/// job's, not the rank's: a run resumes with any number of ranks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RankSlice {
    /// This rank, `0..ranks`.
    pub rank: usize,
    /// Ranks sharing each batch (at least 1).
    pub ranks: usize,
}

impl RankSlice {
    /// The whole batch: one process.
    pub const WHOLE: RankSlice = RankSlice { rank: 0, ranks: 1 };

    /// This rank's rows of a batch of `n`.
    pub fn rows(&self, n: usize) -> Range<usize> {
        let ranks = self.ranks.max(1);
        self.rank * n / ranks..(self.rank + 1) * n / ranks
    }

    /// Whether this is the whole batch.
    pub fn is_whole(&self) -> bool {
        self.ranks <= 1
    }
}

impl Default for RankSlice {
    fn default() -> Self {
        RankSlice::WHOLE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_row_once_in_rank_order() {
        for ranks in 1..5 {
            for n in 0..11 {
                let rows: Vec<usize> = (0..ranks)
                    .flat_map(|rank| RankSlice { rank, ranks }.rows(n))
                    .collect();
                assert_eq!(rows, (0..n).collect::<Vec<_>>(), "{ranks} ranks, {n} rows");
            }
        }
        assert_eq!(RankSlice { rank: 1, ranks: 3 }.rows(8), 2..5);
    }
}
