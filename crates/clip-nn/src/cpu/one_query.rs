//! Attention with one query per image (CLIP's attention pool: the mean token asks every
//! token), with the key and value projections folded into the query and the attention
//! weights instead of applied to every token.
//!
//! Per head `h` (columns `h·d ..` of the projections, `d` the head width), with `x` the
//! tokens [t, D] and `q` the projected query:
//! - scores: `(x·Wk + bk)_h · q_h = x · (Wk_h · q_h) + bk_h · q_h`; the second term is the
//!   same for every token, and a softmax does not change when every score moves by one
//!   constant, so the key bias drops out and the keys are never formed.
//! - values: `Σ_t p_t (x_t·Wv + bv)_h = (Σ_t p_t x_t)·Wv_h + bv_h`, the weights summing to
//!   one.
//!
//! Both projections are then one pass over their weight with a handful of multiply-adds
//! per element (batch × one head's column), instead of a product of every token by it:
//! RN50's pool (50 tokens, 2048 wide, 32 heads) does 2 × 4 M multiply-adds per image in
//! place of 2 × 210 M. Equal to the projected form up to rounding (unit test; the parity
//! tests judge the model). Under `--dtype int8` these two stay f32: one pass over a weight
//! costs the same either way.

use burn::nn::Linear;
use burn::tensor::Tensor;
use rayon::prelude::*;

use super::attention::softmax;
use super::{contiguous, flex_f32, from_vec, operand};

/// Input rows of a weight each thread task takes (a few hundred KB of a 2048-wide weight).
const ROWS_PER_TASK: usize = 64;
/// Rows of the value weight summed into one partial output (a fixed number, so that the
/// sums do not depend on the thread count).
const SUM_ROWS: usize = 256;

/// `softmax(q·kᵀ/√d)·v` per head, heads merged, for `query` [batch, width] (already
/// projected) against `tokens` [batch, t, width] projected by `k_proj` and `v_proj`:
/// [batch, width], ready for the output projection. `None` off the fast path (see the
/// module documentation of `cpu`), for weights not stored row-major, or shapes that do
/// not match.
pub fn one_query_attention(
    tokens: &Tensor<3>,
    query: &Tensor<2>,
    k_proj: &Linear,
    v_proj: &Linear,
    heads: usize,
) -> Option<Tensor<2>> {
    let [batch, count, width] = tokens.dims();
    let fits = |w: &Linear| w.weight.dims() == [width, width];
    if heads == 0 || width % heads != 0 || batch * count == 0 || !fits(k_proj) || !fits(v_proj) {
        return None;
    }
    if query.dims() != [batch, width] {
        return None;
    }
    let (x, q) = (flex_f32(tokens)?, flex_f32(query)?);
    let (wk, wv) = (
        flex_f32(&k_proj.weight.val())?,
        flex_f32(&v_proj.weight.val())?,
    );
    let bias = match &v_proj.bias {
        Some(b) => Some(flex_f32(&b.val())?),
        None => None,
    };
    let bias = match &bias {
        Some(b) => Some(contiguous(b)?),
        None => None,
    };
    let (wk_rows, wv_rows) = (operand(&wk)?, operand(&wv)?);
    if wk_rows.col_stride != 1 || wv_rows.col_stride != 1 {
        return None;
    }
    let shape = Shape {
        batch,
        count,
        width,
        heads,
    };
    let x = contiguous(&x)?;
    let q = contiguous(&q)?;
    let keys = shape.fold_keys(wk_rows.data, wk_rows.row_stride, q);
    let mut weights = shape.scores(x, &keys);
    shape.softmax(&mut weights);
    let mixed = shape.mix(x, &weights);
    let mut out = shape.project_values(wv_rows.data, wv_rows.row_stride, &mixed);
    if let Some(bias) = bias {
        for row in out.chunks_exact_mut(width) {
            row.iter_mut().zip(bias).for_each(|(o, b)| *o += b);
        }
    }
    Some(from_vec(out, [batch, width]))
}

/// The extents: images, tokens per image, width (`heads` × head width), heads.
struct Shape {
    batch: usize,
    count: usize,
    width: usize,
    heads: usize,
}

impl Shape {
    fn head_dim(&self) -> usize {
        self.width / self.heads
    }

