//! Self-attention read straight from the packed q, k, v projection: per image and head,
//! the scores `q·kᵀ` and the value product on the panel kernel (that head's keys and
//! values packed into panels, a few KB in cache), the softmax in place between them, and
//! the heads written side by side, ready for `out_proj`.
//!
//! Why not Burn's `attention`: splitting heads out of the packed projection and merging
//! them back are two transposing copies of every activation, and its products go through
//! the `gemm` crate, which packs its operands on every call; at one image (ViT-B/32: 12
//! heads of 50 × 64) that overhead is most of attention's time.

use burn::tensor::Tensor;
use rayon::prelude::*;

use super::exp::Lanes;
use super::packed::Packed;
use super::panel::{self, Kernel};
use super::{Operand, contiguous, flex_f32, from_vec, zeros};

/// `softmax(q·kᵀ / √d)·v` for every head of `qkv` [batch, tokens, 3 · width] (queries,
/// keys, values side by side, as `in_proj` writes them), heads merged: [batch, tokens,
/// width]. `causal` hides every later token from each query. `None` off the fast path
/// (see the module documentation of `cpu`) or without the panel kernels.
pub fn self_attention(qkv: &Tensor<3>, heads: usize, causal: bool) -> Option<Tensor<3>> {
    let kernel = Kernel::chosen()?;
    let [batch, tokens, packed_width] = qkv.dims();
    let width = packed_width / 3;
    if packed_width % 3 != 0 || heads == 0 || width % heads != 0 || batch * tokens == 0 {
        return None;
    }
    let head_dim = width / heads;
    let qkv = flex_f32(qkv)?;
    let qkv = contiguous(&qkv)?;
    let image_len = tokens * packed_width;
    let shape = Head {
        tokens,
        width,
        head_dim,
        causal,
        kernel,
    };
    // Every (image, head) on its own: no synchronisation inside one.
    let per_head: Vec<Vec<f32>> = (0..batch * heads)
        .into_par_iter()
        .map(|unit| {
            let image = &qkv[unit / heads * image_len..][..image_len];
            shape.attend(image, unit % heads)
        })
        .collect();
    let mut out = zeros(batch * tokens * width);
    out.par_chunks_mut(tokens * width)
        .zip(per_head.par_chunks(heads))
        .for_each(|(image, heads)| {
            for (h, head) in heads.iter().enumerate() {
                for (row, values) in image.chunks_exact_mut(width).zip(head.chunks(head_dim)) {
                    row[h * head_dim..][..head_dim].copy_from_slice(values);
                }
            }
        });
    Some(from_vec(out, [batch, tokens, width]))
}

/// One head's attention over one image's tokens.
struct Head {
    tokens: usize,
    width: usize,
    head_dim: usize,
    causal: bool,
    kernel: Kernel,
}

impl Head {
    /// Head `h` of `qkv` [tokens, 3 · width]: its output [tokens, head_dim].
    fn attend(&self, qkv: &[f32], h: usize) -> Vec<f32> {
        let Head {
            tokens: n,
            width,
            head_dim: d,
            ..
        } = *self;
        let stride = 3 * width;
        let view = |start: usize, row_stride: usize, col_stride: usize| Operand {
            data: &qkv[start..],
            row_stride,
            col_stride,
        };
        let queries = view(h * d, stride, 1);
        // kᵀ [d, n] and v [n, d], each into panels.
        let keys = Packed::new(&view(width + h * d, 1, stride), d, n, self.kernel.strip());
        let values = Packed::new(
            &view(2 * width + h * d, stride, 1),
            n,
            d,
            self.kernel.strip(),
        );
        let mut scores = zeros(n * n);
        panel::matmul(self.kernel, &queries, n, &keys, [d, n], &mut scores, false);
        let scale = 1.0 / (d as f32).sqrt();
        for (i, row) in scores.chunks_exact_mut(n).enumerate() {
            softmax(row, if self.causal { i + 1 } else { n }, scale);
        }
        let mut out = zeros(n * d);
        let weights = Operand::dense(&scores, n);
        panel::matmul(self.kernel, &weights, n, &values, [n, d], &mut out, false);
        out
    }
}

/// `row[..seen]` ← softmax(`scale` · `row[..seen]`); the rest (keys a causal mask hides)
/// ← 0, so that they add nothing to the value product.
pub(super) fn softmax(row: &mut [f32], seen: usize, scale: f32) {
    let (seen, hidden) = row.split_at_mut(seen);
    hidden.fill(0.0);
    let max = seen.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    let sum = exp_shifted(seen, max, scale);
    let inverse = 1.0 / sum;
    for v in seen {
        *v *= inverse;
    }
}

/// `v ← e^(scale · (v − max))` for every value; their sum.
fn exp_shifted(values: &mut [f32], max: f32, scale: f32) -> f32 {
    exp_shifted_on(Lanes::detect(), values, max, scale)
}

/// [`exp_shifted`] on `lanes`, which this CPU must run.
fn exp_shifted_on(lanes: Lanes, values: &mut [f32], max: f32, scale: f32) -> f32 {
    match lanes {
        // SAFETY: `Lanes::detect` found AVX-512F.
        #[cfg(target_arch = "x86_64")]
        Lanes::Sixteen => unsafe { x86::exp_shifted(values, max, scale) },
        // SAFETY: `Lanes::detect` found AVX2 and FMA.
        #[cfg(target_arch = "x86_64")]
        Lanes::Eight => unsafe { x86::exp_shifted8(values, max, scale) },
        _ => scalar_exp_shifted(values, max, scale),
    }
}

