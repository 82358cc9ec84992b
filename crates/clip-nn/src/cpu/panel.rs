//! `out[rows, n] += x[rows, k] · w[k, n]` with `w` pre-packed into column panels
//! ([`Packed`](super::packed::Packed)), the way ONNX Runtime and OpenVINO hold their weights.
//!
//! Why not the `gemm` crate here: it packs (or reads strided) a weight on every call, and at
//! the few rows of one image or one prompt a forward pass streams each weight from memory
//! once, so the panels' sequential reads set the pace. Measured on ViT-B/32's 48 linear
//! products with the weights in DRAM (AMD EPYC Zen 4, 2 threads, docs/performance.md):
//! 1.8× the `gemm` crate at 50 rows, 3.4× at 8, 1.1× at 200 and equal at 800.
//!
//! Each thread takes whole panels (no barrier inside a product); within a panel the rows
//! go six at a time through a register-blocked micro-kernel over `KC` of the depth, so
//! the panel's slice is read from L1/L2 by every group of rows after the first.

use super::packed::{PANEL, Packed};
use super::{Operand, SharedOut, spread};

/// The most rows the panel kernels take: beyond, the `gemm` crate's blocking of the rows
/// keeps them in cache and it is as fast or faster (equal at 800 rows in the measurement
/// above, ViT-B/32 at batch 16 within noise of it in the model).
pub const MAX_ROWS: usize = 256;

/// Rows per micro-kernel call (its accumulators: 6 × 4 AVX-512 registers).
const ROWS: usize = 6;
/// Columns per strip of the AVX2 kernel (two registers).
const STRIP: usize = 16;
/// Depth per pass over a panel: a 128 KB slice, resident in L2 for every group of rows.
const KC: usize = 512;

/// The instruction set the kernels use on this CPU, or `None` (then the caller keeps the
/// `gemm` crate).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kernel {
    /// 16 lanes, 24 accumulators.
    Avx512,
    /// 8 lanes with FMA, 12 accumulators, a panel in four strips.
    Avx2,
}

impl Kernel {
    /// The kernel products use: the best this CPU runs (AVX-512, else AVX2 + FMA, else
    /// none: the `gemm` crate), or what `CLIP_PANEL_KERNEL` names (`avx2`, `off`).
    ///
    /// Measured with `xtask bench`, interleaved runs, against every product on the `gemm`
    /// crate: on an AVX2-only AMD EPYC (Zen 3) AVX2 panels gave ViT-B/32 at batch 1 6.0–6.2
    /// images/s against 3.6–3.8 and RN50 5.2–5.5 against 4.5–4.6; on an AVX-512 Zen 4 the
    /// AVX2 panels are slower than AVX-512 ones (docs/performance.md), so each CPU gets its
    /// widest.
    pub fn chosen() -> Option<Kernel> {
        static CHOSEN: std::sync::OnceLock<Option<Kernel>> = std::sync::OnceLock::new();
        *CHOSEN.get_or_init(|| {
            let best = Kernel::detect();
            match std::env::var("CLIP_PANEL_KERNEL").as_deref() {
                Ok("off") => None,
                Ok("avx2") => best.map(|_| Kernel::Avx2),
                _ => best,
            }
        })
    }

    /// The best kernel this CPU runs.
    pub fn detect() -> Option<Kernel> {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                return Some(Kernel::Avx512);
            }
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                return Some(Kernel::Avx2);
            }
        }
        None
    }

    /// Columns per strip of the panels this kernel reads (see [`Packed`]): the AVX2 kernel's
    /// 16-column strips each in one sequential stream (read a row of 64 at a time, 16 of
    /// every 256 bytes, it left the hardware prefetchers three lines in four to miss: 0.54×
    /// ONNX Runtime at ViT-B/32 batch 1 on a Zen 3, 71% of the time in its loads).
    pub fn strip(self) -> usize {
        match self {
            Kernel::Avx512 => PANEL,
            Kernel::Avx2 => STRIP,
        }
    }

    /// Whether this CPU can run `self`.
    pub fn available(self) -> bool {
        match self {
            Kernel::Avx512 => Kernel::detect() == Some(Kernel::Avx512),
            Kernel::Avx2 => Kernel::detect().is_some(),
        }
    }
}

