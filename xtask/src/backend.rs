//! `--backend` and `--dtype`: which Burn device the computing commands run on, and in which
//! float precision.
//!
//! The GPU backends are compiled in by the `wgpu` (default) and `cuda` (opt-in) features
//! and opened lazily by Burn, which panics when the driver or the device is missing. Every
//! device handed out here has therefore run one small computation first, so a missing GPU is
//! one clear error line rather than a panic in the middle of a command.

use std::panic::{self, AssertUnwindSafe};

use anyhow::{Context, Result, bail};
use burn::tensor::{Device, FloatDType, Tensor};

/// The compute backends a command can select.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Backend {
    /// Burn's ndarray CPU backend (always available).
    Ndarray,
    /// Burn's flex CPU backend (pure Rust, gemm matmuls; the default).
    Flex,
    /// Any GPU through wgpu (Vulkan, Metal, DX12), including software Vulkan.
    Wgpu,
    /// NVIDIA GPUs through CUDA (the driver is loaded at run time).
    Cuda,
}

/// The float precision a command computes in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Precision {
    /// 32-bit floats, as OpenAI's reference on the CPU.
    #[default]
    F32,
    /// IEEE half precision (what OpenAI's checkpoints store).
    F16,
    /// bfloat16.
    Bf16,
}

impl Precision {
    /// The lower-case name used on the command line and in JSON output.
    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::F16 => "f16",
            Precision::Bf16 => "bf16",
        }
    }

    fn float_dtype(self) -> FloatDType {
        match self {
            Precision::F32 => FloatDType::F32,
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
    pub fn devices(self, n: usize) -> Result<Vec<Device>> {
        match self {
            Backend::Ndarray | Backend::Flex => Ok(vec![self.device()?; n]),
            _ if n == 1 => Ok(vec![self.device()?]),
            Backend::Wgpu | Backend::Cuda => {
                (0..n).map(|i| self.open(Some(i), Precision::F32)).collect()
            }
        }
    }

    /// The backend's default device in f32, or an error naming why it cannot run here.
    pub fn device(self) -> Result<Device> {
        self.open(None, Precision::F32)
    }

    /// The default device, computing in `precision`; an error when the backend has no
    /// arithmetic in that precision.
    pub fn device_in(self, precision: Precision) -> Result<Device> {
        self.open(None, precision)
    }

    /// Device `index` (`None`: the backend's default) in `precision`, checked by one small
    /// computation.
    fn open(self, index: Option<usize>, precision: Precision) -> Result<Device> {
        let mut device = self.handle(index)?;
        guarded(self, index, || {
            if precision != Precision::F32 {
                let dtype = precision.float_dtype();
                if !device.supports_dtype(dtype) {
                    bail!(
                        "the {} backend does not compute in {}",
                        self.name(),
                        precision.name()
                    );
                }
                // Before any tensor exists: the first one fixes the device's dtypes.
                device.configure(dtype).with_context(|| {
                    format!(
                        "cannot set {} on the {} backend",
                        precision.name(),
                        self.name()
                    )
                })?;
            }
            let a = Tensor::<1>::from_floats([1.0, 2.0], &device);
            let b = Tensor::<1>::from_floats([3.0, 4.0], &device);
            let v = (a * b).sum().into_scalar::<f32>();
            if v != 11.0 {
                bail!("the {} backend computed 1·3 + 2·4 = {v}", self.name());
            }
            Ok(())
        })?;
        Ok(device)
    }

    fn handle(self, index: Option<usize>) -> Result<Device> {
        match self {
            // Deprecated upstream in favour of flex, kept selectable for comparison.
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
                bail!(
                    "the {0} backend is not compiled into this build; rebuild xtask with \
                     `--features {0}`",
                    self.name()
                )
            }
        }
    }
}

/// On a machine without a desktop session, Vulkan drivers probing for a Wayland display
/// print `error: XDG_RUNTIME_DIR is invalid or not set` to stderr, which reads like our
/// own errors. Pointing the variable at the temporary directory (where no display socket
/// is found, quietly) keeps stderr to what the command says. Called first thing in
/// `main`, while the process has one thread.
pub fn quiet_headless_display() {
    if std::env::var_os("XDG_RUNTIME_DIR").is_none() {
        // SAFETY: no other thread exists yet to read the environment concurrently.
        unsafe { std::env::set_var("XDG_RUNTIME_DIR", std::env::temp_dir()) };
    }
}

/// Runs `work`, turning a panic (Burn opens GPU devices lazily and panics when there is no
/// driver, adapter or device) into an error.
fn guarded(
    backend: Backend,
    index: Option<usize>,
    work: impl FnOnce() -> Result<()>,
) -> Result<()> {
    let hook = panic::take_hook();
    panic::set_hook(Box::new(|_| {}));
    let outcome = panic::catch_unwind(AssertUnwindSafe(work));
    panic::set_hook(hook);
    outcome.unwrap_or_else(|payload| {
        let reason = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("unknown failure");
        let reason = reason.lines().next().unwrap_or_default().trim();
        let device = index.map_or("device".to_owned(), |i| format!("device {i}"));
        bail!(
            "the {} backend has no usable {device} here: {reason}",
            backend.name()
        )
    })
}
