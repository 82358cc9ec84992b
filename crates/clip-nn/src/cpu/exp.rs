//! `e^x` sixteen lanes at a time, for QuickGELU and the attention softmax: libm's `exp` is
//! a call per value, and both run it on every element of a layer's output.

#[cfg(target_arch = "x86_64")]
pub mod x86 {
    use std::arch::x86_64::*;

    /// `e^x` to within an f32 rounding: `x = n·ln 2 + r` with `|r| ≤ ln 2 / 2` (ln 2 in two
    /// parts, Cephes' split), a degree-7 Taylor polynomial for `e^r` (truncation below
    /// 1e-8 relative), then `· 2^n` by `scalef`, which gives 0 and ∞ past the range. A NaN
    /// lane comes out +∞ (callers whose results must stay NaN keep it some other way).
    #[target_feature(enable = "avx512f")]
    pub fn exp(x: __m512) -> __m512 {
        let x = _mm512_max_ps(
            _mm512_min_ps(x, _mm512_set1_ps(150.0)),
            _mm512_set1_ps(-150.0),
        );
        let n = _mm512_roundscale_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(
            _mm512_mul_ps(x, _mm512_set1_ps(std::f32::consts::LOG2_E)),
        );
        let r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693_359_4), x);
        let r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.121_944_4e-4), r);
        let mut p = _mm512_set1_ps(1.0 / 5040.0);
        for c in [
            1.0 / 720.0,
            1.0 / 120.0,
            1.0 / 24.0,
            1.0 / 6.0,
            0.5,
            1.0,
            1.0,
        ] {
            p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(c));
        }
        _mm512_scalef_ps(p, n)
    }
}
