//! Batches for training: images decoded and preprocessed in parallel (and kept in memory
//! while they fit a budget, so later epochs skip decoding), one caption per image drawn for
//! each epoch, tokenized.

use std::sync::Arc;

use burn::tensor::{Device, Tensor, TensorData};
use clip_text::TokenIds;
use clip_tokenizer::Tokenizer;
use clip_vision::preprocess::Preprocessor;
use rayon::prelude::*;

use super::{DataError, ImageCaptions, caption_choice, epoch_order};

/// One training batch.
#[derive(Debug, Clone)]
pub struct Batch {
    /// Dataset indices of the images, in batch order.
    pub images: Vec<usize>,
    /// Normalised pixels, `[n, 3, R, R]` flattened.
    pub pixels: Vec<f32>,
    /// The drawn captions, tokenized (truncated to the context length).
    pub tokens: TokenIds,
    /// The drawn captions.
    pub captions: Vec<String>,
}

impl Batch {
    /// The pixels as a `[n, 3, R, R]` tensor on `device`.
    pub fn pixel_tensor(&self, resolution: usize, device: &Device) -> Tensor<4> {
        let n = self.images.len();
        Tensor::from_data(
            TensorData::new(self.pixels.clone(), [n, 3, resolution, resolution]),
            device,
        )
    }
}

/// Draws the batches of every epoch from a dataset.
pub struct BatchLoader {
    data: ImageCaptions,
    preprocessor: Preprocessor,
    tokenizer: Tokenizer,
    context_length: usize,
    batch_size: usize,
    seed: u64,
    cache: Vec<Option<Arc<Vec<f32>>>>,
    cache_left: usize,
    /// The current epoch's image order (drawn once per epoch, not once per batch).
    order: Option<(usize, Vec<usize>)>,
}

impl BatchLoader {
    /// Batches of `batch_size` (at most the dataset's size) from `data` at `resolution`,
    /// captions in `context_length` tokens, order fixed by `seed`. Up to `cache_bytes` of
    /// preprocessed pixels are kept between epochs.
    pub fn new(
        data: ImageCaptions,
        resolution: usize,
        context_length: usize,
        batch_size: usize,
        seed: u64,
        cache_bytes: usize,
    ) -> Self {
        let n = data.len();
        BatchLoader {
            preprocessor: Preprocessor::new(resolution),
            tokenizer: Tokenizer::new(),
            context_length,
            batch_size: batch_size.clamp(1, n.max(1)),
            seed,
            cache: vec![None; n],
            cache_left: cache_bytes / (3 * resolution * resolution * 4).max(1),
            order: None,
            data,
        }
    }

    /// The dataset.
    pub fn data(&self) -> &ImageCaptions {
        &self.data
    }

    /// Images per batch.
    pub fn batch_size(&self) -> usize {
        self.batch_size
    }

    /// Full batches per epoch (the remainder is dropped: every step contrasts the same
    /// number of pairs).
    pub fn batches_per_epoch(&self) -> usize {
        self.data.len() / self.batch_size
    }

    /// Batch `index` of epoch `epoch`.
    pub fn batch(&mut self, epoch: usize, index: usize) -> Result<Batch, DataError> {
        if self.order.as_ref().is_none_or(|(e, _)| *e != epoch) {
            self.order = Some((epoch, epoch_order(self.data.len(), self.seed, epoch)));
        }
        let order = &self.order.as_ref().expect("drawn above").1;
        let start = index * self.batch_size;
        let images: Vec<usize> = order[start..start + self.batch_size].to_vec();
        let captions: Vec<String> = images
            .iter()
            .map(|&i| {
                let all = &self.data.captions[i];
                all[caption_choice(all.len(), self.seed, epoch, i)].clone()
            })
            .collect();
        let pixels = self.pixels(&images)?;
        let tokenized = self
            .tokenizer
            .tokenize(&captions, self.context_length, true)
            .map_err(|e| DataError::Image {
                path: self.data.images[images[0]].clone(),
                message: e.to_string(),
            })?;
        Ok(Batch {
            images,
            pixels,
            tokens: TokenIds::from(&tokenized),
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
                    message: e.to_string(),
                });
                (i, result)
            })
            .collect();
        let mut fresh = std::collections::HashMap::new();
        for (i, result) in decoded {
            let pixels = Arc::new(result?);
            if self.cache_left > 0 {
                self.cache_left -= 1;
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
