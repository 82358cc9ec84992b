//! CLIP's image side, as in OpenAI's `clip/model.py` and `clip/clip.py`.
//!
//! - [`VisionTransformer`]: patchify with a bias-free conv, prepend the class token, add the
//!   positional embedding, `ln_pre`, pre-LN transformer, `ln_post` on the class token, `proj`.
//! - [`ModifiedResNet`]: a 3-conv stem, anti-aliased Bottlenecks (strides are average pools)
//!   and an [`AttentionPool2d`] head that attends from the mean token.
//! - [`preprocess`]: `_transform(n_px)` with Pillow's resampling, exact to the 8-bit value
//!   (reading image files is the `image` feature, on by default).
//!
//! - [`SiglipVisionTransformer`]: SigLIP's ViT without class token, pooled by a learned
//!   probe's attention ([`MapHead`]).
//!
//! [`VisionEncoder`] holds any of the encoders, so a CLIP model can carry one without generics.

mod encoder;
pub mod preprocess;
mod resnet;
mod siglip;
mod vit;

pub use encoder::VisionEncoder;
pub use resnet::{
    AttentionPool2d, AttentionPool2dConfig, Bottleneck, BottleneckConfig, Downsample,
    ModifiedResNet, ModifiedResNetConfig,
};
pub use siglip::{MapHead, MapHeadConfig, SiglipVisionConfig, SiglipVisionTransformer};
pub use vit::{VisionTransformer, VisionTransformerConfig};
