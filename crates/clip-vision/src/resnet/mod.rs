//! OpenAI's `ModifiedResNet`.

mod attnpool;
mod bottleneck;

pub use attnpool::{AttentionPool2d, AttentionPool2dConfig};
pub use bottleneck::{Bottleneck, BottleneckConfig, Downsample};

use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{AvgPool2d, AvgPool2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, PaddingConfig2d};
use burn::tensor::{Device, Tensor};
use clip_nn::{ChannelsLast, FastForward, conv2d_batch_norm};

/// Configuration of [`ModifiedResNet`] (OpenAI's `ModifiedResNet.__init__` arguments).
#[derive(Config, Debug)]
pub struct ModifiedResNetConfig {
    /// Bottleneck blocks per stage, e.g. `[3, 4, 6, 3]` for RN50.
    pub layers: [usize; 4],
    /// Output (joint embedding) width.
    pub output_dim: usize,
    /// Attention-pool heads (OpenAI: width · 32 / 64).
    pub heads: usize,
    /// Input side in pixels.
    pub input_resolution: usize,
    /// Stem width; stage widths are 1, 2, 4, 8 × this, × 4 after each Bottleneck.
    pub width: usize,
}

/// A ResNet with a 3-conv stem, average-pool strides and an attention-pool head.
#[derive(Module, Debug)]
pub struct ModifiedResNet {
    /// Stem conv 3 → width/2, stride 2.
    pub conv1: Conv2d,
    /// Stem norm.
    pub bn1: BatchNorm,
    /// Stem conv width/2 → width/2.
    pub conv2: Conv2d,
    /// Stem norm.
    pub bn2: BatchNorm,
    /// Stem conv width/2 → width.
    pub conv3: Conv2d,
    /// Stem norm.
    pub bn3: BatchNorm,
    /// Stem 2× average pool.
    pub avgpool: AvgPool2d,
    /// Stage 1 (stride 1).
    pub layer1: Vec<Bottleneck>,
    /// Stage 2 (stride 2).
    pub layer2: Vec<Bottleneck>,
    /// Stage 3 (stride 2).
    pub layer3: Vec<Bottleneck>,
    /// Stage 4 (stride 2).
    pub layer4: Vec<Bottleneck>,
    /// Attention pooling head.
    pub attnpool: AttentionPool2d,
}

/// A 3×3 conv with padding 1 and no bias, as the stem and the Bottleneck use.
pub(crate) fn conv3x3(input: usize, output: usize, stride: usize, device: &Device) -> Conv2d {
    Conv2dConfig::new([input, output], [3, 3])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .with_bias(false)
        .init(device)
}

/// A 1×1 conv without bias.
pub(crate) fn conv1x1(input: usize, output: usize, device: &Device) -> Conv2d {
    Conv2dConfig::new([input, output], [1, 1])
        .with_bias(false)
        .init(device)
}

/// BatchNorm with PyTorch's defaults (eps 1e-5, momentum 0.1).
pub(crate) fn batch_norm(features: usize, device: &Device) -> BatchNorm {
    BatchNormConfig::new(features).init(device)
}

/// An average pool with kernel = stride = `stride`.
pub(crate) fn avg_pool(stride: usize) -> AvgPool2d {
    AvgPool2dConfig::new([stride, stride]).init()
}

impl ModifiedResNetConfig {
    /// Width of the final feature map, the attention pool's embedding width.
    pub fn embed_dim(&self) -> usize {
        self.width * 32
    }

    /// Builds the encoder.
    pub fn init(&self, device: &Device) -> ModifiedResNet {
        let w = self.width;
        let mut inplanes = w;
        let mut stage = |planes: usize, blocks: usize, stride: usize| {
            let mut out = Vec::with_capacity(blocks);
            for i in 0..blocks {
                let stride = if i == 0 { stride } else { 1 };
                out.push(BottleneckConfig::new(inplanes, planes, stride).init(device));
                inplanes = planes * Bottleneck::EXPANSION;
            }
            out
        };
        let layer1 = stage(w, self.layers[0], 1);
        let layer2 = stage(w * 2, self.layers[1], 2);
        let layer3 = stage(w * 4, self.layers[2], 2);
        let layer4 = stage(w * 8, self.layers[3], 2);
        ModifiedResNet {
            conv1: conv3x3(3, w / 2, 2, device),
            bn1: batch_norm(w / 2, device),
            conv2: conv3x3(w / 2, w / 2, 1, device),
            bn2: batch_norm(w / 2, device),
            conv3: conv3x3(w / 2, w, 1, device),
            bn3: batch_norm(w, device),
            avgpool: avg_pool(2),
            layer1,
            layer2,
            layer3,
            layer4,
            attnpool: AttentionPool2dConfig::new(
                self.input_resolution / 32,
                self.embed_dim(),
                self.heads,
                self.output_dim,
            )
            .init(device),
        }
    }
}

impl ModifiedResNet {
    /// `[batch, 3, R, R]` pixels → `[batch, output_dim]` features (not normalised).
    pub fn forward(&self, pixels: Tensor<4>) -> Tensor<2> {
        if let Some(tokens) = self.features_channels_last(&pixels) {
            return self.attnpool.forward_tokens(tokens);
        }
        let x = conv2d_batch_norm(&self.conv1, &self.bn1, true, pixels);
        let x = conv2d_batch_norm(&self.conv2, &self.bn2, true, x);
        let x = conv2d_batch_norm(&self.conv3, &self.bn3, true, x);
        let mut x = self.avgpool.fast_forward(x);
        for block in self.blocks() {
            x = block.forward(x);
        }
        self.attnpool.forward(x)
    }

    /// Every Bottleneck, stage after stage.
    fn blocks(&self) -> impl Iterator<Item = &Bottleneck> {
        self.layer1
            .iter()
            .chain(&self.layer2)
            .chain(&self.layer3)
            .chain(&self.layer4)
    }

    /// The last stage's map as tokens [batch, h · w, embed_dim], computed channels-last
    /// on the CPU fast path (see [`ChannelsLast`]); `None` where that path is not taken.
    fn features_channels_last(&self, pixels: &Tensor<4>) -> Option<Tensor<3>> {
        let x = ChannelsLast::from_nchw(pixels)?
            .conv_bn(&self.conv1, &self.bn1, true)?
            .conv_bn(&self.conv2, &self.bn2, true)?
            .conv_bn(&self.conv3, &self.bn3, true)?;
        let mut x = x.avg_pool(&self.avgpool)?;
        for block in self.blocks() {
            x = block.forward_channels_last(&x)?;
        }
        Some(x.into_tokens())
    }
}