    /// `Wk_h · q_h / √d` for every input channel, image and head: [width, batch, heads]
    /// (channel-major, so each thread writes the rows of the weight it reads).
    fn fold_keys(&self, w: &[f32], ldw: usize, q: &[f32]) -> Vec<f32> {
        let (d, per_row) = (self.head_dim(), self.batch * self.heads);
        let scale = (d as f32).powf(-0.5);
        let mut keys = vec![0.0; self.width * per_row];
        keys.par_chunks_mut(ROWS_PER_TASK * per_row)
            .enumerate()
            .for_each(|(task, chunk)| {
                for (r, out) in chunk.chunks_exact_mut(per_row).enumerate() {
                    let row = &w[(task * ROWS_PER_TASK + r) * ldw..][..self.width];
                    for (b, out) in out.chunks_exact_mut(self.heads).enumerate() {
                        let q = &q[b * self.width..][..self.width];
                        for ((o, w), q) in out.iter_mut().zip(row.chunks(d)).zip(q.chunks(d)) {
                            *o = dot(w, q) * scale;
                        }
                    }
                }
            });
        keys
    }

    /// Every token's score per head, `x_t · keys_h`: [batch, count, heads], a task per
    /// token.
    fn scores(&self, x: &[f32], keys: &[f32]) -> Vec<f32> {
        let per_row = self.batch * self.heads;
        let mut scores = vec![0.0; self.batch * self.count * self.heads];
        scores
            .par_chunks_mut(self.heads)
            .enumerate()
            .for_each(|(row, out)| {
                let b = row / self.count;
                let token = &x[row * self.width..][..self.width];
                for (i, &v) in token.iter().enumerate() {
                    let k = &keys[i * per_row + b * self.heads..][..self.heads];
                    out.iter_mut().zip(k).for_each(|(o, k)| *o += v * k);
                }
            });
        scores
    }

    /// The softmax over the tokens of each (image, head)'s scores, in place: each head's
    /// scores gathered into one row for self-attention's [`softmax`].
    fn softmax(&self, scores: &mut [f32]) {
        let mut row = vec![0.0; self.count];
        for image in scores.chunks_exact_mut(self.count * self.heads) {
            for h in 0..self.heads {
                let at = |t: usize| t * self.heads + h;
                row.iter_mut()
                    .enumerate()
                    .for_each(|(t, v)| *v = image[at(t)]);
                softmax(&mut row, self.count, 1.0);
                row.iter().enumerate().for_each(|(t, &v)| image[at(t)] = v);
            }
        }
    }

    /// `Σ_t p_t x_t` per image and head: [width, batch, heads] (channel-major, as the
    /// value pass reads it); each task takes a run of channels and reads the tokens' runs
    /// of them in order.
    fn mix(&self, x: &[f32], weights: &[f32]) -> Vec<f32> {
        let per_row = self.batch * self.heads;
        let mut mixed = vec![0.0; self.width * per_row];
        mixed
            .par_chunks_mut(ROWS_PER_TASK * per_row)
            .enumerate()
            .for_each(|(task, chunk)| {
                let first = task * ROWS_PER_TASK;
                for b in 0..self.batch {
                    for t in 0..self.count {
                        let token = &x[(b * self.count + t) * self.width + first..];
                        let p = &weights[(b * self.count + t) * self.heads..][..self.heads];
                        for (out, &v) in chunk.chunks_exact_mut(per_row).zip(token) {
                            let out = &mut out[b * self.heads..][..self.heads];
                            out.iter_mut().zip(p).for_each(|(o, p)| *o += v * p);
                        }
                    }
                }
            });
        mixed
    }

    /// `mixed_h · Wv_h` per image and head, heads side by side: [batch, width]. Each task
    /// sums a fixed run of the weight's rows (read in order) into an output of its own, and
    /// those are added in order: the same sums whatever the threads do. (A task per head
    /// instead read 256 bytes of every 8 KB row: RN50 slower than projecting the tokens.)
    fn project_values(&self, w: &[f32], ldw: usize, mixed: &[f32]) -> Vec<f32> {
        let (d, per_row) = (self.head_dim(), self.batch * self.heads);
        let partials: Vec<Vec<f32>> = (0..self.width.div_ceil(SUM_ROWS))
            .into_par_iter()
            .map(|task| {
                let mut out = vec![0.0f32; self.batch * self.width];
                let first = task * SUM_ROWS;
                for i in first..(first + SUM_ROWS).min(self.width) {
                    let row = &w[i * ldw..][..self.width];
                    let m = &mixed[i * per_row..][..per_row];
                    for (out, m) in out.chunks_exact_mut(self.width).zip(m.chunks(self.heads)) {
                        for ((o, w), &m) in out.chunks_mut(d).zip(row.chunks(d)).zip(m) {
                            o.iter_mut().zip(w).for_each(|(o, w)| *o += m * w);
                        }
                    }
                }
                out
            })
            .collect();
        let mut out = vec![0.0; self.batch * self.width];
        for partial in &partials {
            out.iter_mut().zip(partial).for_each(|(o, p)| *o += p);
        }
        out
    }
}

