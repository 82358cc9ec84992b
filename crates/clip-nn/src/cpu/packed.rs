//! Linear weights packed once into the panels the kernels of [`super::panel`] stream, and
//! kept beside the model for as long as its weights live.
//!
//! A weight's panels are kept from its second use on: a program that runs a model once
//! (`xtask embed` of one text) packs each weight into a temporary and keeps nothing, one
//! that runs it again (a server, a benchmark, a long `embed`) packs once. The kept copy
//! costs the weight's size again, so keeping stops at a budget: a quarter of the machine's
//! memory, or `CLIP_PACKED_WEIGHTS_MB` (past it weights are packed per use; 0 turns the
//! panel kernels off and leaves the products to the `gemm` crate).
//!
//! The cache knows a weight by its storage's allocation, held by a weak reference: while
//! that lives, the allocation is not reused and Burn's `flex` cannot change the values in
//! place (a weakly shared buffer is copied before it is written), so a hit is always the
//! same values; entries whose weights were dropped are swept.

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, OnceLock, Weak};

use burn::backend::flex::FlexTensor;

use super::Operand;
use super::int8::{self, Quantized};

/// Columns per panel: four AVX-512 registers.
pub const PANEL: usize = 64;

/// `w[k, n]` as `n / PANEL` panels (the last zero-padded), one after another; each panel
/// its `PANEL / strip` strips of `strip` columns one after another, each strip `[k, strip]`
/// row-major. A kernel as wide as the panel (AVX-512: `strip` = `PANEL`) reads a panel's
/// rows in order; a narrower one (AVX2: 16) reads each of its strips in order, so the
/// weight streams from memory sequentially either way.
pub struct Packed {
    /// The panels.
    pub data: Vec<f32>,
    /// Columns per strip.
    pub strip: usize,
}

impl Packed {
    /// Packs the `k × n` matrix `w` in strips of `strip` columns.
    pub fn new(w: &Operand, k: usize, n: usize, strip: usize) -> Self {
        assert!(w.covers(k, n), "packing a weight smaller than its extents");
        Packed::from_runs(k, n, strip, |d, cols, dst| {
            let row = &w.data[d * w.row_stride..];
            if w.col_stride == 1 {
                dst.copy_from_slice(&row[cols]);
            } else {
                for (v, c) in dst.iter_mut().zip(cols) {
                    *v = row[c * w.col_stride];
                }
            }
        })
    }

    /// Packs the `k × n` matrix whose element (`row`, `col`) is `value(row, col)`.
    pub fn from_fn(k: usize, n: usize, strip: usize, value: impl Fn(usize, usize) -> f32) -> Self {
        Packed::from_runs(k, n, strip, |d, cols, dst| {
            for (v, c) in dst.iter_mut().zip(cols) {
                *v = value(d, c);
            }
        })
    }

    /// Packs a `k × n` matrix whose row `d`, columns `cols`, `fill(d, cols, dst)` writes.
    fn from_runs(
        k: usize,
        n: usize,
        strip: usize,
        fill: impl Fn(usize, std::ops::Range<usize>, &mut [f32]),
    ) -> Self {
        assert!(
            strip > 0 && PANEL.is_multiple_of(strip),
            "a strip must divide the panel"
        );
        let mut data = vec![0.0f32; n.div_ceil(PANEL) * k * PANEL];
        for (i, strip_data) in data.chunks_exact_mut(k * strip).enumerate() {
            let col = i * strip;
            if col >= n {
                break;
            }
            let width = strip.min(n - col);
            for (d, dst) in strip_data.chunks_exact_mut(strip).enumerate() {
                fill(d, col..col + width, &mut dst[..width]);
            }
        }
        Packed { data, strip }
    }

    fn bytes(&self) -> usize {
        self.data.len() * size_of::<f32>()
    }
}

/// Which view of which storage.
#[derive(Clone, PartialEq, Eq, Hash)]
struct Key {
    storage: usize,
    offset: usize,
    shape: [usize; 2],
    view: View,
    strip: usize,
}

/// How the `k × n` matrix is read from the storage.
#[derive(Clone, PartialEq, Eq, Hash)]
enum View {
    /// A 2-d tensor's rows and columns, with these strides.
    Strided([isize; 2]),
    /// A convolution weight [out, in, kh, kw] as [kh · kw · in, out] (see [`conv_taps`]).
    Taps,
    /// A 2-d tensor with these strides, quantised to 8 bits (see [`quantized`]).
    Quantized([isize; 2]),
    /// [`View::Taps`] quantised to 8 bits (see [`conv_taps_quantized`]).
    QuantizedTaps,
}

enum Entry {
    /// Used once, not packed yet.
    Seen(Weak<burn::tensor::Bytes>),
    /// Packed (a [`Packed`] or a [`Quantized`]), and its size in bytes.
    Packed(Weak<burn::tensor::Bytes>, Arc<dyn Any + Send + Sync>, usize),
}

