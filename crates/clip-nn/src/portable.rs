//! The layers through Burn's own `forward`, for builds without the `cpu-fast` feature: the
//! same functions as the fast paths, so model code never asks which build it is in.

use std::convert::Infallible;

use burn::nn::conv::Conv2d;
use burn::nn::pool::AvgPool2d;
use burn::nn::{BatchNorm, Linear};
use burn::tensor::{Tensor, activation};

use crate::{Activation, AdamWStep};

/// What runs the matrix products (for reports and benchmarks).
pub fn cpu_matmul() -> &'static str {
    "burn"
}

/// The pre-packed panel kernels linear layers run: none in this build.
pub fn panel_kernel() -> Option<&'static str> {
    None
}

/// Linear layers in 8-bit integers: not in this build (returns `false`: they stay f32).
pub fn set_int8_linears(_on: bool) -> bool {
    false
}

/// `layer.forward(x)`.
pub(crate) fn linear<const D: usize>(layer: &Linear, x: Tensor<D>) -> Tensor<D> {
    layer.forward(x)
}

/// `activation.forward(layer.forward(x))`.
pub fn linear_activated<const D: usize>(
    layer: &Linear,
    x: Tensor<D>,
    activation: Activation,
) -> Tensor<D> {
    activation.forward(layer.forward(x))
}

/// Self-attention from the packed projection: never here (callers keep Burn's).
pub(crate) fn self_attention(_qkv: &Tensor<3>, _heads: usize, _causal: bool) -> Option<Tensor<3>> {
    None
}

/// Attention of one query with the projections folded in: never here (callers project the
/// keys and values through Burn).
pub fn one_query_attention(
    _tokens: &Tensor<3>,
    _query: &Tensor<2>,
    _k_proj: &Linear,
    _v_proj: &Linear,
    _heads: usize,
) -> Option<Tensor<2>> {
    None
}

/// The fused AdamW update: never here (callers keep Burn's optimizer).
pub fn adamw_step<const D: usize>(
    _param: &Tensor<D>,
    _grad: &Tensor<D>,
    _moments: Option<[&Tensor<D>; 2]>,
    _step: &AdamWStep,
) -> Option<[Tensor<D>; 3]> {
    None
}

/// `Σ x²` on the CPU fast path: never here (callers keep Burn's ops).
pub fn squared_sum<const D: usize>(_t: &Tensor<D>) -> Option<f64> {
    None
}

/// `layer.forward(x)`.
pub(crate) fn conv2d(layer: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    layer.forward(x)
}

/// `relu?(norm.forward(layer.forward(x)))`, the ResNet's conv–batch-norm(–ReLU) unit.
pub fn conv2d_batch_norm(layer: &Conv2d, norm: &BatchNorm, relu: bool, x: Tensor<4>) -> Tensor<4> {
    let out = norm.forward(layer.forward(x));
    if relu { activation::relu(out) } else { out }
}

/// `pool.forward(x)`.
pub(crate) fn avg_pool2d(pool: &AvgPool2d, x: Tensor<4>) -> Tensor<4> {
    pool.forward(x)
}

/// Channels-last feature maps: never made in this build ([`ChannelsLast::from_nchw`] is
/// `None`), so callers keep Burn's layers.
#[derive(Clone, Debug)]
pub struct ChannelsLast(Infallible);

impl ChannelsLast {
    /// `None`: there is no fast path in this build.
    pub fn from_nchw(_x: &Tensor<4>) -> Option<Self> {
        None
    }

    /// Never called (no value exists).
    pub fn dims(&self) -> [usize; 4] {
        match self.0 {}
    }

    /// Never called (no value exists).
    pub fn conv_bn(&self, _conv: &Conv2d, _norm: &BatchNorm, _relu: bool) -> Option<Self> {
        match self.0 {}
    }

    /// Never called (no value exists).
    pub fn conv(&self, _conv: &Conv2d) -> Option<Self> {
        match self.0 {}
    }

    /// Never called (no value exists).
    pub fn avg_pool(&self, _pool: &AvgPool2d) -> Option<Self> {
        match self.0 {}
    }

    /// Never called (no value exists).
    pub fn add_relu(self, _other: &Self) -> Option<Self> {
        match self.0 {}
    }

    /// Never called (no value exists).
    pub fn into_tokens(self) -> Tensor<3> {
        match self.0 {}
    }
}
