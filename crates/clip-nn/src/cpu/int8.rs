//! Linear layers' and channels-last convolutions' products in 8-bit integers: dynamic
//! quantisation, as ONNX Runtime's and PyTorch's `quantize_dynamic` do it, opted into per
//! process.
//!
//! A weight is quantised once, symmetrically per output column (`w ≈ sw[j] · q[d, j]`,
//! `q` in −63..=63: 7 bits); each input row when it arrives (`x ≈ sx[r] · p[r, d]`, `p` in
//! −127..=127), so the scale follows the row instead of a whole batch. The sum `Σ p·q` is
//! exact in 32-bit integers and scaled once: `out[r, j] += sx[r] · sw[j] · Σ_d p · q`.
//!
//! The kernel multiplies bytes four depths at a time: `vpmaddubsw` (unsigned × signed bytes,
//! pairs summed to 16 bits; the rows are stored as `p + 128`), then `vpmaddwd` by ones to
//! 32 bits, then `vpaddd` — 32 products per three instructions; `128 · Σ_d q[d, j]` is taken
//! off once at the end. The pair sums saturate at full-range weights (255 · 127 · 2 > 32767),
//! hence 7-bit weights (255 · 63 · 2 = 32130), as ONNX Runtime's `reduce_range`. This layout,
//! `[depth / 4, column, 4]`, is VNNI's (`vpdpbusd`, all three in one instruction, no
//! saturation), the next kernel for CPUs that have it.

use std::sync::atomic::{AtomicBool, Ordering};

use rayon::prelude::*;

use super::{Operand, SharedOut, spread};

/// Columns per strip: two AVX2 registers of 32-bit sums.
pub const STRIP: usize = 16;
/// Rows per micro-kernel call (10 accumulators: with the two weights, the ones, the
/// row's bytes and a product, 15 of the 16 registers).
const ROWS: usize = 5;
/// Bytes of quantised rows per block (see [`matmul`]): with a strip (24–96 KB at CLIP's
/// depths), within a 512 KB L2.
const BLOCK_BYTES: usize = 192 << 10;
/// The largest quantised magnitude of an input (symmetric: −127..=127).
const LEVELS: f32 = 127.0;
/// The largest quantised magnitude of a weight (7 bits, see the module documentation).
const WEIGHT_LEVELS: f32 = 63.0;
/// What the rows are stored offset by, to be unsigned.
const ZERO: i32 = 128;

static ENABLED: AtomicBool = AtomicBool::new(false);

#[cfg(test)]
thread_local! {
    /// Turns the integer products on for the products this thread starts, so that unit
    /// tests do not flip the process-wide switch under the tests running beside them.
    pub static FORCED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs every float32 linear layer and channels-last convolution on the CPU fast path in
/// 8-bit integers from now on (`true`), or in f32 again (`false`); process-wide, read at
/// each product. Returns
/// whether products now run in 8 bits: never on a CPU without AVX2 (or off x86), where
/// they stay f32.
pub fn set_int8_linears(on: bool) -> bool {
    ENABLED.store(on, Ordering::Relaxed);
    enabled()
}

/// Whether linear products run in 8-bit integers (see [`set_int8_linears`]) on this CPU.
pub fn enabled() -> bool {
    #[cfg(test)]
    if FORCED.get() {
        return available();
    }
    ENABLED.load(Ordering::Relaxed) && available()
}

/// `f` with the integer products on for this thread (tests).
#[cfg(test)]
pub fn forced<T>(f: impl FnOnce() -> T) -> T {
    FORCED.set(true);
    let out = f();
    FORCED.set(false);
    out
}

/// The cosine between two tensors' values, and whether any value differs (tests of the
/// integer paths: close to the f32 result, yet not it).
#[cfg(test)]
pub fn cosine_and_moved(got: &[f32], want: &[f32]) -> (f64, bool) {
    assert_eq!(got.len(), want.len());
    let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| f64::from(x * y)).sum::<f64>();
    let cosine = dot(got, want) / (dot(got, got) * dot(want, want)).sqrt();
    (cosine, got != want)
}

