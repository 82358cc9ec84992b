//! Fast paths for the CPU backend: matrix products with the work around them fused into
//! their outputs.
//!
//! Nearly three quarters of a CPU forward pass is matrix products. They run through the
//! project's own kernels over weights packed once into panels (`panel`, `packed`: AVX-512,
//! or AVX2 + FMA on CPUs without it) and, for large row counts or CPUs with neither, the
//! `gemm` crate (the one Burn's `flex` backend uses), built here with its AVX-512 kernels
//! (the `x86-v4` feature; chosen at run time, AVX2 or portable kernels on CPUs without
//! AVX-512). Around the products: the bias seeds the output, QuickGELU
//! ([`linear_activated`]) and inference batch norm + ReLU ([`conv2d_batch_norm`]) are
//! applied to a product's output in place, convolutions read their images in place or
//! through one im2col buffer, self-attention reads its heads straight from the packed
//! q, k, v projection ([`self_attention`]), the ResNets' attention pool folds its key and
//! value projections into its one query ([`one_query_attention`]), and ResNet's tiling
//! average pools ([`avg_pool2d`]) run directly on the storage; training's AdamW update is
//! one pass over each parameter ([`adamw_step`]).
//!
//! Only `flex` float32 tensors take these paths. Under autodiff (training), convolutions,
//! batch norms and tiling average pools run as autodiff ops with their own backward passes
//! ([`conv2d_batch_norm`] and the `FastForward` layers pick them); every other trained
//! layer, other backends and other dtypes go through Burn unchanged, so GPUs never see this
//! code.

use burn::backend::flex::{Flex, FlexTensor};
use burn::tensor::{DType, Shape, Tensor, TensorData};

mod adamw;
mod attention;
mod channels_last;
mod conv;
mod conv_grad;
mod exp;
mod gelu;
mod gelu_grad;
mod int8;
mod linear;
mod norm_grad;
mod one_query;
mod packed;
mod panel;
mod pool;
mod pool_grad;
mod squared_sum;

pub use adamw::adamw_step;
pub(crate) use attention::self_attention;
pub use channels_last::ChannelsLast;
pub(crate) use conv::conv2d;
pub use conv::conv2d_batch_norm;
pub use int8::set_int8_linears;
pub(crate) use linear::linear;
pub use linear::linear_activated;
pub use one_query::one_query_attention;
pub(crate) use pool::avg_pool2d;
pub use squared_sum::squared_sum;

/// Products with fewer multiply-adds than this run on one thread (Burn's `flex` threshold):
/// below it, waking the thread pool costs more than it saves.
const PARALLEL_THRESHOLD: usize = 192 * 192 * 192;

/// The matrix-product kernels the `gemm` crate picks on this CPU (for reports and
/// benchmarks).
pub fn cpu_matmul() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            return "gemm avx512";
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            return "gemm avx2";
        }
    }
    "gemm"
}

/// The pre-packed panel kernels linear layers run on this CPU (`"avx512"`, `"avx2"`), or
/// `None` where every product goes through the `gemm` crate (for reports and benchmarks).
pub fn panel_kernel() -> Option<&'static str> {
    let kernel = panel::Kernel::chosen().filter(|_| packed::enabled());
    kernel.map(|k| match k {
        panel::Kernel::Avx512 => "avx512",
        panel::Kernel::Avx2 => "avx2",
    })
}

/// The output's base pointer, shared by threads that write disjoint elements.
struct SharedOut(*mut f32);
// SAFETY: only shared by products whose threads write disjoint elements (see `spread`).
unsafe impl Sync for SharedOut {}

