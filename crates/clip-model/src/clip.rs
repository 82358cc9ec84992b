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

    /// Loads a model onto `device` with its tensors in the device's float dtype (f32 unless
    /// the device was configured otherwise, as `clip.load(…, device="cpu")` does): a path to a
    /// checkpoint in any supported format (see [`Checkpoint::open`]), one of
    /// [`available_models`](crate::available_models) (downloaded once into
    /// [`hub::cache_dir`](crate::hub::cache_dir) and verified), an `http(s)://` URL, or
    /// `hf-hub:ORG/REPO` (see [`hub::Source::parse`](crate::hub::Source::parse)).
    pub fn load(name_or_path: impl AsRef<Path>, device: &Device) -> Result<Self, LoadError> {
        let given = name_or_path.as_ref();
        if given.exists() {
            return Checkpoint::open(given)?.into_model(device, float_dtype(device));
        }
        let downloaded = crate::hub::resolve(given)?;
        Self::load_converted(&downloaded, device)
    }

    /// Loads a downloaded checkpoint through a safetensors copy converted once and kept
    /// beside it (`ViT-B-32.pt` → `ViT-B-32.safetensors`, tensors in their stored dtype),
    /// so later loads skip the TorchScript parsing.
    fn load_converted(file: &Path, device: &Device) -> Result<Self, LoadError> {
        let dtype = float_dtype(device);
        if file.extension().is_some_and(|e| e == "safetensors") {
            return Checkpoint::open(file)?.into_model(device, dtype);
        }
        let converted = file.with_extension("safetensors");
        if !converted.exists() {
            let checkpoint = Checkpoint::open(file)?;
            let config = checkpoint.config()?;
            checkpoint.save(&converted, &config, crate::SaveDtype::Keep)?;
        }
        Checkpoint::open(&converted)?.into_model(device, dtype)
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

/// The float dtype tensors created on `device` get (see `Device::configure`).
fn float_dtype(device: &Device) -> burn::tensor::DType {
    device.settings().float_dtype.into()
}
