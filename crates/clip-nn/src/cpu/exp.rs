//! `e^x` sixteen lanes (AVX-512) or eight (AVX2) at a time, for QuickGELU and the attention
//! softmax: libm's `exp` is a call per value, and both run it on every element of a layer's
//! output.

#[cfg(target_arch = "x86_64")]
pub mod x86 {
    use std::arch::x86_64::*;

    /// Inputs are clamped to ±this: `e^x` is already 0 or ∞ in f32 well inside it.
    const BOUND: f32 = 150.0;
    /// ln 2 in two parts (Cephes' split): `LN2_HI` exact in a few bits, so `n · LN2_HI` is exact.
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    /// Taylor coefficients of `e^r` after the leading `1/7!`, highest first (Horner's rule).
    const TAYLOR: [f32; 7] = [
        1.0 / 720.0,
        1.0 / 120.0,
        1.0 / 24.0,
        1.0 / 6.0,
        0.5,
        1.0,
        1.0,
    ];

    /// `e^x` to within an f32 rounding: `x = n·ln 2 + r` with `|r| ≤ ln 2 / 2` (ln 2 in two
    /// parts, Cephes' split), a degree-7 Taylor polynomial for `e^r` (truncation below
    /// 1e-8 relative), then `· 2^n` by `scalef`, which gives 0 and ∞ past the range. A NaN
    /// lane comes out +∞ (callers whose results must stay NaN keep it some other way).
    #[target_feature(enable = "avx512f")]
    pub fn exp(x: __m512) -> __m512 {
        let x = _mm512_max_ps(
            _mm512_min_ps(x, _mm512_set1_ps(BOUND)),
            _mm512_set1_ps(-BOUND),
        );
        let n = _mm512_roundscale_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(
            _mm512_mul_ps(x, _mm512_set1_ps(std::f32::consts::LOG2_E)),
        );
        let r = _mm512_fnmadd_ps(n, _mm512_set1_ps(LN2_HI), x);
        let r = _mm512_fnmadd_ps(n, _mm512_set1_ps(LN2_LO), r);
        let mut p = _mm512_set1_ps(1.0 / 5040.0);
        for c in TAYLOR {
            p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(c));
        }
        _mm512_scalef_ps(p, n)
    }

    /// [`exp`] on AVX2 + FMA: the same reduction and polynomial; AVX2 has no `scalef`, so
    /// `2^n` is built in the exponent bits, as `2^(n/2) · 2^(n - n/2)` so that both factors
    /// stay normal over the clamped range and the product still overflows to ∞ and
    /// underflows through the subnormals to 0 with one rounding.
    #[target_feature(enable = "avx2,fma")]
    pub fn exp8(x: __m256) -> __m256 {
        let x = _mm256_max_ps(
            _mm256_min_ps(x, _mm256_set1_ps(BOUND)),
            _mm256_set1_ps(-BOUND),
        );
        let n = _mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(
            _mm256_mul_ps(x, _mm256_set1_ps(std::f32::consts::LOG2_E)),
        );
        let r = _mm256_fnmadd_ps(n, _mm256_set1_ps(LN2_HI), x);
        let r = _mm256_fnmadd_ps(n, _mm256_set1_ps(LN2_LO), r);
        let mut p = _mm256_set1_ps(1.0 / 5040.0);
        for c in TAYLOR {
            p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(c));
        }
        let n = _mm256_cvtps_epi32(n);
        let half = _mm256_srai_epi32::<1>(n);
        let pow2 = |e: __m256i| {
            _mm256_castsi256_ps(_mm256_slli_epi32::<23>(_mm256_add_epi32(
                e,
                _mm256_set1_epi32(127),
            )))
        };
        _mm256_mul_ps(
            _mm256_mul_ps(p, pow2(half)),
            pow2(_mm256_sub_epi32(n, half)),
        )
    }

    /// The sum of the eight lanes.
    #[target_feature(enable = "avx2")]
    pub fn sum8(v: __m256) -> f32 {
        let v = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
        let v = _mm_add_ps(v, _mm_movehl_ps(v, v));
        let v = _mm_add_ss(v, _mm_movehdup_ps(v));
        _mm_cvtss_f32(v)
    }
}

/// Which vector `exp` this CPU runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lanes {
    /// AVX-512F: [`x86::exp`].
    Sixteen,
    /// AVX2 + FMA: [`x86::exp8`].
    Eight,
    /// Neither: libm's `exp` per value.
    Scalar,
}

impl Lanes {
    /// The widest this CPU has (checked once).
    pub fn detect() -> Lanes {
        static LANES: std::sync::OnceLock<Lanes> = std::sync::OnceLock::new();
        *LANES.get_or_init(|| {
            #[cfg(target_arch = "x86_64")]
            {
                if std::arch::is_x86_feature_detected!("avx512f") {
                    return Lanes::Sixteen;
                }
                if std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
                {
                    return Lanes::Eight;
                }
            }
            Lanes::Scalar
        })
    }

    /// The widths this CPU runs, widest first (for tests that check every path).
    #[cfg(test)]
    pub fn all() -> Vec<Lanes> {
        let best = Lanes::detect();
        [Lanes::Sixteen, Lanes::Eight, Lanes::Scalar]
            .into_iter()
            .filter(|&l| l as u8 >= best as u8)
            .collect()
    }
}
