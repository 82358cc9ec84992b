use std::path::Path;

use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor};
use clip_text::TextTransformer;
use clip_tokenizer::{HfTokenizer, TextTokenizer, TokenBatch, TokenizerError};
use clip_vision::VisionEncoder;
use clip_vision::preprocess::pixels_to_tensor;

use crate::{Checkpoint, ClipConfig, LoadError, TextPoolName};

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
    /// The logits' learned bias, shape [1] (SigLIP; `None` for CLIP).
    pub logit_bias: Option<Param<Tensor<1>>>,
    /// The architecture.
    #[module(skip)]
    pub config: ClipConfig,
    /// The `tokenizer.json` found beside the weights, if any (see [`Clip::tokenizer`]).
    #[module(skip)]
    pub hf_tokenizer: Option<HfTokenizer>,
}

impl Clip {
    pub(crate) fn new(
        visual: VisionEncoder,
        text: TextTransformer,
        config: &ClipConfig,
        device: &Device,
    ) -> Self {
        // CLIP: ln(1/0.07); SigLIP: scale ln 10, bias −10 (open_clip's `init_logit_*`).
        let (scale, bias) = match config.logit_bias {
            false => ((1.0f32 / 0.07).ln(), None),
            true => (10f32.ln(), Some(-10.0f32)),
        };
        let param = |v: f32| Param::from_tensor(Tensor::from_floats([v], device));
        Clip {
            visual,
            text,
            logit_scale: param(scale),
            logit_bias: bias.map(param),
            config: config.clone(),
            hf_tokenizer: None,
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
        on_the_pool(|| self.visual.forward(pixels))
    }

    /// Token ids → text features `[rows, embed_dim]`, not normalised (as `encode_text`).
    pub fn encode_text(&self, tokens: &TokenBatch) -> Tensor<2> {
        on_the_pool(|| self.text.forward(tokens))
    }

    /// `(logits_per_image [images, texts], logits_per_text [texts, images])`:
    /// `exp(logit_scale) · norm(I) · norm(T)ᵀ`, as the reference's `forward`, plus
    /// `logit_bias` where the model has one (SigLIP).
    pub fn forward(&self, pixels: Tensor<4>, tokens: &TokenBatch) -> (Tensor<2>, Tensor<2>) {
        let image = l2_normalize(self.encode_image(pixels));
        let text = l2_normalize(self.encode_text(tokens));
        let per_image = self.logits(image.matmul(text.transpose()));
        (per_image.clone(), per_image.transpose())
    }

    /// Cosine similarities → logits: `exp(logit_scale) · cos (+ logit_bias)`.
    pub fn logits(&self, cosines: Tensor<2>) -> Tensor<2> {
        let logits = cosines * self.logit_scale.val().exp().unsqueeze::<2>();
        match &self.logit_bias {
            Some(bias) => logits + bias.val().unsqueeze::<2>(),
            None => logits,
        }
    }

    /// Image features `[n, embed_dim]` (row-major, on the host) of preprocessed images laid
    /// end to end (`[n, 3, R, R]`), encoded `batch` images at a time; `progress` hears how
    /// many images each batch held.
    ///
    /// # Panics
    /// If `pixels` is not a whole number of images, or `batch` is 0.
    pub fn image_features(
        &self,
        pixels: &[f32],
        batch: usize,
        mut progress: impl FnMut(usize),
    ) -> Vec<f32> {
        let r = self.image_resolution();
        let per = 3 * r * r;
        let device = self.logit_scale.val().device();
        let mut out = Vec::with_capacity(pixels.len() / per * self.config.embed_dim);
        for chunk in pixels.chunks(batch * per) {
            let tensor = pixels_to_tensor(chunk.to_vec(), r, &device);
            out.extend(to_f32_vec(self.encode_image(tensor)));
            progress(chunk.len() / per);
        }
        out
    }

    /// Text features `[rows, embed_dim]` (row-major, on the host), encoded `batch` rows at a
    /// time; `progress` hears how many rows each batch held.
    ///
    /// # Panics
    /// If `batch` is 0.
    pub fn text_features(
        &self,
        tokens: &TokenBatch,
        batch: usize,
        mut progress: impl FnMut(usize),
    ) -> Vec<f32> {
        let rows = tokens.len();
        let mut out = Vec::with_capacity(rows * self.config.embed_dim);
        for start in (0..rows).step_by(batch) {
            let end = (start + batch).min(rows);
            out.extend(to_f32_vec(self.encode_text(&tokens.slice_rows(start, end))));
            progress(end - start);
        }
        out
    }

    /// The tokenizer this model reads: OpenAI's for CLIP, the `tokenizer.json` beside its
    /// weights for SigLIP (without one that is an error: OpenAI's ids would be another
    /// vocabulary's).
    pub fn tokenizer(&self) -> Result<TextTokenizer, TokenizerError> {
        match (&self.hf_tokenizer, self.config.text_pool) {
            (Some(t), _) => Ok(TextTokenizer::HuggingFace(t.clone())),
            (None, TextPoolName::Last) => Err(TokenizerError::Unavailable(format!(
                "{} reads its own tokenizer: put its {} and tokenizer_config.json beside the \
                 weights (a hub repository has them; `hf-hub:` downloads fetch them)",
                self.config.name(),
                crate::tokenizer::FILE_NAME
            ))),
            (None, TextPoolName::Eot) => Ok(TextTokenizer::default()),
        }
    }

    /// Input side in pixels the image encoder expects.
    pub fn image_resolution(&self) -> usize {
        self.config.image_resolution
    }

    /// The image transform this model was trained with: OpenAI's at its resolution, or its
    /// open_clip configuration's mean, standard deviation and resize mode.
    pub fn preprocessor(&self) -> clip_vision::preprocess::Preprocessor {
        let p = clip_vision::preprocess::Preprocessor::new(self.config.image_resolution);
        match self.config.image_transform {
            Some(t) => p.with_normalization(t.mean, t.std).with_squash(t.squash),
            None => p,
        }
    }
}

/// A tensor's values on the host, row-major, in f32 whatever the device computes in.
pub fn to_f32_vec<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
    tensor
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .expect("converted to f32")
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

/// Runs `f` on a thread of rayon's pool. A forward pass makes a hundred or so parallel
/// loops (one per product); called from outside the pool, each would hand its work to the
/// pool and park the caller until it ends, two thread wake-ups per product. From inside,
/// the calling thread takes its share and the others steal the rest.
fn on_the_pool<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    if rayon::current_thread_index().is_some() {
        f()
    } else {
        rayon::scope(|_| f())
    }
}
