use burn::config::Config;
use burn::tensor::{Tensor, activation};

/// The MLP non-linearity.
///
/// OpenAI's weights were trained with QuickGELU, `x · σ(1.702 x)`; open_clip's
/// non-`quickgelu` models use the exact (erf) GELU. Loading weights with the wrong one
/// silently costs accuracy, so it is part of the model configuration.
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum Activation {
    /// `x · sigmoid(1.702 · x)`, OpenAI's choice.
    QuickGelu,
    /// The exact GELU, `x · Φ(x)`.
    Gelu,
    /// GELU's tanh approximation (PyTorch's `gelu(approximate="tanh")`), SigLIP's
    /// `gelu_pytorch_tanh`.
    GeluTanh,
}

impl Activation {
    /// Applies the activation elementwise.
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        match self {
            Activation::QuickGelu => activation::sigmoid(x.clone().mul_scalar(1.702)) * x,
            Activation::Gelu => activation::gelu(x),
            Activation::GeluTanh => activation::gelu_approximate(x),
        }
    }

    /// The name used in configuration files and by open_clip (`quick_gelu` / `gelu`).
    pub fn name(&self) -> &'static str {
        match self {
            Activation::QuickGelu => "quick_gelu",
            Activation::Gelu => "gelu",
            Activation::GeluTanh => "gelu_tanh",
        }
    }

    /// Parses [`Activation::name`]'s spelling.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "quick_gelu" | "quickgelu" => Some(Activation::QuickGelu),
            "gelu" => Some(Activation::Gelu),
            "gelu_tanh" | "gelu_pytorch_tanh" | "gelu_new" => Some(Activation::GeluTanh),
            _ => None,
        }
    }
}