/// Runs `run(unit, rows)` over every column unit (panel, strip) `0..units` and all `rows`,
/// on the thread pool when `parallel`, as `[rows, block, group]`: the rows in blocks of
/// `block` (each kept in cache while every unit passes over it), split between threads in
/// multiples of `group`. Threads take whole blocks where there are enough of them, else
/// contiguous runs of units (each thread streams its own part of the weight), else (a
/// narrow output) the rows. Every call covers disjoint columns × rows.
fn spread(
    units: usize,
    [rows, block, group]: [usize; 3],
    parallel: bool,
    run: impl Fn(usize, std::ops::Range<usize>) + Sync,
) {
    use rayon::prelude::*;
    let block = block.max(1);
    let blocks = rows.div_ceil(block);
    let rows_of = |b: usize| b * block..((b + 1) * block).min(rows);
    let threads = rayon::current_num_threads();
    if !parallel || threads == 1 {
        for b in 0..blocks {
            (0..units).for_each(|u| run(u, rows_of(b)));
        }
    } else if blocks >= 2 * threads {
        // Many rows: whole blocks per thread, the weight shared through L3.
        (0..blocks)
            .into_par_iter()
            .for_each(|b| (0..units).for_each(|u| run(u, rows_of(b))));
    } else if units >= 2 * threads {
        let per = units.div_ceil(threads);
        (0..threads).into_par_iter().for_each(|t| {
            for b in 0..blocks {
                (t * per..((t + 1) * per).min(units)).for_each(|u| run(u, rows_of(b)));
            }
        });
    } else {
        let per = rows.div_ceil(threads).next_multiple_of(group);
        (0..threads).into_par_iter().for_each(|t| {
            let mine = (t * per).min(rows)..((t + 1) * per).min(rows);
            if !mine.is_empty() {
                (0..units).for_each(|u| run(u, mine.clone()));
            }
        });
    }
}

/// A matrix operand read in place: its elements from the first one, and the distances
/// between consecutive rows and between consecutive columns.
struct Operand<'a> {
    data: &'a [f32],
    row_stride: usize,
    col_stride: usize,
}

impl<'a> Operand<'a> {
    /// A row-major matrix with `cols` columns.
    fn dense(data: &'a [f32], cols: usize) -> Self {
        Operand {
            data,
            row_stride: cols,
            col_stride: 1,
        }
    }

    /// Whether every element of a `rows` × `cols` matrix lies inside the buffer.
    fn covers(&self, rows: usize, cols: usize) -> bool {
        if rows == 0 || cols == 0 {
            return true;
        }
        let last = (rows - 1)
            .checked_mul(self.row_stride)
            .zip((cols - 1).checked_mul(self.col_stride))
            .and_then(|(r, c)| r.checked_add(c));
        last.is_some_and(|last| last < self.data.len())
    }
}

/// Views a 2-d flex tensor as an operand without copying (any non-negative strides).
fn operand(t: &FlexTensor) -> Option<Operand<'_>> {
    let layout = t.layout();
    let [rows, cols] = layout.shape().dims::<2>();
    let strides = layout.strides();
    let operand = Operand {
        data: t.storage::<f32>().get(layout.start_offset()..)?,
        row_stride: usize::try_from(strides[0]).ok()?,
        col_stride: usize::try_from(strides[1]).ok()?,
    };
    operand.covers(rows, cols).then_some(operand)
}

/// A float32 `flex` tensor's primitive, or `None` for any other backend, dtype, or an
/// autodiff tensor.
fn flex_f32<const D: usize>(t: &Tensor<D>) -> Option<FlexTensor> {
    let t = t.clone().try_into_primitive::<Flex>().ok()?;
    (t.dtype() == DType::F32).then_some(t)
}

/// A contiguous float32 `flex` tensor's elements, from its first one.
fn contiguous(t: &FlexTensor) -> Option<&[f32]> {
    let layout = t.layout();
    if !layout.is_contiguous() {
        return None;
    }
    t.storage::<f32>()
        .get(layout.start_offset()..)?
        .get(..layout.num_elements())
}

/// The elements of a contiguous float32 tensor (as [`FlexTensor::to_contiguous`] returns).
fn values(t: &FlexTensor) -> &[f32] {
    &t.storage::<f32>()[t.layout().start_offset()..][..t.layout().num_elements()]
}

/// Interleaved running sums: one per lane of an AVX-512 register (two AVX2 ones).
const LANES: usize = 8;

/// `Σ f(v)` over `values` as [`LANES`] interleaved running sums added at the end: one
/// running sum is a chain of dependent additions the compiler may not reorder, so it ran
/// at one value per add latency (the batch norm's sums were 9% of a tiny ResNet's parallel
/// work).
fn lane_sums(values: &[f32], f: impl Fn(f32) -> f64) -> f64 {
    let mut lanes = [0f64; LANES];
    let mut chunks = values.chunks_exact(LANES);
    for chunk in &mut chunks {
        for (sum, &v) in lanes.iter_mut().zip(chunk) {
            *sum += f(v);
        }
    }
    let tail: f64 = chunks.remainder().iter().map(|&v| f(v)).sum();
    lanes.iter().sum::<f64>() + tail
}

