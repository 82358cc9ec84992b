//! Choosing where the model runs: a [`Backend`] and a float [`Precision`] give a Burn
//! [`Device`] that has already computed once.
//!
//! The GPU backends are compiled in by the `wgpu` and `cuda` features and opened lazily by
//! Burn, which panics when the driver or the device is missing. Every device handed out here
//! has therefore run one small computation first, so a missing GPU is a [`DeviceError`]
//! rather than a panic in the middle of the work.
//!
//! ```
//! use clip::device::{Backend, Precision};
//!
//! let device = Backend::Flex.device_in(Precision::F32)?;
//! # let _ = device;
//! # Ok::<(), clip::device::DeviceError>(())
//! ```

use std::panic::{self, AssertUnwindSafe};

use burn::tensor::{Device, FloatDType, Tensor};

/// The compute backends a model can run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Backend {
    /// Burn's ndarray CPU backend (the `ndarray` feature; deprecated upstream).
    Ndarray,
    /// Burn's flex CPU backend (pure Rust, gemm matmuls; the default).
    #[default]
    Flex,
    /// Any GPU through wgpu (Vulkan, Metal, DX12), including software Vulkan.
    Wgpu,
    /// NVIDIA GPUs through CUDA (the driver is loaded at run time).
    Cuda,
}

/// The float precision weights are held and computed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Precision {
    /// 32-bit floats, as OpenAI's reference on the CPU.
    #[default]
    F32,
    /// IEEE half precision (what OpenAI's checkpoints store).
    F16,
    /// bfloat16.
    Bf16,
    /// f32, with linear layers and convolutions in 8-bit integers (flex, AVX2).
    ///
    /// Dynamic quantisation: weights once per output column, inputs per row at each
    /// product. Process-wide: once a device is opened in it, every f32 linear and
    /// convolution product on `flex` in the process runs in 8 bits (see
    /// [`clip_nn::set_int8_linears`]).
    Int8,
}

/// Why a device cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    /// The backend's feature was not enabled at build time.
    #[error("the {0} backend is not compiled into this build; rebuild with `--features {0}`")]
    NotCompiled(&'static str),
    /// The backend has no arithmetic in the requested precision.
    #[error("the {backend} backend does not compute in {precision}")]
    NoPrecision {
        /// The backend's name.
        backend: &'static str,
        /// The precision's name.
        precision: &'static str,
    },
    /// The driver, adapter or device is missing, or it computed wrongly.
    #[error("the {backend} backend has no usable {device} here: {reason}")]
    Unusable {
        /// The backend's name.
        backend: &'static str,
        /// `device` or `device N`.
        device: String,
        /// The first line of what failed.
        reason: String,
    },
}

impl Precision {
    /// The lower-case name used on the command line and in JSON output.
    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::F16 => "f16",
            Precision::Bf16 => "bf16",
            Precision::Int8 => "int8",
        }
    }

    fn float_dtype(self) -> FloatDType {
        match self {
            Precision::F32 | Precision::Int8 => FloatDType::F32,
            Precision::F16 => FloatDType::F16,
            Precision::Bf16 => FloatDType::BF16,
        }
    }
}

