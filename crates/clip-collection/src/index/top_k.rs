//! Exact top-k: every row scored against the query, in parallel blocks whose bests are merged.

use std::cmp::Ordering;

use rayon::prelude::*;

/// The `k` rows of `matrix` (`[rows · width]`, unit rows) with the largest dot product with
/// `query`, best first; ties keep the earlier row.
pub(super) fn exact_top_k(
    matrix: &[f32],
    width: usize,
    query: &[f32],
    k: usize,
) -> Vec<(usize, f32)> {
    const BLOCK: usize = 1024;
    matrix
        .par_chunks(width * BLOCK)
        .enumerate()
        .map(|(block, rows)| {
            let mut top = TopK::new(k);
            for (i, row) in rows.chunks_exact(width).enumerate() {
                let score = row.iter().zip(query).map(|(a, b)| a * b).sum();
                top.push(block * BLOCK + i, score);
            }
            top
        })
        .reduce(
            || TopK::new(k),
            |mut a, b| {
                for (i, s) in b.items {
                    a.push(i, s);
                }
                a
            },
        )
        .items
}

/// The `k` best `(row, score)` seen; ties keep the earlier row.
struct TopK {
    k: usize,
    items: Vec<(usize, f32)>,
}

impl TopK {
    fn new(k: usize) -> Self {
        TopK {
            k,
            items: Vec::with_capacity(k + 1),
        }
    }

    fn better(a: &(usize, f32), b: &(usize, f32)) -> Ordering {
        b.1.total_cmp(&a.1).then(a.0.cmp(&b.0))
    }

    fn push(&mut self, row: usize, score: f32) {
        if self.k == 0 {
            return;
        }
        if self.items.len() == self.k {
            let worst = self.items.last().expect("k > 0");
            if Self::better(&(row, score), worst) != Ordering::Less {
                return;
            }
            self.items.pop();
        }
        let at = self
            .items
            .partition_point(|x| Self::better(x, &(row, score)) == Ordering::Less);
        self.items.insert(at, (row, score));
    }

    #[cfg(test)]
    fn sorted(self) -> Vec<(usize, f32)> {
        self.items
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_k_keeps_the_best_in_order_with_ties_to_the_earlier_row() {
        let mut top = TopK::new(3);
        for (i, s) in [0.1, 0.9, 0.5, 0.9, -1.0, 0.7].into_iter().enumerate() {
            top.push(i, s);
        }
        assert_eq!(top.sorted(), [(1, 0.9), (3, 0.9), (5, 0.7)]);
        let mut none = TopK::new(0);
        none.push(0, 1.0);
        assert!(none.sorted().is_empty());
    }
}
