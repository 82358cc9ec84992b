use burn::config::Config;
use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Device, Tensor};

use crate::{Activation, FastForward};

/// Configuration of [`Mlp`].
#[derive(Config, Debug)]
pub struct MlpConfig {
    /// Input and output width.
    pub width: usize,
    /// Hidden width (4 × width in CLIP).
    pub hidden: usize,
    /// The non-linearity between the two projections.
    pub activation: Activation,
}

/// The block's feed-forward part: `c_proj(act(c_fc(x)))`.
#[derive(Module, Debug)]
pub struct Mlp {
    /// Expansion to the hidden width.
    pub c_fc: Linear,
    /// Projection back to the model width.
    pub c_proj: Linear,
    /// The non-linearity.
    #[module(skip)]
    pub activation: Activation,
}

impl MlpConfig {
    /// Builds the module with Burn's default initialisation.
    pub fn init(&self, device: &Device) -> Mlp {
        Mlp {
            c_fc: LinearConfig::new(self.width, self.hidden).init(device),
            c_proj: LinearConfig::new(self.hidden, self.width).init(device),
            activation: self.activation,
        }
    }
}

impl Mlp {
    /// `[.., width] -> [.., width]`.
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        let hidden = crate::linear_activated(&self.c_fc, x, self.activation);
        self.c_proj.fast_forward(hidden)
    }
}
