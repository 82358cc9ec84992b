//! OpenAI's QuickGELU, `x · σ(1.702 x)`, in place, sixteen (AVX-512) or eight (AVX2) values
//! at a time.
//!
//! Why not the scalar loop alone: its `exp` is a libm call per value, and at one image
//! (ViT-B/32: 1.8 M values per pass) that was ~5% of the pass, more than the MLP's bias
//! and output copies together.

use super::exp::Lanes;

/// `x · σ(1.702 x)` for every value, in place.
pub fn quick_gelu(values: &mut [f32]) {
    quick_gelu_on::<true>(Lanes::detect(), values);
}

/// `σ(1.702 x)`, QuickGELU's gate, for every value, in place (its derivative needs it).
pub fn quick_sigmoid(values: &mut [f32]) {
    quick_gelu_on::<false>(Lanes::detect(), values);
}

/// [`quick_gelu`] (`TIMES_X`) or [`quick_sigmoid`] on `lanes`, which this CPU must run.
fn quick_gelu_on<const TIMES_X: bool>(lanes: Lanes, values: &mut [f32]) {
    match lanes {
        // SAFETY: `Lanes::detect` found AVX-512F.
        #[cfg(target_arch = "x86_64")]
        Lanes::Sixteen => unsafe { x86::quick_gelu::<TIMES_X>(values) },
        // SAFETY: `Lanes::detect` found AVX2 and FMA.
        #[cfg(target_arch = "x86_64")]
        Lanes::Eight => unsafe { x86::quick_gelu8::<TIMES_X>(values) },
        _ => scalar::<TIMES_X>(values),
    }
}

fn scalar<const TIMES_X: bool>(values: &mut [f32]) {
    for v in values {
        let numerator = if TIMES_X { *v } else { 1.0 };
        *v = numerator / (1.0 + (-1.702 * *v).exp());
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use crate::cpu::exp::x86::{exp, exp8};

    /// [`super::quick_gelu`] (or, without `TIMES_X`, [`super::quick_sigmoid`]) with a
    /// vector `exp`; the tail (fewer than 16) as scalars.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn quick_gelu<const TIMES_X: bool>(values: &mut [f32]) {
        let mut chunks = values.chunks_exact_mut(16);
        for chunk in &mut chunks {
            // SAFETY: 16 values in the chunk.
            unsafe {
                let v = _mm512_loadu_ps(chunk.as_ptr());
                let e = exp(_mm512_mul_ps(v, _mm512_set1_ps(-1.702)));
                let numerator = if TIMES_X { v } else { _mm512_set1_ps(1.0) };
                let y = _mm512_div_ps(numerator, _mm512_add_ps(_mm512_set1_ps(1.0), e));
                _mm512_storeu_ps(chunk.as_mut_ptr(), y);
            }
        }
        super::scalar::<TIMES_X>(chunks.into_remainder());
    }

    /// [`quick_gelu`] eight values at a time.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn quick_gelu8<const TIMES_X: bool>(values: &mut [f32]) {
        let mut chunks = values.chunks_exact_mut(8);
        for chunk in &mut chunks {
            // SAFETY: 8 values in the chunk.
            unsafe {
                let v = _mm256_loadu_ps(chunk.as_ptr());
                let e = exp8(_mm256_mul_ps(v, _mm256_set1_ps(-1.702)));
                let numerator = if TIMES_X { v } else { _mm256_set1_ps(1.0) };
                let y = _mm256_div_ps(numerator, _mm256_add_ps(_mm256_set1_ps(1.0), e));
                _mm256_storeu_ps(chunk.as_mut_ptr(), y);
            }
        }
        super::scalar::<TIMES_X>(chunks.into_remainder());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_scalar_form_to_an_f32_rounding() {
        // Across the range a network's pre-activations take, the tails where σ saturates,
        // both infinities and a length that leaves a scalar tail.
        let mut values: Vec<f32> = (-4000..4000).map(|i| i as f32 * 0.01).collect();
        values.extend([
            -200.0,
            -60.0,
            -52.5,
            52.5,
            60.0,
            200.0,
            f32::INFINITY,
            -f32::INFINITY,
        ]);
        values.extend([1e-30, -1e-30, 0.0, 3.0]);
        let (mut gelu, mut gate) = (values.clone(), values.clone());
        scalar::<true>(&mut gelu);
        scalar::<false>(&mut gate);
        for lanes in Lanes::all() {
            let (mut got_gelu, mut got_gate) = (values.clone(), values.clone());
            quick_gelu_on::<true>(lanes, &mut got_gelu);
            quick_gelu_on::<false>(lanes, &mut got_gate);
            let pairs = got_gelu.iter().zip(&gelu).chain(got_gate.iter().zip(&gate));
            for (&x, (&g, &w)) in values.iter().cycle().zip(pairs) {
                let tolerance = 2.5e-7 * w.abs().max(1e-30);
                let same = g == w || (g.is_nan() && w.is_nan()) || (g - w).abs() <= tolerance;
                assert!(same, "{lanes:?}, x = {x}: {g} vs {w}");
            }
            let mut nan = [f32::NAN; 17];
            quick_gelu_on::<true>(lanes, &mut nan);
            assert!(nan.iter().all(|v| v.is_nan()));
        }
    }
}