/// `Σ a_i b_i`, in eight partial sums (vectorisable without reassociation by the compiler).
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (a, b) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += a[i] * b[i];
        }
    }
    let tail: f32 = ra.iter().zip(rb).map(|(a, b)| a * b).sum();
    acc.iter().sum::<f32>() + tail
}

#[cfg(test)]
mod tests {
    use burn::nn::LinearConfig;
    use burn::tensor::module::attention;
    use burn::tensor::ops::AttentionModuleOptions;
    use burn::tensor::{Device, Distribution, Tensor};

    use super::*;
    use crate::{merge_heads, split_heads};

    /// Burn's attention over the projected keys and values: the form the pool computes
    /// off the fast path.
    fn projected(
        tokens: &Tensor<3>,
        query: &Tensor<2>,
        k: &Linear,
        v: &Linear,
        heads: usize,
    ) -> Tensor<2> {
        let [batch, _, width] = tokens.dims();
        let out = attention(
            split_heads(query.clone().unsqueeze_dim(1), heads),
            split_heads(k.forward(tokens.clone()), heads),
            split_heads(v.forward(tokens.clone()), heads),
            None,
            None,
            AttentionModuleOptions::default(),
        );
        merge_heads(out).reshape([batch, width])
    }

    #[test]
    fn folded_projections_equal_projected_keys_and_values() {
        let device = Device::flex();
        // Heads of 64 as CLIP's pools, of 5 (a remainder for `dot`), a bias-free value
        // projection, and more tokens than a thread task's rows.
        for (batch, count, width, heads, bias) in [
            (2, 50, 256, 4, true),
            (3, 10, 40, 8, true),
            (1, 70, 130, 2, false),
        ] {
            let linear = || {
                LinearConfig::new(width, width)
                    .with_bias(bias)
                    .init(&device)
            };
            let (k, v) = (LinearConfig::new(width, width).init(&device), linear());
            let tokens = Tensor::<3>::random([batch, count, width], Distribution::Default, &device);
            let query = Tensor::<2>::random([batch, width], Distribution::Default, &device) * 3.0;
            let got = one_query_attention(&tokens, &query, &k, &v, heads).expect("fast path");
            let want = projected(&tokens, &query, &k, &v, heads);
            // An image's values do not depend on the others in its batch (nor on threads).
            let first = one_query_attention(
                &tokens.clone().narrow(0, 0, 1),
                &query.clone().narrow(0, 0, 1),
                &k,
                &v,
                heads,
            );
            let first = first.unwrap().into_data().try_to_vec::<f32>().unwrap();
            let got = got.into_data().try_to_vec::<f32>().unwrap();
            assert_eq!(first, got[..width], "{batch}x{count}x{width}/{heads}");
            let want = want.into_data().try_to_vec::<f32>().unwrap();
            let scale = want.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                assert!(
                    (g - w).abs() <= 1e-5 * scale,
                    "{batch}x{count}x{width}/{heads} at {i}: {g} vs {w}"
                );
            }
        }
    }

    #[test]
    fn mismatched_shapes_leave_the_fast_path() {
        let device = Device::flex();
        let k = LinearConfig::new(8, 8).init(&device);
        let v = LinearConfig::new(8, 6).init(&device);
        let tokens = Tensor::<3>::zeros([1, 3, 8], &device);
        let query = Tensor::<2>::zeros([1, 8], &device);
        assert!(one_query_attention(&tokens, &query, &k, &v, 2).is_none());
        assert!(one_query_attention(&tokens, &query, &k, &k, 3).is_none());
        assert!(one_query_attention(&tokens, &query.clone().reshape([8, 1]), &k, &k, 2).is_none());
        assert!(one_query_attention(&tokens, &query, &k, &k, 2).is_some());
    }
}
