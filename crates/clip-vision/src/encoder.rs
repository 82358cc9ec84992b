use burn::module::Module;
use burn::tensor::Tensor;

use crate::{ModifiedResNet, SiglipVisionTransformer, VisionTransformer};

/// One of the image encoders.
///
/// Checkpoint paths skip the variant name (`visual.conv1.weight` for both), as in PyTorch.
/// A model holds exactly one, so the size difference between the variants costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum VisionEncoder {
    /// `ViT-*` models.
    Vit(VisionTransformer),
    /// `RN*` models.
    ResNet(ModifiedResNet),
    /// SigLIP models.
    Siglip(SiglipVisionTransformer),
}

impl VisionEncoder {
    /// `[batch, 3, R, R]` normalised pixels → `[batch, embed_dim]` features (not normalised).
    pub fn forward(&self, pixels: Tensor<4>) -> Tensor<2> {
        match self {
            VisionEncoder::Vit(vit) => vit.forward(pixels),
            VisionEncoder::ResNet(resnet) => resnet.forward(pixels),
            VisionEncoder::Siglip(siglip) => siglip.forward(pixels),
        }
    }
}