impl Backend {
    /// The lower-case name used on the command line and in JSON output.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Ndarray => "ndarray",
            Backend::Flex => "flex",
            Backend::Wgpu => "wgpu",
            Backend::Cuda => "cuda",
        }
    }

    /// `n` devices for data parallelism: the CPU backends have one device, so they get `n`
    /// handles to it (one worker thread each); the GPU backends get their default device for
    /// `n = 1`, else (discrete) GPUs `0..n`.
    pub fn devices(self, n: usize) -> Result<Vec<Device>, DeviceError> {
        match self {
            Backend::Ndarray | Backend::Flex => Ok(vec![self.device()?; n]),
            _ if n == 1 => Ok(vec![self.device()?]),
            Backend::Wgpu | Backend::Cuda => {
                (0..n).map(|i| self.open(Some(i), Precision::F32)).collect()
            }
        }
    }

    /// The backend's default device in f32.
    pub fn device(self) -> Result<Device, DeviceError> {
        self.open(None, Precision::F32)
    }

    /// The default device, computing in `precision`.
    pub fn device_in(self, precision: Precision) -> Result<Device, DeviceError> {
        self.open(None, precision)
    }

    /// Device `index` (`None`: the backend's default) in `precision`, checked by one small
    /// computation.
    fn open(self, index: Option<usize>, precision: Precision) -> Result<Device, DeviceError> {
        let unusable = |reason: String| DeviceError::Unusable {
            backend: self.name(),
            device: index.map_or("device".to_owned(), |i| format!("device {i}")),
            reason,
        };
        if precision == Precision::Int8 {
            if self != Backend::Flex {
                return Err(DeviceError::NoPrecision {
                    backend: self.name(),
                    precision: precision.name(),
                });
            }
            if !clip_nn::set_int8_linears(true) {
                return Err(unusable(
                    "int8 products need an x86 CPU with AVX2 and the `cpu-fast` feature".into(),
                ));
            }
        }
        let mut device = self.handle(index)?;
        guarded(|| {
            if !matches!(precision, Precision::F32 | Precision::Int8) {
                let dtype = precision.float_dtype();
                if !device.supports_dtype(dtype) {
                    return Err(DeviceError::NoPrecision {
                        backend: self.name(),
                        precision: precision.name(),
                    });
                }
                // Before any tensor exists: the first one fixes the device's dtypes.
                device
                    .configure(dtype)
                    .map_err(|e| unusable(format!("cannot set {}: {e:?}", precision.name())))?;
            }
            let a = Tensor::<1>::from_floats([1.0, 2.0], &device);
            let b = Tensor::<1>::from_floats([3.0, 4.0], &device);
            let v = (a * b).sum().into_scalar::<f32>();
            if v != 11.0 {
                return Err(unusable(format!("it computed 1·3 + 2·4 = {v}")));
            }
            Ok(())
        })
        .unwrap_or_else(|reason| Err(unusable(reason)))?;
        Ok(device)
    }

    fn handle(self, index: Option<usize>) -> Result<Device, DeviceError> {
        match self {
            // Deprecated upstream in favour of flex, kept selectable for comparison.
            #[cfg(feature = "ndarray")]
            #[allow(deprecated)]
            Backend::Ndarray => Ok(Device::ndarray()),
            Backend::Flex => Ok(Device::flex()),
            #[cfg(feature = "wgpu")]
            Backend::Wgpu => Ok(Device::wgpu(match index {
                None => burn::tensor::DeviceKind::DefaultDevice,
                Some(i) => burn::tensor::DeviceKind::DiscreteGpu(i),
            })),
            #[cfg(feature = "cuda")]
            Backend::Cuda => Ok(Device::cuda(match index {
                None => burn::tensor::DeviceIndex::Default,
                Some(i) => burn::tensor::DeviceIndex::Specified(i),
            })),
            #[allow(unreachable_patterns)]
            _ => {
                let _ = index;
                Err(DeviceError::NotCompiled(self.name()))
            }
        }
    }
}

/// On a machine without a desktop session, Vulkan drivers probing for a Wayland display
/// print `error: XDG_RUNTIME_DIR is invalid or not set` to stderr, which reads like the
/// program's own errors. Pointing the variable at the temporary directory (where no display
/// socket is found, quietly) keeps stderr clean.
///
/// # Safety
/// Sets an environment variable: call it while the process has one thread (first thing in
/// `main`).
pub unsafe fn quiet_headless_display() {
    if std::env::var_os("XDG_RUNTIME_DIR").is_none() {
        // SAFETY: the caller guarantees no other thread reads the environment concurrently.
        unsafe { std::env::set_var("XDG_RUNTIME_DIR", std::env::temp_dir()) };
    }
}

/// Runs `work`, turning a panic (Burn opens GPU devices lazily and panics when there is no
/// driver, adapter or device) into the first line of its message.
fn guarded<T>(work: impl FnOnce() -> T) -> Result<T, String> {
    let hook = panic::take_hook();
    panic::set_hook(Box::new(|_| {}));
    let outcome = panic::catch_unwind(AssertUnwindSafe(work));
    panic::set_hook(hook);
    outcome.map_err(|payload| {
        let reason = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("unknown failure");
        reason.lines().next().unwrap_or_default().trim().to_owned()
    })
}
