use std::path::Path;

use burn::tensor::Device;
use clip_model::Clip;
use clip_tokenizer::{TextTokenizer, TokenBatch, TokenizerError};
use clip_vision::preprocess::Preprocessor;

use crate::{Embeddings, Error};

/// A model with its tokenizer and image transform: files and strings in, features and
/// probabilities out, batched and preprocessed inside.
///
/// Features are what OpenAI's `encode_image` / `encode_text` return (not normalised; see
/// [`Embeddings::normalized`] and [`Embeddings::similarity`]).
pub struct ClipPipeline {
    model: Clip,
    /// The model's tokenizer, or why it has none at hand (images still work).
    tokenizer: Result<TextTokenizer, String>,
    preprocessor: Preprocessor,
    device: Device,
    batch_size: usize,
    truncate: bool,
}

impl ClipPipeline {
    /// Rows per forward pass unless [`ClipPipeline::batch_size`] says otherwise.
    pub const DEFAULT_BATCH_SIZE: usize = 32;

    /// Loads weights onto `device`: a checkpoint file in any supported format, a model name
    /// (`"ViT-B/32"`, downloaded once and verified), a URL or `hf-hub:ORG/REPO` (see
    /// [`Clip::load`]).
    pub fn load(weights: impl AsRef<Path>, device: &Device) -> Result<Self, Error> {
        Ok(Self::new(Clip::load(weights, device)?, device))
    }

    /// Wraps a model already on `device`.
    pub fn new(model: Clip, device: &Device) -> Self {
        ClipPipeline {
            preprocessor: model.preprocessor(),
            tokenizer: model.tokenizer().map_err(|e| e.to_string()),
            model,
            device: device.clone(),
            batch_size: Self::DEFAULT_BATCH_SIZE,
            truncate: false,
        }
    }

    /// Rows per forward pass (at least 1): bounds memory, not the input size.
    pub fn batch_size(mut self, rows: usize) -> Self {
        self.batch_size = rows.max(1);
        self
    }

    /// Cut texts longer than the model's context instead of failing on them
    /// (`clip.tokenize(…, truncate=True)`).
    pub fn truncate(mut self, truncate: bool) -> Self {
        self.truncate = truncate;
        self
    }

    /// The model.
    pub fn model(&self) -> &Clip {
        &self.model
    }

    /// The device the model is on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The model's image transform (OpenAI's at its resolution unless its configuration
    /// says otherwise).
    pub fn preprocessor(&self) -> Preprocessor {
        self.preprocessor
    }

    /// Image features of the files at `paths`, one row each, in order. Each batch's files are
    /// decoded in parallel; the first unreadable file is the error.
    #[cfg(feature = "image")]
    pub fn embed_images<P: AsRef<Path> + Sync>(&self, paths: &[P]) -> Result<Embeddings, Error> {
        let mut out = Embeddings::default();
        for batch in paths.chunks(self.batch_size) {
            let pixels = self
                .preprocessor
                .load_all(batch)
                .into_iter()
                .collect::<Result<Vec<_>, _>>()?;
            out.extend(self.embed_pixels(&pixels));
        }
        Ok(out)
    }

    /// Image features of preprocessed images (each `[3, R, R]`, see
    /// [`Preprocessor::pixels`]).
    ///
    /// # Panics
    /// If an image does not hold `3 · R · R` values.
    pub fn embed_pixels(&self, images: &[Vec<f32>]) -> Embeddings {
        let pixels = self.preprocessor.concat(images);
        let features = self.model.image_features(&pixels, self.batch_size, |_| {});
        Embeddings::new(features, self.model.config.embed_dim)
    }

    /// Text features, one row per text, in order.
    pub fn embed_texts<S: AsRef<str> + Sync>(&self, texts: &[S]) -> Result<Embeddings, Error> {
        Ok(self.embed_tokens(&self.tokenize(texts)?))
    }

    /// `texts` as the model reads them: token ids at its context length, cut if
    /// [`ClipPipeline::truncate`] says so.
    pub fn tokenize<S: AsRef<str> + Sync>(&self, texts: &[S]) -> Result<TokenBatch, Error> {
        let context = self.model.config.context_length;
        Ok(self.tokenizer()?.tokenize(texts, context, self.truncate)?)
    }

    /// The model's tokenizer (see [`Clip::tokenizer`]).
    pub fn tokenizer(&self) -> Result<&TextTokenizer, TokenizerError> {
        self.tokenizer
            .as_ref()
            .map_err(|e| TokenizerError::Unavailable(e.clone()))
    }

    /// Text features of texts tokenized already (see [`ClipPipeline::tokenize`]), one row
    /// each, in order.
    pub fn embed_tokens(&self, tokens: &TokenBatch) -> Embeddings {
        let features = self.model.text_features(tokens, self.batch_size, |_| {});
        Embeddings::new(features, self.model.config.embed_dim)
    }

    /// Cosine similarity of every image file with every text: `[images][texts]`.
    #[cfg(feature = "image")]
    pub fn similarity<P: AsRef<Path> + Sync, S: AsRef<str> + Sync>(
        &self,
        images: &[P],
        texts: &[S],
    ) -> Result<Vec<Vec<f32>>, Error> {
        Ok(self
            .embed_images(images)?
            .similarity(&self.embed_texts(texts)?))
    }

    /// Zero-shot probabilities of `image` against `labels`, each put into `template`
    /// (`"a photo of a {}."`), best first: OpenAI's README example (SigLIP: a sigmoid per
    /// label, see [`clip_zeroshot::label_probabilities`]).
    #[cfg(feature = "image")]
    pub fn classify<S: AsRef<str>>(
        &self,
        image: impl AsRef<Path>,
        labels: &[S],
        template: &str,
    ) -> Result<Vec<(String, f32)>, Error> {
        let labels: Vec<String> = labels.iter().map(|l| l.as_ref().to_owned()).collect();
        let pixels = self.preprocessor.load(image)?;
        let pixels = self.preprocessor.to_tensor(&[pixels], &self.device);
        Ok(clip_zeroshot::label_probabilities(
            &self.model,
            self.tokenizer()?,
            pixels,
            &labels,
            template,
        )?)
    }
}