/// `out[rows, n] += x[rows, k] · w[k, n]` with `w` packed in `kernel`'s strips
/// (`out` row-major, `x` with unit column stride), split over the thread pool when
/// `parallel`: by panels where there are enough, else by rows. Panics if the operands are
/// smaller than their extents, `w`'s strips are not `kernel`'s or `kernel` does not run on
/// this CPU.
pub fn matmul(
    kernel: Kernel,
    x: &Operand,
    rows: usize,
    w: &Packed,
    [k, n]: [usize; 2],
    out: &mut [f32],
    parallel: bool,
) {
    let panels = n.div_ceil(PANEL);
    assert_eq!(w.strip, kernel.strip(), "weights packed for another kernel");
    let w = &w.data[..];
    assert!(
        kernel.available()
            && x.col_stride == 1
            && x.covers(rows, k)
            && out.len() >= rows * n
            && w.len() >= panels * k * PANEL,
        "panel product operands smaller than their extents"
    );
    if rows == 0 || n == 0 {
        return;
    }
    let out = SharedOut(out.as_mut_ptr());
    let run = |p: usize, rows: std::ops::Range<usize>| {
        // SAFETY: the assert above bounds every read of `x` and `w` and every write of
        // `out`; threads take disjoint panels (columns) or disjoint rows.
        unsafe { run_panel(kernel, x, rows, w, [k, n], p, &out) }
    };
    spread(panels, [rows, rows, ROWS], parallel, run);
}

/// Panel `p`'s columns of `out` for `rows`.
///
/// # Safety
/// The extents checked in [`matmul`].
unsafe fn run_panel(
    kernel: Kernel,
    x: &Operand,
    rows: std::ops::Range<usize>,
    w: &[f32],
    [k, n]: [usize; 2],
    p: usize,
    out: &SharedOut,
) {
    let col = p * PANEL;
    let width = PANEL.min(n - col);
    let panel = &w[p * k * PANEL..(p + 1) * k * PANEL];
    // A last, narrower panel computes into a full-width tile, copied in and out.
    let mut tile = [0.0f32; ROWS * PANEL];
    let mut k0 = 0;
    while k0 < k {
        let depth = KC.min(k - k0);
        let mut r0 = rows.start;
        while r0 < rows.end {
            let r = ROWS.min(rows.end - r0);
            // SAFETY (all pointer arithmetic below): rows r0..r0 + r, columns col..col +
            // width and depth k0..k0 + depth lie inside the operands checked by `matmul`.
            unsafe {
                let xs = x.data.as_ptr().add(r0 * x.row_stride + k0);
                // Depth k0 of the panel's first strip; the others follow `k` rows apart.
                let ws = panel.as_ptr().add(k0 * kernel.strip());
                let dst = out.0.add(r0 * n + col);
                if width == PANEL {
                    micro(kernel, r, [depth, k, width], xs, x.row_stride, ws, dst, n);
                } else {
                    for i in 0..r {
                        let row = tile[i * PANEL..].as_mut_ptr();
                        std::ptr::copy_nonoverlapping(dst.add(i * n), row, width);
                    }
                    micro(
                        kernel,
                        r,
                        [depth, k, width],
                        xs,
                        x.row_stride,
                        ws,
                        tile.as_mut_ptr(),
                        PANEL,
                    );
                    for i in 0..r {
                        let row = tile[i * PANEL..].as_ptr();
                        std::ptr::copy_nonoverlapping(row, dst.add(i * n), width);
                    }
                }
            }
            r0 += r;
        }
        k0 += depth;
    }
}

