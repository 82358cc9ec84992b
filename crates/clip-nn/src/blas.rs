//! The CPU's matrix products through a system BLAS, when one is installed.
//!
//! Nearly three quarters of a CPU forward pass is matrix products, and Burn's pure-Rust CPU
//! backend (`flex`, through the `gemm` crate) runs them at about half the speed of an
//! optimised BLAS. OpenBLAS is loaded at run time (`dlopen`), not linked: a machine without
//! it builds and runs exactly as before, only slower. `CLIP_BLAS=/path/to/libcblas.so`
//! chooses another library exporting `cblas_sgemm`; `CLIP_BLAS=off` disables the path.
//!
//! Only plain `flex` float32 tensors take it. Autodiff tensors (training), other backends
//! and other dtypes go through Burn unchanged, so gradients and GPUs never see this code.

use std::ffi::c_int;
use std::sync::OnceLock;

use burn::backend::flex::{Flex, FlexTensor};
use burn::nn::Linear;
use burn::tensor::{DType, Shape, Tensor, TensorData};

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
    if data.len() < (outer - 1) * ld + inner {
        return None;
    }
    Some(Operand { data, trans, ld })
}

/// `x @ weight (+ bias)` for `x` [.., k] and `weight` [k, n] through the system BLAS, or
/// `None` when this product cannot take that path (see the module documentation).
fn blas_linear<const D: usize>(
    x: &Tensor<D>,
    weight: &Tensor<2>,
    bias: Option<&Tensor<1>>,
) -> Option<Tensor<D>> {
    let blas = blas()?;
    let dims = x.dims();
    let [k, n] = weight.dims();
    let rows: usize = dims[..D - 1].iter().product();
    if D < 2 || dims[D - 1] != k || rows == 0 || n == 0 || k == 0 {
        return None;
    }
    let x = x
        .clone()
        .reshape([rows, k])
        .try_into_primitive::<Flex>()
        .ok()?;
    let w = weight.clone().try_into_primitive::<Flex>().ok()?;
    let b = match bias {
        Some(b) => Some(b.clone().try_into_primitive::<Flex>().ok()?),
        None => None,
    };
    if x.dtype() != DType::F32 || w.dtype() != DType::F32 {
        return None;
    }
    if b.as_ref()
        .is_some_and(|b| b.dtype() != DType::F32 || !b.is_contiguous())
    {
        return None;
    }
    let (a, bw) = (operand(&x)?, operand(&w)?);
    let limit = c_int::MAX as usize;
    if [rows, n, k, a.ld, bw.ld].iter().any(|&d| d > limit) {
        return None;
    }

    // The bias seeds the output and the product is added to it (beta = 1): one pass less.
    let mut out = match &b {
        Some(b) => {
            let bias = &b.storage::<f32>()[b.layout().start_offset()..][..n];
            let mut out = Vec::with_capacity(rows * n);
            for _ in 0..rows {
                out.extend_from_slice(bias);
            }
            out
        }
        None => vec![0.0f32; rows * n],
    };
    // SAFETY: the operands were checked to cover their row × column extents with their
    // leading dimensions, and `out` holds rows × n elements with leading dimension n.
    unsafe {
        (blas.sgemm)(
            ROW_MAJOR,
            a.trans,
            bw.trans,
            rows as c_int,
            n as c_int,
            k as c_int,
            1.0,
            a.data.as_ptr(),
            a.ld as c_int,
            bw.data.as_ptr(),
            bw.ld as c_int,
            if b.is_some() { 1.0 } else { 0.0 },
            out.as_mut_ptr(),
            n as c_int,
        );
    }
    let out = FlexTensor::from_data(TensorData::new(out, Shape::new([rows, n])));
    let mut out_dims = dims;
    out_dims[D - 1] = n;
    Some(Tensor::<2>::from_primitive::<Flex>(out).reshape(out_dims))
}

/// `layer.forward(x)`, through the system BLAS where [`blas_library`] found one and the
/// tensors allow it; the result is the same product up to float rounding order.
pub fn linear<const D: usize>(layer: &Linear, x: Tensor<D>) -> Tensor<D> {
    let weight = layer.weight.val();
    let bias = layer.bias.as_ref().map(|b| b.val());
    blas_linear(&x, &weight, bias.as_ref()).unwrap_or_else(|| layer.forward(x))
}

#[cfg(test)]
mod tests {
    use burn::module::Param;
    use burn::nn::LinearConfig;
    use burn::tensor::{Device, Distribution, Tensor, Tolerance};

    use super::*;

    /// Every product must take the BLAS path here: CI installs OpenBLAS, so a silent
    /// fallback would leave the path untested (set `CLIP_BLAS=off` to skip on purpose).
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

    fn check(layer: &Linear, x: Tensor<3>) {
        let expected = layer.forward(x.clone());
        let got = blas_linear(
            &x,
            &layer.weight.val(),
            layer.bias.as_ref().map(|b| b.val()).as_ref(),
        );
        let got = got.expect("this product should take the BLAS path");
        got.into_data()
            .assert_approx_eq::<f32>(&expected.into_data(), Tolerance::permissive());
    }

    #[test]
    fn matches_burn_linear_with_bias_and_without() {
        if !require_blas() {
            return;
        }
        let device = Device::flex();
        let x = Tensor::<3>::random([3, 7, 40], Distribution::Normal(0.0, 1.0), &device);
        let with_bias = LinearConfig::new(40, 24).init(&device);
        check(&with_bias, x.clone());
        let without = LinearConfig::new(40, 24).with_bias(false).init(&device);
        check(&without, x);
    }

    #[test]
    fn reads_strided_operands_in_place() {
        if !require_blas() {
            return;
        }
        let device = Device::flex();
        // A weight stored as PyTorch's [out, in] and transposed (a strided view), and an
        // input narrowed out of a wider tensor (rows further apart than their length).
        let mut layer = LinearConfig::new(40, 24).init(&device);
        let stored = Tensor::<2>::random([24, 40], Distribution::Normal(0.0, 1.0), &device);
        layer.weight = Param::from_tensor(stored.transpose());
        let wide = Tensor::<3>::random([2, 5, 64], Distribution::Normal(0.0, 1.0), &device);
        check(&layer, wide.narrow(2, 10, 40));
    }

    #[test]
    fn autodiff_tensors_use_burn() {
        // Training: gradients must flow through Burn's own linear.
        let device = Device::flex().autodiff();
        let layer = LinearConfig::new(8, 4).init(&device);
        let x = Tensor::<3>::ones([1, 2, 8], &device);
        let weight = layer.weight.val();
        assert!(blas_linear(&x, &weight, None).is_none());
        // The public entry still computes, through Burn.
        assert_eq!(linear(&layer, x).dims(), [1, 2, 4]);
    }
}