/// Whether this CPU runs the integer kernel (AVX2).
pub fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// A `k × n` weight quantised per column, in strips of [`STRIP`] columns (the last
/// zero-padded), each strip `[k / 4 (rounded up), STRIP, 4]`: for every four depths, each
/// column's four values side by side, as `vpmaddubsw` multiplies them.
pub struct Quantized {
    /// The strips, one after another.
    pub data: Vec<i8>,
    /// Per column: the value of one step.
    pub scales: Vec<f32>,
    /// Per column (padded to whole strips): `ZERO · Σ_d q[d, j]`, what the rows' offset adds.
    pub offsets: Vec<i32>,
}

impl Quantized {
    /// Quantises the `k × n` matrix `w`.
    pub fn new(w: &Operand, k: usize, n: usize) -> Self {
        assert!(
            w.covers(k, n),
            "quantising a weight smaller than its extents"
        );
        Quantized::from_fn(k, n, |d, j| w.data[d * w.row_stride + j * w.col_stride])
    }

    /// Quantises the `k × n` matrix whose element (`row`, `col`) is `at(row, col)`.
    pub fn from_fn(k: usize, n: usize, at: impl Fn(usize, usize) -> f32 + Sync) -> Self {
        let scales: Vec<f32> = (0..n)
            .map(|j| (0..k).map(|d| at(d, j).abs()).fold(0.0, f32::max) / WEIGHT_LEVELS)
            .collect();
        let quads = k.div_ceil(4);
        let strips = n.div_ceil(STRIP);
        let mut data = vec![0i8; strips * quads * STRIP * 4];
        let mut offsets = vec![0i32; strips * STRIP];
        data.par_chunks_mut(quads * STRIP * 4)
            .zip(offsets.par_chunks_mut(STRIP))
            .enumerate()
            .for_each(|(s, (strip, offsets))| {
                for (j, &scale) in scales.iter().enumerate().skip(s * STRIP).take(STRIP) {
                    let inverse = if scale > 0.0 { 1.0 / scale } else { 0.0 };
                    let mut sum = 0;
                    for d in 0..k {
                        let q = quantise(at(d, j) * inverse, WEIGHT_LEVELS) as i8;
                        strip[(d / 4) * STRIP * 4 + (j % STRIP) * 4 + d % 4] = q;
                        sum += i32::from(q);
                    }
                    offsets[j % STRIP] = ZERO * sum;
                }
            });
        Quantized {
            data,
            scales,
            offsets,
        }
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.data.len() + (self.scales.len() + self.offsets.len()) * size_of::<f32>()
    }
}

/// `v` rounded to the nearest step (ties to even, as `torch.round` and ONNX's
/// `QuantizeLinear`), within −levels..=levels.
fn quantise(v: f32, levels: f32) -> i16 {
    // Adding and removing 1.5 · 2²³ leaves no fraction bits: the float unit rounds to the
    // nearest integer, ties to even, inline (`round_ties_even` is a libm call on baseline
    // x86-64, and was a sixth of a ViT-B/32 forward pass).
    const SHIFT: f32 = 12_582_912.0;
    ((v.clamp(-levels, levels) + SHIFT) - SHIFT) as i16
}

/// Quantises `row` into `dst` (as long; each value stored plus [`ZERO`]) and returns its
/// scale: the value of one step.
fn quantise_row(row: &[f32], dst: &mut [u8]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if available() {
        // SAFETY: the CPU runs AVX2.
        return unsafe { quantise_row_avx2(row, dst) };
    }
    quantise_row_scalar(row, dst)
}

/// [`quantise_row`] one value at a time.
fn quantise_row_scalar(row: &[f32], dst: &mut [u8]) -> f32 {
    let scale = row.iter().fold(0.0f32, |m, v| m.max(v.abs())) / LEVELS;
    let inverse = if scale > 0.0 { 1.0 / scale } else { 0.0 };
    for (q, &v) in dst.iter_mut().zip(row) {
        *q = (i32::from(quantise(v * inverse, LEVELS)) + ZERO) as u8;
    }
    scale
}

