//! Batches for training: the [`BatchSource`] a training loop draws from, and its in-memory
//! form, [`BatchLoader`]: images decoded and preprocessed in parallel (and all kept in
//! memory when they fit a budget, so later epochs skip decoding), one caption per image
//! drawn for each epoch, tokenized.

use std::sync::Arc;

use burn::tensor::{Device, Tensor};
use clip_tokenizer::TextTokenizer;
use clip_tokenizer::TokenBatch;
use clip_vision::preprocess::Preprocessor;
use rayon::prelude::*;

use super::{DataError, ImageCaptions, RankSlice, StreamStats, caption_choice, epoch_order};

/// One training batch.
#[derive(Debug, Clone)]
pub struct Batch {
    /// The epoch it belongs to.
    pub epoch: usize,
    /// Its index in the epoch.
    pub index: usize,
    /// Samples of the epoch's stream consumed up to and including this batch (skipped ones
    /// too): where a resumed run continues.
    pub position: u64,
    /// Dataset indices of the images (for shards: their ordinals in the epoch's stream); in a
    /// run of several processes, only this rank's rows of the batch.
    pub images: Vec<usize>,
    /// Normalised pixels, `[n, 3, R, R]` flattened.
    pub pixels: Vec<f32>,
    /// The drawn captions, tokenized (truncated to the context length).
    pub tokens: TokenBatch,
    /// The drawn captions.
    pub captions: Vec<String>,
}

impl Batch {
    /// The pixels as a `[n, 3, R, R]` tensor on `device`.
    pub fn pixel_tensor(&self, resolution: usize, device: &Device) -> Tensor<4> {
        clip_vision::preprocess::pixels_to_tensor(self.pixels.clone(), resolution, device)
    }
}

/// Where a training loop gets its batches: epochs of batches, each epoch a pure function of
/// the seed and its number, so that a run can be resumed at any batch.
pub trait BatchSource: Send {
    /// Pairs per batch.
    fn batch_size(&self) -> usize;

    /// Full batches an epoch gives (for a stream, as counted or told; it may end sooner when
    /// images turn out undecodable).
    fn batches_per_epoch(&self) -> usize;

    /// Continues epoch `epoch` at batch `index`, `position` samples of its stream consumed
    /// (the [`Batch::position`] of the batch before).
    fn seek(&mut self, epoch: usize, index: usize, position: u64) -> Result<(), DataError>;

    /// The next batch of the current epoch; `None` at its end.
    fn next_batch(&mut self) -> Option<Result<Batch, DataError>>;

    /// What the current epoch used and skipped so far.
    fn stats(&self) -> StreamStats {
        StreamStats::default()
    }
}

/// The captions tokenized for a batch (truncated, end-of-text kept).
pub(crate) fn tokenize(
    tokenizer: &TextTokenizer,
    captions: &[String],
    context_length: usize,
) -> Result<TokenBatch, DataError> {
    let tokens = tokenizer
        .tokenize(captions, context_length, true)
        .map_err(|e| DataError::Captions(e.to_string()))?;
    Ok(tokens)
}

/// Draws the batches of every epoch from a dataset held as a list of files.
pub struct BatchLoader {
    data: ImageCaptions,
    preprocessor: Preprocessor,
    tokenizer: TextTokenizer,
    context_length: usize,
    batch_size: usize,
    seed: u64,
    cache: Vec<Option<Arc<Vec<f32>>>>,
    caching: bool,
    /// The rows of each batch this process loads.
    slice: RankSlice,
    /// The current epoch's image order (drawn once per epoch, not once per batch).
    order: Option<(usize, Vec<usize>)>,
    /// The next batch [`BatchSource::next_batch`] gives: (epoch, index).
    cursor: (usize, usize),
}

impl BatchLoader {
    /// Batches of `batch_size` (at most the dataset's size) from `data` at `resolution`,
    /// captions in `context_length` tokens, order fixed by `seed`. When all the set's
    /// preprocessed pixels fit in `cache_bytes`, they are kept after their first decoding;
    /// otherwise none are, and memory stays that of the batches in flight.
    pub fn new(
        data: ImageCaptions,
        resolution: usize,
        context_length: usize,
        batch_size: usize,
        seed: u64,
        cache_bytes: usize,
    ) -> Self {
        let n = data.len();
        let per_image = 3 * resolution * resolution * std::mem::size_of::<f32>();
        BatchLoader {
            preprocessor: Preprocessor::new(resolution),
            tokenizer: TextTokenizer::default(),
            context_length,
            batch_size: batch_size.clamp(1, n.max(1)),
            seed,
            cache: vec![None; n],
            caching: n.saturating_mul(per_image) <= cache_bytes,
            slice: RankSlice::WHOLE,
            order: None,
            cursor: (0, 0),
            data,
        }
    }

