//! Fast paths for the CPU backend: matrix products through a system BLAS, and the work
//! around them fused into the products' outputs.
//!
//! Nearly three quarters of a CPU forward pass is matrix products, and Burn's pure-Rust CPU
//! backend (`flex`, through the `gemm` crate) runs them at about half the speed of an
//! optimised BLAS. OpenBLAS is loaded at run time (`dlopen`), not linked: a machine without
//! it builds and runs exactly as before, only slower. `CLIP_BLAS=/path/to/libcblas.so`
//! chooses another library exporting `cblas_sgemm`; `CLIP_BLAS=off` disables the path.
//! Around the products: QuickGELU ([`linear_activated`]) and inference batch norm + ReLU
//! ([`conv2d_batch_norm`]) are applied to a product's output in place, and ResNet's
//! tiling average pools ([`avg_pool2d`]) run directly on the storage.
//!
//! Only plain `flex` float32 tensors take these paths. Autodiff tensors (training), other
//! backends and other dtypes go through Burn unchanged, so gradients and GPUs never see
//! this code.

use std::ffi::c_int;
use std::sync::OnceLock;

use burn::backend::flex::{Flex, FlexTensor};
use burn::tensor::{DType, Shape, Tensor, TensorData};

mod conv;
mod linear;
mod pool;

pub use conv::{conv2d, conv2d_batch_norm};
pub use linear::{linear, linear_activated};
pub use pool::avg_pool2d;

/// `cblas_sgemm`'s C signature (row-major layout, both transposes, scalars, leading dims).
type SgemmFn = unsafe extern "C" fn(
    c_int,
    c_int,
    c_int,
    c_int,
    c_int,
    c_int,
    f32,
    *const f32,
    c_int,
    *const f32,
    c_int,
    f32,
    *mut f32,
    c_int,
);

const ROW_MAJOR: c_int = 101;
const NO_TRANS: c_int = 111;
const TRANS: c_int = 112;

/// The libraries tried in order when `CLIP_BLAS` is not set.
const CANDIDATES: &[&str] = &[
    "libopenblas.so.0",
    "libopenblas.so",
    "libopenblas.dylib",
    "libopenblas.dll",
];

/// A loaded `cblas_sgemm`, with the library that keeps it alive.
struct Blas {
    sgemm: SgemmFn,
    name: String,
    _library: libloading::Library,
}

fn blas() -> Option<&'static Blas> {
    static BLAS: OnceLock<Option<Blas>> = OnceLock::new();
    BLAS.get_or_init(load).as_ref()
}

fn load() -> Option<Blas> {
    let chosen = std::env::var("CLIP_BLAS").ok().filter(|v| !v.is_empty());
    let names: Vec<String> = match chosen.as_deref() {
        Some("off" | "none" | "0") => return None,
        Some(path) => vec![path.to_string()],
        None => CANDIDATES.iter().map(|s| s.to_string()).collect(),
    };
    for name in names {
        // SAFETY: loading a BLAS runs its initialisers, which only inspect the CPU and
        // the environment; the symbol is checked against the cblas signature by name only,
        // as every cblas implementation exports it with this C prototype.
        let Ok(library) = (unsafe { libloading::Library::new(&name) }) else {
            continue;
        };
        // SAFETY: see above; the pointer is only called with cblas_sgemm's arguments.
        if let Ok(sgemm) = unsafe { library.get::<SgemmFn>(b"cblas_sgemm\0") }.map(|f| *f) {
            return Some(Blas {
                sgemm,
                name,
                _library: library,
            });
        }
    }
    None
}

/// The BLAS library in use for CPU matrix products, if any (for reports and benchmarks);
/// `None` also when `CLIP_BLAS` names a library that cannot be loaded or lacks `cblas_sgemm`.
pub fn blas_library() -> Option<&'static str> {
    blas().map(|b| b.name.as_str())
}

/// A row-major operand as cblas sees it: its buffer from the first element, whether it is
/// stored transposed, and its leading dimension.
struct Operand<'a> {
    data: &'a [f32],
    trans: c_int,
    ld: usize,
}

impl Operand<'_> {
    /// Whether the buffer holds `outer` lines of `inner` elements, `ld` apart.
    fn covers(&self, outer: usize, inner: usize) -> bool {
        outer == 0 || self.data.len() >= (outer - 1) * self.ld + inner
    }
}

/// Views a 2-d flex tensor as a cblas operand without copying, if its layout allows
/// (unit stride along one dimension, positive stride along the other).
fn operand(t: &FlexTensor) -> Option<Operand<'_>> {
    let layout = t.layout();
    let [rows, cols] = layout.shape().dims::<2>();
    let strides = layout.strides();
    // (outer, inner): cblas walks `outer` lines of `inner` contiguous elements, `ld` apart.
    let (trans, ld, outer, inner) = match (strides[0], strides[1]) {
        (s, 1) if s >= cols as isize || rows == 1 => (NO_TRANS, (s as usize).max(cols), rows, cols),
        (1, s) if s >= rows as isize || cols == 1 => (TRANS, (s as usize).max(rows), cols, rows),
        _ => return None,
    };
    let data = t.storage::<f32>().get(layout.start_offset()..)?;
    let operand = Operand { data, trans, ld };
    operand.covers(outer, inner).then_some(operand)
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

/// Wraps row-major `data` of `shape` as a `flex` tensor.
fn from_vec<const D: usize>(data: Vec<f32>, shape: [usize; D]) -> Tensor<D> {
    Tensor::from_primitive::<Flex>(FlexTensor::from_data(TensorData::new(
        data,
        Shape::new(shape),
    )))
}

/// `out[rows, n] = a[rows, k] · b[k, n] + beta · out` (`out` row-major, leading dimension
/// n), or `false` (nothing written) when a size exceeds what cblas can address.
fn gemm(
    blas: &Blas,
    a: &Operand,
    b: &Operand,
    [rows, n, k]: [usize; 3],
    beta: f32,
    out: &mut [f32],
) -> bool {
    let limit = c_int::MAX as usize;
    if [rows, n, k, a.ld, b.ld].iter().any(|&d| d > limit) {
        return false;
    }
    let (a_rows, a_cols) = if a.trans == NO_TRANS {
        (rows, k)
    } else {
        (k, rows)
    };
    let (b_rows, b_cols) = if b.trans == NO_TRANS { (k, n) } else { (n, k) };
    assert!(
        a.covers(a_rows, a_cols) && b.covers(b_rows, b_cols) && out.len() >= rows * n,
        "gemm operands smaller than their extents"
    );
    if rows == 0 || n == 0 {
        return true;
    }
    // SAFETY: the asserts above keep every element cblas reads inside `a` and `b` and
    // every element it writes inside `out`.
    unsafe {
        (blas.sgemm)(
            ROW_MAJOR,
            a.trans,
            b.trans,
            rows as c_int,
            n as c_int,
            k as c_int,
            1.0,
            a.data.as_ptr(),
            a.ld as c_int,
            b.data.as_ptr(),
            b.ld as c_int,
            beta,
            out.as_mut_ptr(),
            n as c_int,
        );
    }
    true
}

/// Every product must take the BLAS path here: CI installs OpenBLAS, so a silent
/// fallback would leave the path untested (set `CLIP_BLAS=off` to skip on purpose).
#[cfg(test)]
fn require_blas() -> bool {
    if std::env::var("CLIP_BLAS").as_deref() == Ok("off") {
        return false;
    }
    assert!(
        blas_library().is_some(),
        "no system BLAS found: install OpenBLAS (Debian: libopenblas0) or set CLIP_BLAS"
    );
    true
}