/// [`quantise_row`] 32 values at a time (the rounding is the float unit's default,
/// to nearest, ties to even, as [`quantise`]).
///
/// # Safety
/// The CPU runs AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn quantise_row_avx2(row: &[f32], dst: &mut [u8]) -> f32 {
    use std::arch::x86_64::*;
    assert!(dst.len() >= row.len());
    let (body, tail) = row.split_at(row.len() / 32 * 32);
    // SAFETY: every load and store below stays inside `row` and `dst`.
    unsafe {
        let magnitude = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fff_ffff));
        let mut max = _mm256_setzero_ps();
        for v in body.chunks_exact(8) {
            max = _mm256_max_ps(max, _mm256_and_ps(magnitude, _mm256_loadu_ps(v.as_ptr())));
        }
        let mut lanes = [0.0f32; 8];
        _mm256_storeu_ps(lanes.as_mut_ptr(), max);
        let max = lanes.iter().chain(tail).fold(0.0f32, |m, v| m.max(v.abs()));
        let scale = max / LEVELS;
        let inverse = if scale > 0.0 { 1.0 / scale } else { 0.0 };
        let factor = _mm256_set1_ps(inverse);
        let zero = _mm256_set1_epi32(ZERO);
        let steps = |v: *const f32| {
            let q = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(v), factor));
            _mm256_add_epi32(q, zero)
        };
        // `packs` and `packus` interleave their operands by 128-bit lane; the permute
        // restores the order.
        let order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
        for (i, v) in body.chunks_exact(32).enumerate() {
            let p = v.as_ptr();
            let low = _mm256_packs_epi32(steps(p), steps(p.add(8)));
            let high = _mm256_packs_epi32(steps(p.add(16)), steps(p.add(24)));
            let bytes = _mm256_permutevar8x32_epi32(_mm256_packus_epi16(low, high), order);
            _mm256_storeu_si256(dst.as_mut_ptr().add(i * 32) as *mut __m256i, bytes);
        }
        for (q, &v) in dst[body.len()..].iter_mut().zip(tail) {
            *q = (i32::from(quantise(v * inverse, LEVELS)) + ZERO) as u8;
        }
        scale
    }
}

/// Rows quantised one scale per row, stored plus [`ZERO`], each padded to a multiple of
/// four depths with zeros (stored as [`ZERO`]).
struct Rows {
    values: Vec<u8>,
    scales: Vec<f32>,
    /// Values per row (the depth rounded up to a multiple of four).
    stride: usize,
}

impl Rows {
    fn new(x: &Operand, rows: usize, k: usize) -> Self {
        let stride = k.next_multiple_of(4);
        let mut values = vec![ZERO as u8; rows * stride];
        let mut scales = vec![0.0f32; rows];
        values
            .par_chunks_mut(stride)
            .zip(scales.par_iter_mut())
            .enumerate()
            .with_min_len(16)
            .for_each(|(r, (dst, scale))| {
                *scale = quantise_row(&x.data[r * x.row_stride..][..k], dst);
            });
        Rows {
            values,
            scales,
            stride,
        }
    }
}

