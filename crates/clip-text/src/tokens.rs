//! Token ids as the encoder reads them: a [`TokenBatch`] on the host (so the encoder knows
//! each row's end-of-text position before it runs, to cut the sequence after the longest),
//! turned into an int tensor of only the positions needed.

use burn::tensor::{Device, Int, Tensor, TensorData};
use clip_tokenizer::TokenBatch;

/// The first `len` positions of every row of `tokens` as an int tensor `[rows, len]`.
pub fn token_tensor(tokens: &TokenBatch, len: usize, device: &Device) -> Tensor<2, Int> {
    let len = len.min(tokens.context_length);
    let ids: Vec<i64> = (0..tokens.len())
        .flat_map(|r| tokens.row(r)[..len].iter().map(|&id| i64::from(id)))
        .collect();
    Tensor::from_data(TensorData::new(ids, [tokens.len(), len]), device)
}

/// Per row, the index of the first occurrence of the row's largest id: the end-of-text
/// position under OpenAI's tokenizer (49407 is the largest id), as `argmax` computes it.
pub fn eot_positions(tokens: &TokenBatch) -> Vec<usize> {
    (0..tokens.len())
        .map(|r| {
            let row = tokens.row(r);
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