/// `len` zeros, written rather than `calloc`ed: the panel kernels read their output before
/// writing it, and a read of untouched `calloc` memory maps the shared zero page, whose
/// first write then costs a copy-on-write fault and a TLB shootdown across the threads
/// (14% of an RN50 batch-16 profile).
fn zeros(len: usize) -> Vec<f32> {
    let mut v = Vec::with_capacity(len);
    huge_pages(v.as_mut_ptr() as usize, len * size_of::<f32>());
    v.resize(len, 0.0);
    v
}

/// [`zeros`], written by the thread pool from 1 MiB on: the training ops allocate their
/// outputs and gradients from the calling thread, and one thread zeroing them was a
/// twentieth of a tiny ResNet's step.
fn par_zeros(len: usize) -> Vec<f32> {
    use rayon::prelude::*;
    if len < 1 << 18 {
        return zeros(len);
    }
    let mut v = Vec::with_capacity(len);
    huge_pages(v.as_mut_ptr() as usize, len * size_of::<f32>());
    v.par_extend(rayon::iter::repeat_n(0.0, len));
    v
}

/// Asks Linux to back the 2 MiB-aligned part of a large buffer not touched yet with huge
/// pages. A batch's feature maps are tens of MB, freshly mapped by `malloc` for every
/// layer; faulting them in 4 KiB at a time cost RN50 at batch 16 a fifth of its time on a
/// virtual machine, where each fault is dearer. Where transparent huge pages are off (or
/// not Linux) this does nothing.
fn huge_pages(start: usize, bytes: usize) {
    const HUGE: usize = 2 << 20;
    if bytes < 2 * HUGE {
        return;
    }
    let first = start.next_multiple_of(HUGE);
    let end = (start + bytes) / HUGE * HUGE;
    #[cfg(target_os = "linux")]
    if end > first {
        // SAFETY: the range lies inside an allocation this function's caller owns and has
        // not touched yet; MADV_HUGEPAGE changes only how it is backed, never its contents.
        unsafe {
            libc::madvise(first as *mut libc::c_void, end - first, libc::MADV_HUGEPAGE);
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (first, end);
}

/// Wraps row-major `data` of `shape` as a `flex` tensor.
fn from_vec<const D: usize>(data: Vec<f32>, shape: [usize; D]) -> Tensor<D> {
    Tensor::from_primitive::<Flex>(flex_tensor(data, shape))
}

/// A row-major float32 `flex` primitive of `shape` over `data` (no copy).
fn flex_tensor<const D: usize>(data: Vec<f32>, shape: [usize; D]) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(data, Shape::new(shape)))
}

/// `out[rows, n] = a[rows, k] · b[k, n]`, added to `out`'s values when `accumulate`
/// (`out` row-major); split over the thread pool when `parallel` and big enough.
fn gemm(
    a: &Operand,
    b: &Operand,
    [rows, n, k]: [usize; 3],
    accumulate: bool,
    out: &mut [f32],
    parallel: bool,
) {
    assert!(
        a.covers(rows, k) && b.covers(k, n) && out.len() >= rows * n,
        "gemm operands smaller than their extents"
    );
    if rows == 0 || n == 0 {
        return;
    }
    let parallelism = if parallel && rows.saturating_mul(n).saturating_mul(k) >= PARALLEL_THRESHOLD
    {
        gemm::Parallelism::Rayon(0)
    } else {
        gemm::Parallelism::None
    };
    // In-bounds offsets of a slice never exceed isize::MAX.
    let s = |stride: usize| stride as isize;
    // SAFETY: the assert above keeps every element read inside `a` and `b` and every
    // element written inside `out`, which is borrowed mutably and so aliases neither.
    unsafe {
        gemm::gemm(
            rows,
            n,
            k,
            out.as_mut_ptr(),
            1,
            s(n),
            accumulate,
            a.data.as_ptr(),
            s(a.col_stride),
            s(a.row_stride),
            b.data.as_ptr(),
            s(b.col_stride),
            s(b.row_stride),
            1.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
}
