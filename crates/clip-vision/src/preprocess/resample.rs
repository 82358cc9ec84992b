//! Pillow's separable resampling, to the value (`libImaging/Resample.c`, `Geometry.c`).
//!
//! Bicubic (a = −0.5) weights are computed in f64 with the support widened by the scale
//! factor when shrinking, normalised per output sample, then — for 8-bit images — rounded to
//! 22-bit fixed point and accumulated in i32 from a half-unit bias; 16-bit images accumulate
//! in f64 and round half away from zero. The horizontal pass runs first and its 8-bit
//! result feeds the vertical pass, exactly as Pillow does, so results are bit-identical.
//!
//! Only the output pixels inside a window are computed (CLIP center-crops right after the
//! resize); each output pixel depends on nothing else, so this changes no value.

/// Pillow's `PRECISION_BITS` for 8-bit images: 32 − 8 − 2.
const PRECISION_BITS: u32 = 22;

/// A sample type Pillow resamples: 8-bit (fixed point) or 16-bit (`I;16`, floating point).
pub(crate) trait Sample: Copy + Default + Send + Sync + 'static {
    /// The weights as this sample type accumulates them.
    type Weight: Copy;
    /// The accumulator.
    type Acc: Copy;
    /// Converts normalised f64 weights.
    fn weights(w: &[f64]) -> Vec<Self::Weight>;
    /// The accumulator's starting value (Pillow's rounding bias for 8 bits).
    const START: Self::Acc;
    /// `acc + s·w`.
    fn mac(acc: Self::Acc, s: Self, w: Self::Weight) -> Self::Acc;
    /// Rounds and clips the sum as Pillow does.
    fn finish(acc: Self::Acc) -> Self;
}

impl Sample for u8 {
    type Weight = i32;
    type Acc = i32;
    const START: i32 = 1 << (PRECISION_BITS - 1);

    fn weights(w: &[f64]) -> Vec<i32> {
        let one = f64::from(1u32 << PRECISION_BITS);
        // `normalize_coeffs_8bpc`: round half away from zero, truncating casts.
        w.iter()
            .map(|&k| {
                if k < 0.0 {
                    (-0.5 + k * one) as i32
                } else {
                    (0.5 + k * one) as i32
                }
            })
            .collect()
    }

    #[inline(always)]
    fn mac(acc: i32, s: u8, w: i32) -> i32 {
        acc.wrapping_add(i32::from(s).wrapping_mul(w))
    }

    #[inline(always)]
    fn finish(acc: i32) -> u8 {
        // `clip8`: an arithmetic shift, then clamp.
        (acc >> PRECISION_BITS).clamp(0, 255) as u8
    }
}

impl Sample for u16 {
    type Weight = f64;
    type Acc = f64;
    const START: f64 = 0.0;

    fn weights(w: &[f64]) -> Vec<f64> {
        w.to_vec()
    }

    #[inline(always)]
    fn mac(acc: f64, s: u16, w: f64) -> f64 {
        acc + f64::from(s) * w
    }

    #[inline(always)]
    fn finish(acc: f64) -> u16 {
        // `CLIP16(ROUND_UP(ss))`.
        let rounded = if acc >= 0.0 {
            (acc + 0.5) as i64
        } else {
            (acc - 0.5) as i64
        };
        rounded.clamp(0, 65535) as u16
    }
}

/// Pillow's bicubic kernel with a = −0.5.
fn bicubic(x: f64) -> f64 {
    const A: f64 = -0.5;
    let x = x.abs();
    if x < 1.0 {
        ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
    } else if x < 2.0 {
        (((x - 5.0) * x + 8.0) * x - 4.0) * A
    } else {
        0.0
    }
}

/// The taps of one output sample: the first input index and its weights.
struct Taps {
    first: usize,
    weights: std::ops::Range<usize>,
}

/// `precompute_coeffs` for output samples `outputs` of an `in_size → out_size` resize.
struct Coefficients<W> {
    taps: Vec<Taps>,
    weights: Vec<W>,
}

