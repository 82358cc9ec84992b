//! `--backend`: which Burn device the computing commands run on.

use anyhow::{Result, bail};
use burn::tensor::Device;

/// The compute backends a command can select.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Backend {
    /// Burn's ndarray CPU backend (always available).
    Ndarray,
    /// Burn's flex CPU backend (pure Rust, gemm matmuls).
    Flex,
    /// Any GPU through wgpu (Vulkan, Metal, DX12), including software Vulkan.
    Wgpu,
    /// NVIDIA GPUs through CUDA.
    Cuda,
}

impl Backend {
    /// `n` devices for data parallelism: the CPU backends have one device, so they get `n`
    /// handles to it (one worker thread each); the GPU backends would get devices `0..n`.
    pub fn devices(self, n: usize) -> Result<Vec<Device>> {
        let device = self.device()?;
        Ok(vec![device; n])
    }

    /// The device, or an error naming why the backend cannot run here.
    pub fn device(self) -> Result<Device> {
        match self {
            // Deprecated upstream in favour of flex, kept selectable for comparison.
            #[allow(deprecated)]
            Backend::Ndarray => Ok(Device::ndarray()),
            Backend::Flex => Ok(Device::flex()),
            Backend::Wgpu | Backend::Cuda => bail!(
                "the {self:?} backend is not compiled into this build; rebuild xtask with \
                 `--features {}`",
                format!("{self:?}").to_lowercase()
            ),
        }
    }
}