impl Entry {
    fn alive(&self) -> bool {
        match self {
            Entry::Seen(w) | Entry::Packed(w, ..) => w.strong_count() > 0,
        }
    }

    fn bytes(&self) -> usize {
        match self {
            Entry::Seen(_) => 0,
            Entry::Packed(_, _, bytes) => *bytes,
        }
    }
}

#[derive(Default)]
struct Cache {
    entries: HashMap<Key, Entry>,
    bytes: usize,
}

impl Cache {
    /// Forgets the weights that were dropped.
    fn sweep(&mut self) {
        let mut freed = 0;
        self.entries.retain(|_, e| {
            let keep = e.alive();
            if !keep {
                freed += e.bytes();
            }
            keep
        });
        self.bytes -= freed;
    }
}

static CACHE: LazyLock<Mutex<Cache>> = LazyLock::new(Mutex::default);

/// The packed panels of the 2-d weight `w` (seen as `operand`, `k × n`): kept from an
/// earlier use, or packed now (and kept from the second use on, within the budget); `None`
/// with packing turned off.
///
/// Every use of a weight runs the same kernel, so a product's values do not depend on
/// whether its weight was cached (nor on the batch it is in: each row's sum runs in one
/// order).
pub fn packed(
    w: &FlexTensor,
    operand: &Operand,
    [k, n]: [usize; 2],
    strip: usize,
) -> Option<Arc<Packed>> {
    let strides = w.layout().strides();
    let view = View::Strided([strides[0], strides[1]]);
    cached(w, [k, n], view, strip, Packed::bytes, || {
        Packed::new(operand, k, n, strip)
    })
}

/// The 2-d weight `w` (seen as `operand`, `k × n`) quantised to 8 bits per column, kept
/// as [`packed`] keeps panels.
pub fn quantized(w: &FlexTensor, operand: &Operand, [k, n]: [usize; 2]) -> Option<Arc<Quantized>> {
    let strides = w.layout().strides();
    let view = View::Quantized([strides[0], strides[1]]);
    cached(w, [k, n], view, int8::STRIP, Quantized::bytes, || {
        Quantized::new(operand, k, n)
    })
}

/// The panels of a convolution weight `w` [out, in, kh, kw] (contiguous) seen as the
/// [kh · kw · in, out] matrix that multiplies channels-last patches: row (i, j, c) holds
/// every output channel's weight at kernel offset (i, j) of input channel `c`. Kept as
/// [`packed`] keeps panels.
pub fn conv_taps(
    w: &FlexTensor,
    values: &[f32],
    [out, inputs, kh, kw]: [usize; 4],
    strip: usize,
) -> Option<Arc<Packed>> {
    let dims = [out, inputs, kh, kw];
    let k = kh * kw * inputs;
    cached(w, [k, out], View::Taps, strip, Packed::bytes, || {
        Packed::from_fn(k, out, strip, |row, o| tap_weight(values, dims, row, o))
    })
}

/// Element (`row`, `o`) of [`conv_taps`]' matrix: output channel `o`'s weight at kernel
/// offset `row / inputs` of input channel `row % inputs`.
fn tap_weight(values: &[f32], [_, inputs, kh, kw]: [usize; 4], row: usize, o: usize) -> f32 {
    let (tap, c) = (row / inputs, row % inputs);
    values[((o * inputs + c) * kh + tap / kw) * kw + tap % kw]
}

/// [`conv_taps`]'s matrix quantised to 8 bits per output channel, kept as [`packed`] keeps
/// panels.
pub fn conv_taps_quantized(
    w: &FlexTensor,
    values: &[f32],
    dims: [usize; 4],
) -> Option<Arc<Quantized>> {
    let [out, inputs, kh, kw] = dims;
    let k = kh * kw * inputs;
    let view = View::QuantizedTaps;
    cached(w, [k, out], view, int8::STRIP, Quantized::bytes, || {
        Quantized::from_fn(k, out, |row, o| tap_weight(values, dims, row, o))
    })
}

