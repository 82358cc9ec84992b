use burn::config::Config;
use burn::module::Module;
use burn::nn::BatchNorm;
use burn::nn::conv::Conv2d;
use burn::nn::pool::AvgPool2d;
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};
use clip_nn::{ChannelsLast, FastForward, conv2d_batch_norm};

use super::{avg_pool, batch_norm, conv1x1, conv3x3};

/// Configuration of [`Bottleneck`].
#[derive(Config, Debug)]
pub struct BottleneckConfig {
    /// Input channels.
    pub inplanes: usize,
    /// Inner width; the output has 4× this.
    pub planes: usize,
    /// Spatial stride, applied as an average pool after `conv2`.
    pub stride: usize,
}

/// OpenAI's anti-aliased Bottleneck: every conv has stride 1 and a stride > 1 is an
/// average pool after `conv2` (and before the downsample's 1×1 conv).
#[derive(Module, Debug)]
pub struct Bottleneck {
    /// 1×1 reduce.
    pub conv1: Conv2d,
    /// Norm.
    pub bn1: BatchNorm,
    /// 3×3.
    pub conv2: Conv2d,
    /// Norm.
    pub bn2: BatchNorm,
    /// The stride, when > 1.
    pub avgpool: Option<AvgPool2d>,
    /// 1×1 expand to 4 × planes.
    pub conv3: Conv2d,
    /// Norm (zero-initialised for training, as OpenAI does).
    pub bn3: BatchNorm,
    /// Shortcut projection when the shape changes (`downsample.0` / `.1` in checkpoints).
    pub downsample: Option<Downsample>,
}

/// The shortcut: average pool → 1×1 conv → BatchNorm.
#[derive(Module, Debug)]
pub struct Downsample {
    /// The stride as an average pool (kernel 1 when the stride is 1).
    pub avgpool: AvgPool2d,
    /// 1×1 conv (checkpoint key `downsample.0`).
    pub conv: Conv2d,
    /// Norm (checkpoint key `downsample.1`).
    pub bn: BatchNorm,
}

impl Bottleneck {
    /// Output channels per inner channel.
    pub const EXPANSION: usize = 4;
}

impl BottleneckConfig {
    /// Builds the block.
    pub fn init(&self, device: &Device) -> Bottleneck {
        let out = self.planes * Bottleneck::EXPANSION;
        let downsample = (self.stride > 1 || self.inplanes != out).then(|| Downsample {
            avgpool: avg_pool(self.stride),
            conv: conv1x1(self.inplanes, out, device),
            bn: batch_norm(out, device),
        });
        Bottleneck {
            conv1: conv1x1(self.inplanes, self.planes, device),
            bn1: batch_norm(self.planes, device),
            conv2: conv3x3(self.planes, self.planes, 1, device),
            bn2: batch_norm(self.planes, device),
            avgpool: (self.stride > 1).then(|| avg_pool(self.stride)),
            conv3: conv1x1(self.planes, out, device),
            bn3: batch_norm(out, device),
            downsample,
        }
    }
}

impl Bottleneck {
    /// `[batch, inplanes, H, W] -> [batch, 4·planes, H/stride, W/stride]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let identity = match &self.downsample {
            Some(down) => conv2d_batch_norm(
                &down.conv,
                &down.bn,
                false,
                down.avgpool.fast_forward(x.clone()),
            ),
            None => x.clone(),
        };
        let out = conv2d_batch_norm(&self.conv1, &self.bn1, true, x);
        let mut out = conv2d_batch_norm(&self.conv2, &self.bn2, true, out);
        if let Some(pool) = &self.avgpool {
            out = pool.fast_forward(out);
        }
        let out = conv2d_batch_norm(&self.conv3, &self.bn3, false, out);
        relu(out + identity)
    }

    /// [`Bottleneck::forward`] on a channels-last map (the CPU fast path); `None` where a
    /// layer does not take that path.
    pub fn forward_channels_last(&self, x: &ChannelsLast) -> Option<ChannelsLast> {
        let out = x.conv_bn(&self.conv1, &self.bn1, true)?;
        let mut out = out.conv_bn(&self.conv2, &self.bn2, true)?;
        if let Some(pool) = &self.avgpool {
            out = out.avg_pool(pool)?;
        }
        let out = out.conv_bn(&self.conv3, &self.bn3, false)?;
        match &self.downsample {
            Some(down) => {
                let identity = x
                    .avg_pool(&down.avgpool)?
                    .conv_bn(&down.conv, &down.bn, false)?;
                out.add_relu(&identity)
            }
            None => out.add_relu(x),
        }
    }
}