/// `out[rows, n] += x[rows, k] · w[k, n]` in 8-bit integers (`out` row-major, `x` with unit
/// column stride), split over the thread pool when `parallel` (see [`spread`]). Panics if the operands are smaller than their extents or the CPU
/// lacks AVX2.
pub fn matmul(
    x: &Operand,
    rows: usize,
    w: &Quantized,
    [k, n]: [usize; 2],
    out: &mut [f32],
    parallel: bool,
) {
    let strips = n.div_ceil(STRIP);
    let quads = k.div_ceil(4);
    assert!(
        available()
            && x.col_stride == 1
            && x.covers(rows, k)
            && out.len() >= rows * n
            && w.scales.len() == n
            && w.offsets.len() == strips * STRIP
            && w.data.len() == strips * quads * STRIP * 4,
        "int8 product operands smaller than their extents"
    );
    if rows == 0 || n == 0 || k == 0 {
        return;
    }
    let x = Rows::new(x, rows, k);
    let out = SharedOut(out.as_mut_ptr());
    let run = |s: usize, rows: std::ops::Range<usize>| {
        // SAFETY: the assert above bounds every read and write; threads take disjoint
        // strips (columns) or disjoint rows.
        unsafe { run_strip(&x, rows, w, [quads, n], s, &out) }
    };
    // Rows go in blocks whose quantised values stay in L2 while every strip passes over
    // them: at a batch's hundreds of rows, reading all of them for each strip came from L3
    // (ViT-B/32 at batch 16 ran no faster than in f32).
    let block = (BLOCK_BYTES / x.stride / ROWS * ROWS).max(ROWS);
    spread(strips, [rows, block, ROWS], parallel, run);
}