/// `pack()`'s panels of `w` seen through `view`, from the cache or fresh (and cached from
/// the second use on, within the budget, `bytes` being their size); `None` with packing
/// turned off.
fn cached<T: Any + Send + Sync>(
    w: &FlexTensor,
    shape: [usize; 2],
    view: View,
    strip: usize,
    bytes: fn(&T) -> usize,
    pack: impl Fn() -> T,
) -> Option<Arc<T>> {
    let budget = budget();
    if budget == 0 {
        return None;
    }
    let storage = w.data_arc();
    let key = Key {
        storage: Arc::as_ptr(&storage) as usize,
        offset: w.layout().start_offset(),
        shape,
        view,
        strip,
    };
    let fresh = || Some(Arc::new(pack()));
    let Ok(mut cache) = CACHE.lock() else {
        return fresh();
    };
    match cache.entries.get(&key) {
        Some(Entry::Packed(weak, packed, _)) if weak.strong_count() > 0 => {
            return packed.clone().downcast().ok();
        }
        Some(Entry::Seen(weak)) if weak.strong_count() > 0 => {}
        _ => {
            cache.sweep();
            cache
                .entries
                .insert(key, Entry::Seen(Arc::downgrade(&storage)));
            return fresh();
        }
    }
    drop(cache);
    // Packed outside the lock: other models' products go on meanwhile.
    let packed = Arc::new(pack());
    let Ok(mut cache) = CACHE.lock() else {
        return Some(packed);
    };
    if let Some(Entry::Packed(_, theirs, _)) = cache.entries.get(&key) {
        return theirs.clone().downcast().ok(); // another thread packed it first
    }
    cache.sweep();
    let size = bytes(&packed);
    if cache.bytes + size <= budget {
        cache.bytes += size;
        let entry = Entry::Packed(Arc::downgrade(&storage), packed.clone(), size);
        cache.entries.insert(key, entry);
    }
    Some(packed)
}

/// Whether products may run on packed panels at all (`CLIP_PACKED_WEIGHTS_MB` is not 0).
pub fn enabled() -> bool {
    budget() > 0
}

/// The most bytes of packed weights to hold.
fn budget() -> usize {
    static BUDGET: OnceLock<usize> = OnceLock::new();
    *BUDGET.get_or_init(|| {
        if let Some(mb) = std::env::var("CLIP_PACKED_WEIGHTS_MB")
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
        {
            return mb.saturating_mul(1 << 20);
        }
        memory_bytes().map_or(1 << 30, |total| total / 4)
    })
}

/// The machine's memory (Linux: `MemTotal`).
fn memory_bytes() -> Option<usize> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kb: usize = info
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, Distribution, Tensor};

    use super::super::{flex_f32, operand};
    use super::*;

    /// Whether the cache keeps panels of `storage` (after forgetting dropped weights).
    fn kept(storage: usize) -> bool {
        let mut cache = CACHE.lock().unwrap();
        cache.sweep();
        cache
            .entries
            .iter()
            .any(|(key, e)| key.storage == storage && matches!(e, Entry::Packed(..)))
    }

    #[test]
    fn panels_are_kept_from_the_second_use_and_released_with_the_weight() {
        let t = Tensor::<2>::random([70, 100], Distribution::Normal(0.0, 1.0), &Device::flex());
        let w = flex_f32(&t).unwrap();
        let storage = Arc::as_ptr(&w.data_arc()) as usize;
        let view = operand(&w).unwrap();
        let first = packed(&w, &view, [70, 100], PANEL).unwrap();
        assert!(!kept(storage), "a first use keeps nothing");
        let second = packed(&w, &view, [70, 100], PANEL).unwrap();
        assert!(kept(storage));
        assert_eq!(first.data, second.data);
        assert!(Arc::ptr_eq(
            &second,
            &packed(&w, &view, [70, 100], PANEL).unwrap()
        ));
        // Panel layout: column 65 of row 3 is in the second panel, zero-padded to 128.
        let values = t.to_data().try_into_vec::<f32>().unwrap();
        let panel = |p: usize| &second.data[p * 70 * PANEL..(p + 1) * 70 * PANEL];
        assert_eq!(second.data.len(), 2 * 70 * PANEL);
        assert_eq!(panel(1)[3 * PANEL + 1], values[3 * 100 + 65]);
        assert_eq!(panel(1)[3 * PANEL + 40], 0.0);
        // In 16-column strips: column 65 is the second panel's first strip, column 90 its
        // second strip (column 10 of it); both strips [70, 16].
        let strips = packed(&w, &view, [70, 100], 16).unwrap();
        assert!(
            !Arc::ptr_eq(&strips, &second),
            "another layout, another entry"
        );
        let panel = |p: usize| &strips.data[p * 70 * PANEL..(p + 1) * 70 * PANEL];
        assert_eq!(panel(1)[3 * 16 + 1], values[3 * 100 + 65]);
        assert_eq!(panel(1)[70 * 16 + 3 * 16 + 10], values[3 * 100 + 90]);
        assert_eq!(panel(0)[3 * 70 * 16 + 5 * 16 + 2], values[5 * 100 + 50]);
        assert_eq!(
            panel(1)[2 * 70 * 16 + 3 * 16 + 4],
            0.0,
            "column 100: padding"
        );
        drop(strips);
        drop((first, second));
        let _ = view;
        drop((w, t));
        assert!(!kept(storage), "the weight was dropped");
    }
}