    /// Prepares images and captions as `inputs` say (the model's own transform and
    /// tokenizer) instead of OpenAI's.
    pub fn with_inputs(mut self, inputs: &crate::data::ModelInputs) -> Self {
        self.preprocessor = inputs.preprocessor;
        self.tokenizer = inputs.tokenizer.clone();
        self.context_length = inputs.context_length;
        self
    }

    /// Loads only `slice`'s rows of each batch (the batches themselves do not change).
    pub fn sliced(mut self, slice: RankSlice) -> Self {
        self.slice = slice;
        self
    }

    /// The dataset.
    pub fn data(&self) -> &ImageCaptions {
        &self.data
    }

    /// Batch `index` of epoch `epoch`.
    pub fn batch(&mut self, epoch: usize, index: usize) -> Result<Batch, DataError> {
        if self.order.as_ref().is_none_or(|(e, _)| *e != epoch) {
            self.order = Some((epoch, epoch_order(self.data.len(), self.seed, epoch)));
        }
        let order = &self.order.as_ref().expect("drawn above").1;
        let start = index * self.batch_size;
        let batch = &order[start..start + self.batch_size];
        let images: Vec<usize> = batch[self.slice.rows(batch.len())].to_vec();
        let captions: Vec<String> = images
            .iter()
            .map(|&i| {
                let all = &self.data.captions[i];
                all[caption_choice(all.len(), self.seed, epoch, i)].clone()
            })
            .collect();
        let pixels = self.pixels(&images)?;
        let tokens = tokenize(&self.tokenizer, &captions, self.context_length)?;
        Ok(Batch {
            epoch,
            index,
            position: ((index + 1) * self.batch_size) as u64,
            images,
            pixels,
            tokens,
            captions,
        })
    }

    /// Preprocessed pixels of `images`, concatenated; decodes the uncached ones in parallel.
    pub fn pixels(&mut self, images: &[usize]) -> Result<Vec<f32>, DataError> {
        let missing: Vec<usize> = images
            .iter()
            .copied()
            .filter(|&i| self.cache[i].is_none())
            .collect();
        let decoded: Vec<(usize, Result<Vec<f32>, DataError>)> = missing
            .par_iter()
            .map(|&i| {
                let path = &self.data.images[i];
                let result = self.preprocessor.load(path).map_err(|e| DataError::Image {
                    path: path.clone(),
                    message: e.detail,
                });
                (i, result)
            })
            .collect();
        let mut fresh = std::collections::HashMap::new();
        for (i, result) in decoded {
            let pixels = Arc::new(result?);
            if self.caching {
                self.cache[i] = Some(pixels.clone());
            }
            fresh.insert(i, pixels);
        }
        let r = self.preprocessor.resolution();
        let mut out = Vec::with_capacity(images.len() * 3 * r * r);
        for i in images {
            let pixels = self.cache[*i]
                .as_ref()
                .or_else(|| fresh.get(i))
                .expect("decoded above");
            out.extend_from_slice(pixels);
        }
        Ok(out)
    }
}

impl BatchSource for BatchLoader {
    fn batch_size(&self) -> usize {
        self.batch_size
    }

    /// Full batches per epoch (the remainder is dropped: every step contrasts the same
    /// number of pairs).
    fn batches_per_epoch(&self) -> usize {
        self.data.len() / self.batch_size
    }

    fn seek(&mut self, epoch: usize, index: usize, _position: u64) -> Result<(), DataError> {
        self.cursor = (epoch, index);
        Ok(())
    }

    fn next_batch(&mut self) -> Option<Result<Batch, DataError>> {
        let (epoch, index) = self.cursor;
        if index >= self.batches_per_epoch() {
            return None;
        }
        self.cursor.1 += 1;
        Some(self.batch(epoch, index))
    }
}
