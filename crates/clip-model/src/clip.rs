use std::path::Path;

use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor};
use clip_text::{TextTransformer, TokenIds};
use clip_vision::VisionEncoder;

use crate::{Checkpoint, ClipConfig, LoadError};

/// CLIP: an image encoder, a text encoder and the learned temperature.
///
/// In checkpoints the text encoder's tensors sit at the top level (`token_embedding`,
/// `transformer`, `ln_final`, `text_projection`); here they are grouped under `text`.
#[derive(Module, Debug)]
pub struct Clip {
    /// The image encoder (`visual.*`).
    pub visual: VisionEncoder,
    /// The text encoder.
    pub text: TextTransformer,
    /// Log of the inverse softmax temperature, shape [1].
    pub logit_scale: Param<Tensor<1>>,
    /// The architecture.
    #[module(skip)]
    pub config: ClipConfig,
}

impl Clip {
    pub(crate) fn new(
        visual: VisionEncoder,
        text: TextTransformer,
        config: &ClipConfig,
        device: &Device,
    ) -> Self {
        let init = (1.0f32 / 0.07).ln();
        Clip {
            visual,
            text,
            logit_scale: Param::from_tensor(Tensor::from_floats([init], device)),
            config: config.clone(),
        }
    }

    /// Loads a checkpoint in any supported format (see [`Checkpoint::open`]) onto `device`,
    /// with its tensors as f32.
    pub fn load(path: impl AsRef<Path>, device: &Device) -> Result<Self, LoadError> {
        Checkpoint::open(path.as_ref())?.into_model(device, burn::tensor::DType::F32)
    }

    /// Normalised pixels `[batch, 3, R, R]` → image features `[batch, embed_dim]`, not
    /// normalised (as the reference's `encode_image`).
    pub fn encode_image(&self, pixels: Tensor<4>) -> Tensor<2> {
        self.visual.forward(pixels)
    }

    /// Token ids → text features `[rows, embed_dim]`, not normalised (as `encode_text`).
    pub fn encode_text(&self, tokens: &TokenIds) -> Tensor<2> {
        self.text.forward(tokens)
    }

    /// `(logits_per_image [images, texts], logits_per_text [texts, images])`:
    /// `exp(logit_scale) · norm(I) · norm(T)ᵀ`, as the reference's `forward`.
    pub fn forward(&self, pixels: Tensor<4>, tokens: &TokenIds) -> (Tensor<2>, Tensor<2>) {
        let image = l2_normalize(self.encode_image(pixels));
        let text = l2_normalize(self.encode_text(tokens));
        let scale = self.logit_scale.val().exp().unsqueeze::<2>();
        let per_image = image.matmul(text.transpose()) * scale;
        (per_image.clone(), per_image.transpose())
    }

    /// Input side in pixels the image encoder expects.
    pub fn image_resolution(&self) -> usize {
        self.config.image_resolution
    }
}

/// Divides each row by its Euclidean norm.
pub fn l2_normalize(x: Tensor<2>) -> Tensor<2> {
    let norm = x.clone().powi_scalar(2).sum_dim(1).sqrt();
    x / norm
}
