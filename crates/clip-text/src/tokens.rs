use burn::tensor::{Device, Int, Tensor, TensorData};
use clip_tokenizer::TokenBatch;

/// Token ids on the host, row-major `[rows, context_length]`: what the text encoder takes.
///
/// Kept on the host (not as a `Tensor<2, Int>`) because the encoder needs each row's
/// end-of-text position before it runs, to cut the sequence after the longest one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenIds {
    ids: Vec<i64>,
    rows: usize,
    context_length: usize,
}

impl TokenIds {
    /// Wraps row-major ids; `None` if `ids.len() != rows · context_length` or a row is empty.
    pub fn new(ids: Vec<i64>, rows: usize, context_length: usize) -> Option<Self> {
        (ids.len() == rows * context_length && context_length > 0).then_some(Self {
            ids,
            rows,
            context_length,
        })
    }

    /// Number of texts.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Tokens per row (padding included).
    pub fn context_length(&self) -> usize {
        self.context_length
    }

    /// The row-major ids.
    pub fn ids(&self) -> &[i64] {
        &self.ids
    }

    /// One row.
    pub fn row(&self, i: usize) -> &[i64] {
        &self.ids[i * self.context_length..(i + 1) * self.context_length]
    }

    /// Rows `start..end` as their own batch.
    pub fn slice_rows(&self, start: usize, end: usize) -> TokenIds {
        TokenIds {
            ids: self.ids[start * self.context_length..end * self.context_length].to_vec(),
            rows: end - start,
            context_length: self.context_length,
        }
    }

    /// The first `len` positions of every row as an int tensor `[rows, len]`.
    pub fn to_tensor(&self, len: usize, device: &Device) -> Tensor<2, Int> {
        let len = len.min(self.context_length);
        let ids: Vec<i64> = (0..self.rows)
            .flat_map(|r| self.row(r)[..len].iter().copied())
            .collect();
        Tensor::from_data(TensorData::new(ids, [self.rows, len]), device)
    }
}

impl From<&TokenBatch> for TokenIds {
    fn from(batch: &TokenBatch) -> Self {
        TokenIds {
            ids: batch.ids.iter().map(|&id| i64::from(id)).collect(),
            rows: batch.lengths.len(),
            context_length: batch.context_length,
        }
    }
}

/// Per row, the index of the first occurrence of the row's largest id: the end-of-text
/// position under OpenAI's tokenizer (49407 is the largest id), as `argmax` computes it.
pub fn eot_positions(ids: &TokenIds) -> Vec<usize> {
    (0..ids.rows())
        .map(|r| {
            let row = ids.row(r);
            let mut best = 0;
            for (i, &id) in row.iter().enumerate() {
                if id > row[best] {
                    best = i;
                }
            }
            best
        })
        .collect()
}
