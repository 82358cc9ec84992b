use burn::tensor::Tensor;

/// Feature vectors on the host, one row per input: `[len, dim]`, row-major f32.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Embeddings {
    values: Vec<f32>,
    dim: usize,
}

impl Embeddings {
    /// Wraps row-major `values` of rows `dim` wide.
    ///
    /// # Panics
    /// If `dim` is 0 or does not divide `values.len()`.
    pub fn new(values: Vec<f32>, dim: usize) -> Self {
        assert!(
            dim > 0 && values.len().is_multiple_of(dim),
            "{} values are not rows of {dim}",
            values.len()
        );
        Embeddings { values, dim }
    }

    /// Copies a `[rows, dim]` tensor to the host (in f32, whatever the device computes in).
    pub fn from_tensor(features: Tensor<2>) -> Self {
        let [_, dim] = features.dims();
        Embeddings {
            values: clip_model::to_f32_vec(features),
            dim,
        }
    }

    /// Rows.
    pub fn len(&self) -> usize {
        self.values.len().checked_div(self.dim).unwrap_or(0)
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Width of a row (the model's `embed_dim`).
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Row `i`.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.values[i * self.dim..(i + 1) * self.dim]
    }

    /// The rows in order.
    pub fn rows(&self) -> impl ExactSizeIterator<Item = &[f32]> {
        self.values.chunks_exact(self.dim.max(1))
    }

    /// All values, row-major.
    pub fn as_slice(&self) -> &[f32] {
        &self.values
    }

    /// The values, row-major.
    pub fn into_vec(self) -> Vec<f32> {
        self.values
    }

    /// Appends `other`'s rows.
    ///
    /// # Panics
    /// If the widths differ.
    pub fn extend(&mut self, other: Embeddings) {
        if self.values.is_empty() {
            *self = other;
            return;
        }
        assert_eq!(self.dim, other.dim, "rows of different widths");
        self.values.extend(other.values);
    }

    /// Each row divided by its Euclidean norm (a zero row stays zero).
    pub fn normalized(mut self) -> Self {
        for row in self.values.chunks_exact_mut(self.dim.max(1)) {
            let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt();
            if norm > 0.0 {
                row.iter_mut().for_each(|v| *v /= norm);
            }
        }
        self
    }

    /// Cosine similarity of every row of `self` with every row of `other`:
    /// `[self.len()][other.len()]`.
    ///
    /// # Panics
    /// If the widths differ.
    pub fn similarity(&self, other: &Embeddings) -> Vec<Vec<f32>> {
        assert_eq!(self.dim, other.dim, "rows of different widths");
        let (a, b) = (self.clone().normalized(), other.clone().normalized());
        a.rows()
            .map(|x| {
                b.rows()
                    .map(|y| x.iter().zip(y).map(|(p, q)| p * q).sum())
                    .collect()
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn similarity_is_the_cosine_of_rows() {
        let a = Embeddings::new(vec![3.0, 4.0, 0.0, 2.0], 2);
        let b = Embeddings::new(vec![1.0, 0.0, 0.0, -5.0, 0.0, 0.0], 2);
        let s = a.similarity(&b);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0], vec![0.6, -0.8, 0.0]);
        assert_eq!(s[1], vec![0.0, -1.0, 0.0]);
    }

    #[test]
    fn rows_and_extend_keep_the_order() {
        let mut a = Embeddings::default();
        assert!(a.is_empty());
        a.extend(Embeddings::new(vec![1.0, 2.0], 2));
        a.extend(Embeddings::new(vec![3.0, 4.0, 5.0, 6.0], 2));
        assert_eq!(a.len(), 3);
        assert_eq!(a.row(2), &[5.0, 6.0]);
        assert_eq!(a.rows().map(|r| r[0]).collect::<Vec<_>>(), [1.0, 3.0, 5.0]);
    }

    #[test]
    #[should_panic(expected = "not rows of 2")]
    fn ragged_values_are_refused() {
        Embeddings::new(vec![1.0; 3], 2);
    }
}