impl<W> Coefficients<W> {
    fn new<S: Sample<Weight = W>>(
        in_size: usize,
        out_size: usize,
        outputs: std::ops::Range<usize>,
    ) -> Self {
        const SUPPORT: f64 = 2.0;
        let scale = in_size as f64 / out_size as f64;
        let filterscale = scale.max(1.0);
        let support = SUPPORT * filterscale;
        let inv_filterscale = 1.0 / filterscale;
        let mut taps = Vec::with_capacity(outputs.len());
        let mut all = Vec::new();
        for xx in outputs {
            let center = (xx as f64 + 0.5) * scale;
            // C's `(int)` truncates toward zero; negatives clamp to 0 either way.
            let xmin = ((center - support + 0.5) as i64).max(0) as usize;
            let xmax = ((center + support + 0.5) as i64).min(in_size as i64) as usize;
            let mut w: Vec<f64> = (xmin..xmax)
                .map(|x| bicubic((x as f64 - center + 0.5) * inv_filterscale))
                .collect();
            let total: f64 = w.iter().sum();
            if total != 0.0 {
                w.iter_mut().for_each(|k| *k /= total);
            }
            let start = all.len();
            all.extend(S::weights(&w));
            taps.push(Taps {
                first: xmin,
                weights: start..all.len(),
            });
        }
        Coefficients { taps, weights: all }
    }

    fn get(&self, i: usize) -> (usize, &[W]) {
        let t = &self.taps[i];
        (t.first, &self.weights[t.weights.clone()])
    }

    /// The input range all taps read.
    fn span(&self) -> std::ops::Range<usize> {
        let start = self.taps.iter().map(|t| t.first).min().unwrap_or(0);
        let end = self
            .taps
            .iter()
            .map(|t| t.first + t.weights.len())
            .max()
            .unwrap_or(start);
        start..end
    }
}

/// An interleaved image with `bands` samples per pixel.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Plane<S> {
    pub width: usize,
    pub height: usize,
    pub bands: usize,
    pub data: Vec<S>,
}

impl<S: Sample> Plane<S> {
    fn at(&self, x: usize, y: usize) -> &[S] {
        let i = (y * self.width + x) * self.bands;
        &self.data[i..i + self.bands]
    }
}

/// A `size × size` window at (`left`, `top`) of the resized image; parts outside it are
/// zero, as torchvision's padding makes them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Window {
    pub left: i64,
    pub top: i64,
    pub width: usize,
    pub height: usize,
}

impl Window {
    /// The window's columns (or rows) that fall inside `0..len`.
    fn inside(start: i64, count: usize, len: usize) -> std::ops::Range<usize> {
        let lo = start.clamp(0, len as i64) as usize;
        let hi = (start + count as i64).clamp(0, len as i64) as usize;
        lo..hi.max(lo)
    }
}

/// Bicubic resize of `src` to `out_w × out_h`, returning only `window` of the result.
pub(crate) fn bicubic_window<S: Sample>(
    src: &Plane<S>,
    out_w: usize,
    out_h: usize,
    window: Window,
) -> Plane<S> {
    match src.bands {
        1 => bicubic_bands::<S, 1>(src, out_w, out_h, window),
        2 => bicubic_bands::<S, 2>(src, out_w, out_h, window),
        3 => bicubic_bands::<S, 3>(src, out_w, out_h, window),
        4 => bicubic_bands::<S, 4>(src, out_w, out_h, window),
        n => unreachable!("{n} bands"),
    }
}