/// Strip `s`'s columns of `out` for `rows`.
///
/// # Safety
/// The extents checked in [`matmul`]; the CPU runs AVX2.
unsafe fn run_strip(
    x: &Rows,
    rows: std::ops::Range<usize>,
    w: &Quantized,
    [quads, n]: [usize; 2],
    s: usize,
    out: &SharedOut,
) {
    let col = s * STRIP;
    let width = STRIP.min(n - col);
    let strip = &w.data[s * quads * STRIP * 4..][..quads * STRIP * 4];
    let offsets = &w.offsets[col..col + STRIP];
    // The strip's column scales, zero past the last column.
    let mut scales = [0.0f32; STRIP];
    scales[..width].copy_from_slice(&w.scales[col..col + width]);
    // A last, narrower strip computes into a full-width tile, copied in and out.
    let mut tile = [0.0f32; ROWS * STRIP];
    let mut r0 = rows.start;
    while r0 < rows.end {
        let r = ROWS.min(rows.end - r0);
        let xs = &x.values[r0 * x.stride..];
        let sx = &x.scales[r0..r0 + r];
        // SAFETY: rows r0..r0 + r of `x` and of `out`, the strip's `pairs` pairs and columns
        // col..col + width of `out` are in bounds (see `matmul`).
        #[cfg(target_arch = "x86_64")]
        unsafe {
            let dst = out.0.add(r0 * n + col);
            let (xp, wp) = (xs.as_ptr(), strip.as_ptr());
            let (full, ldo) = (width == STRIP, if width == STRIP { n } else { STRIP });
            let o = if full { dst } else { tile.as_mut_ptr() };
            if !full {
                for i in 0..r {
                    std::ptr::copy_nonoverlapping(dst.add(i * n), o.add(i * STRIP), width);
                }
            }
            let scales = (sx.as_ptr(), scales.as_ptr(), offsets.as_ptr());
            match r {
                5 => avx2::<5>(quads, xp, x.stride, wp, scales, o, ldo),
                4 => avx2::<4>(quads, xp, x.stride, wp, scales, o, ldo),
                3 => avx2::<3>(quads, xp, x.stride, wp, scales, o, ldo),
                2 => avx2::<2>(quads, xp, x.stride, wp, scales, o, ldo),
                _ => avx2::<1>(quads, xp, x.stride, wp, scales, o, ldo),
            }
            if !full {
                for i in 0..r {
                    std::ptr::copy_nonoverlapping(o.add(i * STRIP), dst.add(i * n), width);
                }
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            let _ = (xs, sx, strip, &mut tile, out);
            unreachable!("no int8 kernel on this architecture");
        }
        r0 += r;
    }
}

/// `out[r, 16] += sx[r] · sw[16] · (Σ_q x[r, 4q..4q + 4] · w[q, 16, 4] − offsets[16])`
/// for `R` rows of bytes `ldx` apart, over `quads` fours of depths of one strip; `scales`
/// are `sx` (one per row), `sw` (16) and `offsets` (16).
///
/// # Safety
/// The operands cover their extents; the CPU runs AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn avx2<const R: usize>(
    quads: usize,
    x: *const u8,
    ldx: usize,
    w: *const i8,
    (sx, sw, offsets): (*const f32, *const f32, *const i32),
    out: *mut f32,
    ldo: usize,
) {
    use std::arch::x86_64::*;
    // SAFETY: the caller's extents.
    unsafe {
        let ones = _mm256_set1_epi16(1);
        let mut acc = [[_mm256_setzero_si256(); 2]; R];
        let mut xs: [*const u8; R] = std::array::from_fn(|r| x.add(r * ldx));
        let mut wp = w;
        for _ in 0..quads {
            let w0 = _mm256_loadu_si256(wp as *const __m256i);
            let w1 = _mm256_loadu_si256(wp.add(32) as *const __m256i);
            _mm_prefetch::<_MM_HINT_T0>(wp.wrapping_add(STRIP * 4 * 32));
            wp = wp.add(STRIP * 4);
            for (row, xr) in acc.iter_mut().zip(xs.iter_mut()) {
                // The row's four depths, as one 32-bit lane in every position.
                let xv = _mm256_set1_epi32((*xr as *const i32).read_unaligned());
                *xr = xr.add(4);
                let p0 = _mm256_madd_epi16(_mm256_maddubs_epi16(xv, w0), ones);
                let p1 = _mm256_madd_epi16(_mm256_maddubs_epi16(xv, w1), ones);
                row[0] = _mm256_add_epi32(row[0], p0);
                row[1] = _mm256_add_epi32(row[1], p1);
            }
        }
        // The exact sums, less the offset, scaled once: the same arithmetic as
        // `(sum - offset) as f32 * (sx · sw) + out`.
        let sw = [_mm256_loadu_ps(sw), _mm256_loadu_ps(sw.add(8))];
        let offsets = [
            _mm256_loadu_si256(offsets as *const __m256i),
            _mm256_loadu_si256(offsets.add(8) as *const __m256i),
        ];
        for (r, row) in acc.iter().enumerate() {
            let sx = _mm256_set1_ps(*sx.add(r));
            for (c, &sum) in row.iter().enumerate() {
                let o = out.add(r * ldo + c * 8);
                let sum = _mm256_cvtepi32_ps(_mm256_sub_epi32(sum, offsets[c]));
                let scaled = _mm256_mul_ps(sum, _mm256_mul_ps(sx, sw[c]));
                _mm256_storeu_ps(o, _mm256_add_ps(_mm256_loadu_ps(o), scaled));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic pseudo-random integer in −range..=range.
    fn integers(len: usize, seed: u64, range: i64) -> Vec<f32> {
        let mut state = seed;
        (0..len)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((state >> 33) as i64 % (2 * range + 1) - range) as f32
            })
            .collect()
    }

    #[test]
    fn integer_operands_multiply_exactly() {
        if !available() {
            return; // no int8 kernel on this CPU: nothing runs it
        }
        // Every row of x reaches ±127 and every column of w ±63, so every scale is 1 and the
        // quantised product is the exact one: any slip of layout, pairing, padding or
        // threading shows. Odd depth, a last narrow strip, rows past one group of six and
        // rows further apart than their length.
        // Past one block of rows: 2000 rows of 200 are five, 1000 three.
        let shapes = [
            [1, 1, 1],
            [7, 33, 20],
            [13, 64, 130],
            [50, 301, 48],
            [2000, 200, 20],
            [1000, 200, 130],
        ];
        for [rows, k, n] in shapes {
            let ldx = k + 3;
            let mut x = integers(rows * ldx, 1, 126);
            let mut w = integers(k * n, 2, 62);
            for r in 0..rows {
                x[r * ldx + r % k] = if r % 2 == 0 { 127.0 } else { -127.0 };
            }
            for j in 0..n {
                w[(j % k) * n + j] = if j % 3 == 0 { -63.0 } else { 63.0 };
            }
            let q = Quantized::new(&Operand::dense(&w, n), k, n);
            assert!(q.scales.iter().all(|&s| s == 1.0));
            let input = Operand {
                data: &x,
                row_stride: ldx,
                col_stride: 1,
            };
            let seed = integers(rows * n, 3, 1000);
            for parallel in [false, true] {
                let mut out = seed.clone();
                matmul(&input, rows, &q, [k, n], &mut out, parallel);
                for r in 0..rows {
                    for j in 0..n {
                        let want: f64 = (0..k)
                            .map(|d| f64::from(x[r * ldx + d]) * f64::from(w[d * n + j]))
                            .sum::<f64>()
                            + f64::from(seed[r * n + j]);
                        assert_eq!(
                            f64::from(out[r * n + j]),
                            want,
                            "{rows}x{k}x{n} at ({r}, {j})"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn rows_quantise_alike_at_every_width_ties_to_even() {
        if !available() {
            return;
        }
        // Halfway values (±0.5, ±1.5, ±2.5 steps once scaled by 127 / 127) and a tail past
        // the last 16.
        let mut row: Vec<f32> = integers(53, 6, 1000).iter().map(|v| v * 0.1).collect();
        row[0] = 127.0;
        row[1..6].copy_from_slice(&[0.5, 1.5, 2.5, -0.5, -2.5]);
        row[50..53].copy_from_slice(&[0.5, -1.5, 3.5]);
        let (mut fast, mut slow) = (vec![0u8; 53], vec![0u8; 53]);
        let scale = quantise_row(&row, &mut fast);
        assert_eq!(scale, quantise_row_scalar(&row, &mut slow));
        assert_eq!(scale, 1.0);
        assert_eq!(fast, slow);
        // Stored plus 128.
        assert_eq!(fast[..6], [255, 128, 130, 130, 128, 126]);
        assert_eq!(fast[50..], [128, 126, 132]);
    }

    #[test]
    fn real_operands_come_within_the_quantisation_step() {
        if !available() {
            return;
        }
        // Scaled values, a transposed (strided) weight and a zero column: each product is
        // off by at most half a step of each operand per term.
        let (rows, k, n) = (9, 200, 40);
        let x: Vec<f32> = integers(rows * k, 4, 1000)
            .iter()
            .map(|v| v * 3e-3)
            .collect();
        let mut wt: Vec<f32> = integers(n * k, 5, 1000).iter().map(|v| v * 2e-4).collect();
        wt[7 * k..8 * k].fill(0.0);
        let w = Operand {
            data: &wt,
            row_stride: 1,
            col_stride: k,
        };
        let q = Quantized::new(&w, k, n);
        assert_eq!(q.scales[7], 0.0);
        let mut out = vec![0.0; rows * n];
        matmul(&Operand::dense(&x, k), rows, &q, [k, n], &mut out, true);
        for r in 0..rows {
            let sx = x[r * k..][..k].iter().fold(0.0f32, |m, v| m.max(v.abs())) / LEVELS;
            for j in 0..n {
                let column = (0..k).map(|d| wt[j * k + d]);
                let sw = column.clone().fold(0.0f32, |m, v| m.max(v.abs())) / WEIGHT_LEVELS;
                let (want, bound) = (0..k).zip(column).fold((0.0f64, 0.0f64), |(s, b), (d, v)| {
                    let u = f64::from(x[r * k + d]);
                    let v = f64::from(v);
                    let err = u.abs() * f64::from(sw) / 2.0
                        + v.abs() * f64::from(sx) / 2.0
                        + f64::from(sx * sw) / 4.0;
                    (s + u * v, b + err)
                });
                let got = f64::from(out[r * n + j]);
                assert!(
                    (got - want).abs() <= bound * 1.001 + 1e-6,
                    "({r}, {j}): {got} vs {want}, bound {bound}"
                );
                if j == 7 {
                    assert_eq!(got, 0.0);
                }
            }
        }
    }
}