/// `out[r, PANEL] += x[r, depth] · w[depth, PANEL]` for `r` ≤ [`ROWS`] rows, `w` a panel's
/// first strip at that depth, its other strips `k` rows of a strip apart. Columns from
/// `width` on may be left as they were where the kernel's strips are narrower than the panel
/// (the AVX2 kernel skips the strips past it: a 32-channel convolution computes half a panel).
///
/// # Safety
/// The operands cover their extents and the CPU runs `kernel`.
#[allow(clippy::too_many_arguments)]
unsafe fn micro(
    kernel: Kernel,
    r: usize,
    [depth, k, width]: [usize; 3],
    x: *const f32,
    ldx: usize,
    w: *const f32,
    out: *mut f32,
    ldo: usize,
) {
    macro_rules! rows {
        ($($f:ident)::+, $w:expr, $out:expr) => {
            match r {
                6 => $($f)::+::<6>(depth, x, ldx, $w, $out, ldo),
                5 => $($f)::+::<5>(depth, x, ldx, $w, $out, ldo),
                4 => $($f)::+::<4>(depth, x, ldx, $w, $out, ldo),
                3 => $($f)::+::<3>(depth, x, ldx, $w, $out, ldo),
                2 => $($f)::+::<2>(depth, x, ldx, $w, $out, ldo),
                _ => $($f)::+::<1>(depth, x, ldx, $w, $out, ldo),
            }
        };
    }
    #[cfg(target_arch = "x86_64")]
    // SAFETY: forwarded from the caller.
    unsafe {
        match kernel {
            Kernel::Avx512 => rows!(x86::avx512, w, out),
            Kernel::Avx2 => {
                for (i, col) in (0..width).step_by(STRIP).enumerate() {
                    rows!(x86::avx2, w.add(i * k * STRIP), out.add(col));
                }
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (kernel, r, depth, k, width, x, ldx, w, out, ldo);
        unreachable!("no panel kernel on this architecture");
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::{PANEL, STRIP};

    /// Strip rows ahead the AVX2 kernel prefetches (4 KB): a strip is one sequential stream,
    /// yet on a Zen 3 at one image the kernel still waited on its weight loads, and this
    /// took ViT-B/32 batch 1 from 6.9–7.7 to 8.5 images/s and RN50 from 5.8–6.1 to 6.5–6.7
    /// (8 KB ahead: the same).
    const PREFETCH: usize = 64;

    /// AVX-512: `R` rows × 64 columns in 4·R registers, one broadcast of `x` per row and
    /// four loads of `w` per step of the depth.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn avx512<const R: usize>(
        depth: usize,
        x: *const f32,
        ldx: usize,
        w: *const f32,
        out: *mut f32,
        ldo: usize,
    ) {
        // SAFETY: the caller's extents.
        unsafe {
            let mut acc = [[_mm512_setzero_ps(); 4]; R];
            for (r, row) in acc.iter_mut().enumerate() {
                for (c, a) in row.iter_mut().enumerate() {
                    *a = _mm512_loadu_ps(out.add(r * ldo + c * 16));
                }
            }
            // Pointers stepped, not indexed: no arithmetic (nor its overflow checks in
            // debug builds) inside the loop.
            let mut xs: [*const f32; R] = std::array::from_fn(|r| x.add(r * ldx));
            let mut wp = w;
            for _ in 0..depth {
                let w0 = _mm512_loadu_ps(wp);
                let w1 = _mm512_loadu_ps(wp.add(16));
                let w2 = _mm512_loadu_ps(wp.add(32));
                let w3 = _mm512_loadu_ps(wp.add(48));
                wp = wp.add(PANEL);
                for (row, xr) in acc.iter_mut().zip(xs.iter_mut()) {
                    let xv = _mm512_set1_ps(**xr);
                    *xr = xr.add(1);
                    row[0] = _mm512_fmadd_ps(xv, w0, row[0]);
                    row[1] = _mm512_fmadd_ps(xv, w1, row[1]);
                    row[2] = _mm512_fmadd_ps(xv, w2, row[2]);
                    row[3] = _mm512_fmadd_ps(xv, w3, row[3]);
                }
            }
            for (r, row) in acc.iter().enumerate() {
                for (c, a) in row.iter().enumerate() {
                    _mm512_storeu_ps(out.add(r * ldo + c * 16), *a);
                }
            }
        }
    }

    /// AVX2 + FMA: `R` rows × one 16-column strip (packed as its own `[k, 16]` run) in 2·R
    /// registers.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn avx2<const R: usize>(
        depth: usize,
        x: *const f32,
        ldx: usize,
        w: *const f32,
        out: *mut f32,
        ldo: usize,
    ) {
        // SAFETY: the caller's extents.
        unsafe {
            let mut acc = [[_mm256_setzero_ps(); 2]; R];
            for (r, row) in acc.iter_mut().enumerate() {
                for (c, a) in row.iter_mut().enumerate() {
                    *a = _mm256_loadu_ps(out.add(r * ldo + c * 8));
                }
            }
            let mut xs: [*const f32; R] = std::array::from_fn(|r| x.add(r * ldx));
            let mut wp = w;
            for _ in 0..depth {
                let w0 = _mm256_loadu_ps(wp);
                let w1 = _mm256_loadu_ps(wp.add(8));
                // `wrapping_add`: near the weight's end the address is past it (a prefetch
                // never faults).
                _mm_prefetch::<_MM_HINT_T0>(wp.wrapping_add(STRIP * PREFETCH) as *const i8);
                wp = wp.add(STRIP);
                for (row, xr) in acc.iter_mut().zip(xs.iter_mut()) {
                    let xv = _mm256_set1_ps(**xr);
                    *xr = xr.add(1);
                    row[0] = _mm256_fmadd_ps(xv, w0, row[0]);
                    row[1] = _mm256_fmadd_ps(xv, w1, row[1]);
                }
            }
            for (r, row) in acc.iter().enumerate() {
                for (c, a) in row.iter().enumerate() {
                    _mm256_storeu_ps(out.add(r * ldo + c * 8), *a);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic pseudo-random matrix.
    fn values(len: usize, seed: u64) -> Vec<f32> {
        let mut state = seed;
        (0..len)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((state >> 40) as f32 / (1u64 << 24) as f32) - 0.5
            })
            .collect()
    }

    /// `out + x · w` in f64.
    fn reference(
        x: &[f32],
        ldx: usize,
        w: &[f32],
        out: &[f32],
        [rows, k, n]: [usize; 3],
    ) -> Vec<f64> {
        let mut want: Vec<f64> = out.iter().map(|&v| f64::from(v)).collect();
        for r in 0..rows {
            for j in 0..n {
                let dot: f64 = (0..k)
                    .map(|d| f64::from(x[r * ldx + d]) * f64::from(w[d * n + j]))
                    .sum();
                want[r * n + j] += dot;
            }
        }
        want
    }

    #[test]
    fn every_kernel_matches_the_product_at_odd_shapes() {
        // Rows not a multiple of six, a depth past one `KC` block, a last narrower panel,
        // rows further apart than their length, and an output seeded with a bias.
        for kernel in [Kernel::Avx512, Kernel::Avx2]
            .into_iter()
            .filter(|k| k.available())
        {
            for [rows, k, n] in [[1, 8, 64], [7, 700, 100], [13, 64, 130], [50, 1030, 192]] {
                let ldx = k + 3;
                let x = values(rows * ldx, 1);
                let w = values(k * n, 2);
                let seed = values(rows * n, 3);
                let operand = Operand::dense(&w, n);
                let packed = Packed::new(&operand, k, n, kernel.strip());
                let input = Operand {
                    data: &x,
                    row_stride: ldx,
                    col_stride: 1,
                };
                for parallel in [false, true] {
                    let mut out = seed.clone();
                    matmul(kernel, &input, rows, &packed, [k, n], &mut out, parallel);
                    let want = reference(&x, ldx, &w, &seed, [rows, k, n]);
                    for (i, (&got, &want)) in out.iter().zip(&want).enumerate() {
                        let tolerance = 1e-5 * (k as f64).sqrt();
                        assert!(
                            (f64::from(got) - want).abs() <= tolerance,
                            "{kernel:?} {rows}x{k}x{n} at {i}: {got} vs {want}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn a_rows_values_do_not_depend_on_the_other_rows_or_the_threads() {
        let Some(kernel) = Kernel::detect() else {
            return; // no panel kernels on this CPU: nothing runs them
        };
        let (k, n) = (300, 200);
        let w = values(k * n, 4);
        let packed = Packed::new(&Operand::dense(&w, n), k, n, kernel.strip());
        let x = values(11 * k, 5);
        let mut all = vec![0.0; 11 * n];
        matmul(
            kernel,
            &Operand::dense(&x, k),
            11,
            &packed,
            [k, n],
            &mut all,
            true,
        );
        for r in [0, 6, 10] {
            let mut one = vec![0.0; n];
            let row = Operand::dense(&x[r * k..(r + 1) * k], k);
            matmul(kernel, &row, 1, &packed, [k, n], &mut one, false);
            assert_eq!(one, all[r * n..(r + 1) * n], "row {r}");
        }
    }
}