/// [`bicubic_window`] with the band count known at compile time, so the inner loops unroll.
fn bicubic_bands<S: Sample, const B: usize>(
    src: &Plane<S>,
    out_w: usize,
    out_h: usize,
    window: Window,
) -> Plane<S> {
    let cols = Window::inside(window.left, window.width, out_w);
    let rows = Window::inside(window.top, window.height, out_h);
    let need_h = out_w != src.width;
    let need_v = out_h != src.height;
    let row_len = src.width * B;
    if !horizontal_first(src.width, src.height, out_w, out_h) {
        return vertical_first::<S, B>(src, out_w, out_h, window, cols, rows);
    }

    // Vertical taps first: they decide which source rows the horizontal pass must produce.
    let vert = need_v.then(|| Coefficients::new::<S>(src.height, out_h, rows.clone()));
    let src_rows = match &vert {
        Some(v) => v.span(),
        None => rows.clone(),
    };

    // Horizontal pass over the needed rows → [src_rows, cols, B].
    let temp_len = cols.len() * B;
    let mut temp = Vec::with_capacity(src_rows.len() * temp_len);
    if need_h {
        let horiz = Coefficients::new::<S>(src.width, out_w, cols.clone());
        for y in src_rows.clone() {
            let line = &src.data[y * row_len..(y + 1) * row_len];
            for i in 0..cols.len() {
                let (first, w) = horiz.get(i);
                temp.extend(horizontal_tap::<S, B>(line, first, w));
            }
        }
    } else {
        for y in src_rows.clone() {
            temp.extend_from_slice(
                &src.data[y * row_len + cols.start * B..y * row_len + cols.end * B],
            );
        }
    }

    // Vertical pass → the window, a whole row of taps at a time.
    let out_row = window.width * B;
    let mut data = vec![S::default(); window.height * out_row];
    let x_off = (cols.start as i64 - window.left) as usize * B;
    let mut acc = vec![S::START; temp_len];
    for (i, y) in rows.clone().enumerate() {
        let oy = (y as i64 - window.top) as usize;
        let out = &mut data[oy * out_row + x_off..oy * out_row + x_off + temp_len];
        match &vert {
            Some(v) => {
                let (first, w) = v.get(i);
                let first = first - src_rows.start;
                acc.fill(S::START);
                for (r, &k) in w.iter().enumerate() {
                    let line = &temp[(first + r) * temp_len..(first + r + 1) * temp_len];
                    for (a, &s) in acc.iter_mut().zip(line) {
                        *a = S::mac(*a, s, k);
                    }
                }
                for (o, &a) in out.iter_mut().zip(&acc) {
                    *o = S::finish(a);
                }
            }
            None => {
                let r = y - src_rows.start;
                out.copy_from_slice(&temp[r * temp_len..(r + 1) * temp_len]);
            }
        }
    }
    Plane {
        width: window.width,
        height: window.height,
        bands: src.bands,
        data,
    }
}

/// One output pixel of a horizontal pass: the `B` bands of `line`'s pixels `first..` weighted
/// by `w`, rounded to the sample type.
fn horizontal_tap<S: Sample, const B: usize>(line: &[S], first: usize, w: &[S::Weight]) -> [S; B] {
    let taps = &line[first * B..(first + w.len()) * B];
    let mut acc = [S::START; B];
    for (px, &k) in taps.chunks_exact(B).zip(w) {
        for b in 0..B {
            acc[b] = S::mac(acc[b], px[b], k);
        }
    }
    acc.map(S::finish)
}

/// Pillow 13's order of the two passes (`ImagingResampleInner`): horizontal first, unless the
/// height shrinks by more than twice as many pixels as the width does — then the vertical
/// pass runs first, on fewer rows. Each pass rounds to the sample type, so the order shows in
/// the last bit (one 8-bit level).
fn horizontal_first(in_w: usize, in_h: usize, out_w: usize, out_h: usize) -> bool {
    let dy = in_h as i64 - out_h as i64;
    let dx = in_w as i64 - out_w as i64;
    !(dy > 0 && dy > 2 * dx)
}

/// [`bicubic_bands`] with the vertical pass first (the height shrinks: see
/// [`horizontal_first`]), over the source columns the horizontal taps of the window read.
fn vertical_first<S: Sample, const B: usize>(
    src: &Plane<S>,
    out_w: usize,
    out_h: usize,
    window: Window,
    cols: std::ops::Range<usize>,
    rows: std::ops::Range<usize>,
) -> Plane<S> {
    let horiz =
        (out_w != src.width).then(|| Coefficients::new::<S>(src.width, out_w, cols.clone()));
    let src_cols = match &horiz {
        Some(h) => h.span(),
        None => cols.clone(),
    };
    let vert = Coefficients::new::<S>(src.height, out_h, rows.clone());
    let row_len = src.width * B;

    // Vertical pass → [rows, src_cols, B].
    let temp_len = src_cols.len() * B;
    let mut temp = Vec::with_capacity(rows.len() * temp_len);
    let mut acc = vec![S::START; temp_len];
    for i in 0..rows.len() {
        let (first, w) = vert.get(i);
        acc.fill(S::START);
        for (r, &k) in w.iter().enumerate() {
            let start = (first + r) * row_len + src_cols.start * B;
            for (a, &s) in acc.iter_mut().zip(&src.data[start..start + temp_len]) {
                *a = S::mac(*a, s, k);
            }
        }
        temp.extend(acc.iter().map(|&a| S::finish(a)));
    }

    // Horizontal pass → the window.
    let out_row = window.width * B;
    let mut data = vec![S::default(); window.height * out_row];
    let x_off = (cols.start as i64 - window.left) as usize * B;
    for (i, y) in rows.enumerate() {
        let line = &temp[i * temp_len..(i + 1) * temp_len];
        let oy = (y as i64 - window.top) as usize;
        let out = &mut data[oy * out_row + x_off..oy * out_row + x_off + cols.len() * B];
        match &horiz {
            Some(h) => {
                for (j, px_out) in out.chunks_exact_mut(B).enumerate() {
                    let (first, w) = h.get(j);
                    px_out.copy_from_slice(&horizontal_tap::<S, B>(
                        line,
                        first - src_cols.start,
                        w,
                    ));
                }
            }
            None => out.copy_from_slice(line),
        }
    }
    Plane {
        width: window.width,
        height: window.height,
        bands: src.bands,
        data,
    }
}