fn scalar_exp_shifted(values: &mut [f32], max: f32, scale: f32) -> f32 {
    let mut sum = 0.0;
    for v in values {
        *v = (scale * (*v - max)).exp();
        sum += *v;
    }
    sum
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use crate::cpu::exp::x86::{exp, exp8, sum8};

    /// [`super::exp_shifted`] sixteen values at a time; the tail as scalars.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn exp_shifted(values: &mut [f32], max: f32, scale: f32) -> f32 {
        let (max_v, scale_v) = (_mm512_set1_ps(max), _mm512_set1_ps(scale));
        let mut sum = _mm512_setzero_ps();
        let mut chunks = values.chunks_exact_mut(16);
        for chunk in &mut chunks {
            // SAFETY: 16 values in the chunk.
            unsafe {
                let v = _mm512_loadu_ps(chunk.as_ptr());
                let e = exp(_mm512_mul_ps(_mm512_sub_ps(v, max_v), scale_v));
                _mm512_storeu_ps(chunk.as_mut_ptr(), e);
                sum = _mm512_add_ps(sum, e);
            }
        }
        _mm512_reduce_add_ps(sum) + super::scalar_exp_shifted(chunks.into_remainder(), max, scale)
    }

    /// [`exp_shifted`] eight values at a time.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn exp_shifted8(values: &mut [f32], max: f32, scale: f32) -> f32 {
        let (max_v, scale_v) = (_mm256_set1_ps(max), _mm256_set1_ps(scale));
        let mut sum = _mm256_setzero_ps();
        let mut chunks = values.chunks_exact_mut(8);
        for chunk in &mut chunks {
            // SAFETY: 8 values in the chunk.
            unsafe {
                let v = _mm256_loadu_ps(chunk.as_ptr());
                let e = exp8(_mm256_mul_ps(_mm256_sub_ps(v, max_v), scale_v));
                _mm256_storeu_ps(chunk.as_mut_ptr(), e);
                sum = _mm256_add_ps(sum, e);
            }
        }
        sum8(sum) + super::scalar_exp_shifted(chunks.into_remainder(), max, scale)
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::module::attention;
    use burn::tensor::ops::AttentionModuleOptions;
    use burn::tensor::{Device, Distribution, Tensor};

    use super::*;
    use crate::{merge_heads, split_heads};

    /// Burn's attention over the same packed projection.
    fn burn_attention(qkv: &Tensor<3>, heads: usize, causal: bool) -> Tensor<3> {
        let width = qkv.dims()[2] / 3;
        let part = |i: usize| split_heads(qkv.clone().narrow(2, i * width, width), heads);
        let options = AttentionModuleOptions {
            is_causal: causal,
            ..Default::default()
        };
        merge_heads(attention(part(0), part(1), part(2), None, None, options))
    }

    #[test]
    fn matches_burn_attention_with_and_without_the_causal_mask() {
        if Kernel::chosen().is_none() {
            return; // the fast path is not taken on this CPU; nothing to compare
        }
        let device = Device::flex();
        // A head as wide as a panel (CLIP's 64), a narrower and a wider one (open_clip's
        // 80), token counts below, at and across panel and row-block edges.
        for (batch, tokens, width, heads) in [(1, 50, 128, 2), (3, 7, 48, 2), (2, 77, 160, 2)] {
            let qkv = Tensor::<3>::random(
                [batch, tokens, 3 * width],
                Distribution::Normal(0.0, 2.0),
                &device,
            );
            for causal in [false, true] {
                let got = self_attention(&qkv, heads, causal).expect("the fast path");
                let want = burn_attention(&qkv, heads, causal);
                assert_eq!(got.dims(), [batch, tokens, width]);
                let got = got.into_data().try_to_vec::<f32>().unwrap();
                let want = want.into_data().try_to_vec::<f32>().unwrap();
                let worst = got
                    .iter()
                    .zip(&want)
                    .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
                // Float rounding of sums taken in another order: ~1e-6 of the values.
                let scale = want.iter().fold(0.0f32, |m, v| m.max(v.abs()));
                assert!(
                    worst <= 1e-6 * scale,
                    "{batch}×{tokens}×{width}, causal {causal}: {worst} of {scale}"
                );
            }
        }
    }

    #[test]
    fn softmax_matches_the_scalar_form_and_hides_the_masked_keys() {
        let mut row: Vec<f32> = (0..37).map(|i| (i as f32 * 0.7).sin() * 9.0).collect();
        let want: Vec<f32> = {
            let seen = &row[..30];
            let max = seen.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
            let e: Vec<f32> = seen.iter().map(|v| (0.125 * (v - max)).exp()).collect();
            let sum: f32 = e.iter().sum();
            e.iter().map(|v| v / sum).collect()
        };
        softmax(&mut row, 30, 0.125);
        for (g, w) in row.iter().zip(&want) {
            assert!((g - w).abs() <= 1e-7, "{g} vs {w}");
        }
        assert!(row[30..].iter().all(|&v| v == 0.0));
    }

    #[test]
    fn every_vector_width_exponentiates_as_the_scalar_form() {
        // Scores far below the maximum (terms that underflow to 0) and a scalar tail.
        let row: Vec<f32> = (0..53).map(|i| (i as f32 * 0.37).cos() * 900.0).collect();
        let max = row.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
        let mut want = row.clone();
        let want_sum = scalar_exp_shifted(&mut want, max, 0.125);
        for lanes in Lanes::all() {
            let mut got = row.clone();
            let sum = exp_shifted_on(lanes, &mut got, max, 0.125);
            assert!(
                (sum - want_sum).abs() <= 1e-6 * want_sum,
                "{lanes:?}: {sum}"
            );
            for (g, w) in got.iter().zip(&want) {
                assert!(
                    (g - w).abs() <= 2.5e-7 * w.max(1e-30),
                    "{lanes:?}: {g} vs {w}"
                );
            }
        }
    }
}
