//! Validation during training: image ↔ text Recall@1/5/10 of the model on a held-out set.

use burn::module::Module;
use clip_vision::preprocess::pixels_to_tensor;

use super::FitError;
use crate::Clip;
use crate::data::{
    BatchLoader, BatchSource, DataError, ModelInputs, PairSet, ShardLoader, StreamOptions,
};
use crate::retrieval::{Recall, retrieval_recall};

/// A validation set: a list (every caption of every image) or shards (read in order, one
/// caption per sample).
pub(super) enum Validation {
    Pairs(Box<BatchLoader>),
    Shards(Box<ShardLoader>),
}

impl Validation {
    pub(super) fn new(
        set: PairSet,
        inputs: &ModelInputs,
        batch_size: usize,
        seed: u64,
        cache_bytes: usize,
    ) -> Result<Self, DataError> {
        let (resolution, context) = (inputs.preprocessor.resolution(), inputs.context_length);
        Ok(match set {
            PairSet::Pairs(data) => Validation::Pairs(Box::new(
                BatchLoader::new(data, resolution, context, batch_size, seed, cache_bytes)
                    .with_inputs(inputs),
            )),
            PairSet::Shards(data, options) => {
                let options = StreamOptions {
                    shuffle_buffer: 1,
                    keep_last: true,
                    ..options
                };
                let loader =
                    ShardLoader::new(data, resolution, context, batch_size, seed, options)?
                        .with_inputs(inputs);
                Validation::Shards(Box::new(loader))
            }
        })
    }

    /// Image ↔ text Recall@1/5/10 of `model` over the set.
    pub(super) fn recall(&mut self, model: &Clip) -> Result<Recall, FitError> {
        let model = model.valid();
        match self {
            Validation::Pairs(loader) => {
                let (count, step) = (loader.data().len(), loader.batch_size().max(1));
                let chunks = (0..count).step_by(step).map(|start| {
                    let idx: Vec<usize> = (start..(start + step).min(count)).collect();
                    let captions = idx
                        .iter()
                        .map(|&i| loader.data().captions[i].clone())
                        .collect();
                    Ok((loader.pixels(&idx)?, captions))
                });
                recall(&model, chunks)
            }
            Validation::Shards(loader) => {
                loader.seek(0, 0, 0)?;
                let chunks = std::iter::from_fn(|| loader.next_batch()).map(|batch| {
                    batch.map(|b| (b.pixels, b.captions.into_iter().map(|c| vec![c]).collect()))
                });
                recall(&model, chunks)
            }
        }
    }
}

/// Recall@1/5/10 over chunks of (pixels of n images, each image's captions).
fn recall(
    model: &Clip,
    chunks: impl Iterator<Item = Result<(Vec<f32>, Vec<Vec<String>>), DataError>>,
) -> Result<Recall, FitError> {
    let device = model.logit_scale.val().device();
    let tokenizer = model.tokenizer()?;
    let resolution = model.image_resolution();
    let mut image_features = Vec::new();
    let mut text_features = Vec::new();
    let mut text_image = Vec::new();
    let mut images = 0;
    for chunk in chunks {
        let (pixels, captions) = chunk?;
        let n = captions.len();
        let mut texts = Vec::new();
        for (k, all) in captions.into_iter().enumerate() {
            text_image.extend(std::iter::repeat_n(images + k, all.len()));
            texts.extend(all);
        }
        images += n;
        image_features.push(model.encode_image(pixels_to_tensor(pixels, resolution, &device)));
        let tokens = tokenizer.tokenize(&texts, model.config.context_length, true)?;
        text_features.push(model.encode_text(&tokens));
    }
    if image_features.is_empty() {
        return Err(FitError::EmptyValidation);
    }
    Ok(retrieval_recall(
        burn::tensor::Tensor::cat(image_features, 0),
        burn::tensor::Tensor::cat(text_features, 0),
        &text_image,
        &[1, 5, 10],
    ))
}