/// Pillow's nearest-neighbour resize (`ImagingScaleAffine`), used for palette and bilevel
/// images; the source positions accumulate in f64 exactly as Pillow's loop does.
pub(crate) fn nearest_window<S: Sample>(
    src: &Plane<S>,
    out_w: usize,
    out_h: usize,
    window: Window,
) -> Plane<S> {
    let positions = |in_size: usize, out_size: usize| -> Vec<Option<usize>> {
        let step = in_size as f64 / out_size as f64;
        let mut pos = step * 0.5;
        (0..out_size)
            .map(|_| {
                let p = if pos < 0.0 { -1 } else { pos as i64 };
                pos += step;
                (p >= 0 && (p as usize) < in_size).then_some(p as usize)
            })
            .collect()
    };
    let (xs, ys) = (positions(src.width, out_w), positions(src.height, out_h));
    let bands = src.bands;
    let mut out = Plane {
        width: window.width,
        height: window.height,
        bands,
        data: vec![S::default(); window.width * window.height * bands],
    };
    for y in Window::inside(window.top, window.height, out_h) {
        let Some(sy) = ys[y] else { continue };
        for x in Window::inside(window.left, window.width, out_w) {
            let Some(sx) = xs[x] else { continue };
            let o = (((y as i64 - window.top) as usize) * window.width
                + (x as i64 - window.left) as usize)
                * bands;
            out.data[o..o + bands].copy_from_slice(src.at(sx, sy));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full(w: usize, h: usize) -> Window {
        Window {
            left: 0,
            top: 0,
            width: w,
            height: h,
        }
    }

    #[test]
    fn weights_sum_to_one_in_fixed_point() {
        for (inp, out) in [(10, 3), (3, 10), (1000, 224), (224, 225)] {
            let c = Coefficients::new::<u8>(inp, out, 0..out);
            for i in 0..out {
                let sum: i32 = c.get(i).1.iter().sum();
                assert!(
                    (sum - (1 << PRECISION_BITS)).abs() <= 3,
                    "{inp}->{out} #{i}: {sum}"
                );
            }
        }
    }

    #[test]
    fn constant_image_stays_constant() {
        let src = Plane {
            width: 37,
            height: 23,
            bands: 3,
            data: vec![200u8; 37 * 23 * 3],
        };
        let out = bicubic_window(&src, 11, 50, full(11, 50));
        assert!(out.data.iter().all(|&v| v == 200));
    }

    #[test]
    fn window_equals_crop_of_full_resize() {
        let data: Vec<u8> = (0..61 * 47 * 2).map(|i| (i * 7919 % 251) as u8).collect();
        let src = Plane {
            width: 61,
            height: 47,
            bands: 2,
            data,
        };
        let all = bicubic_window(&src, 40, 30, full(40, 30));
        let win = Window {
            left: 5,
            top: 3,
            width: 20,
            height: 20,
        };
        let part = bicubic_window(&src, 40, 30, win);
        for y in 0..20 {
            for x in 0..20 {
                assert_eq!(part.at(x, y), all.at(x + 5, y + 3));
            }
        }
        let near_all = nearest_window(&src, 40, 30, full(40, 30));
        let near_part = nearest_window(&src, 40, 30, win);
        assert_eq!(near_part.at(7, 9), near_all.at(12, 12));
    }

    #[test]
    fn window_outside_the_image_is_zero() {
        let src = Plane {
            width: 4,
            height: 4,
            bands: 1,
            data: vec![9u8; 16],
        };
        let out = bicubic_window(
            &src,
            4,
            4,
            Window {
                left: -1,
                top: 0,
                width: 6,
                height: 4,
            },
        );
        assert_eq!(&out.data[..6], &[0, 9, 9, 9, 9, 0]);
    }
}
