//! Image–caption pairs in webdataset tar shards, as img2dataset writes them
//! (`KEY.jpg|png|webp` + `KEY.txt`, optional `KEY.json`): how CLIP is fed millions of pairs.
//!
//! Shards are read as a stream, never unpacked: each epoch visits them in an order drawn from
//! the seed and the epoch, their samples pass through a bounded [`ShuffleBuffer`], and images
//! are read and decoded only when a batch takes them. A sample without image or caption, or
//! whose image does not decode, is skipped and counted ([`StreamStats`]); a truncated shard
//! ends at its last complete member. The stream is a pure function of (shards, seed, epoch),
//! so a run resumes mid-epoch by replaying the stream's headers up to its position.

mod scan;
mod shards;
mod shuffle;

use std::path::PathBuf;
use std::sync::Arc;

use clip_tokenizer::TextTokenizer;
use clip_vision::preprocess::{Preprocessor, decode};
use rayon::prelude::*;
use serde::Serialize;

pub use scan::{IMAGE_EXTENSIONS, Member, SampleRef, ShardScan, read_member, scan_shard};
pub use shards::{expand_braces, expand_shards};
pub use shuffle::ShuffleBuffer;

use super::loader::tokenize;
use super::sampling::{epoch_order, mix};
use super::{Batch, BatchSource, DataError, RankSlice};

/// What a pass over shards used and skipped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct StreamStats {
    /// Samples that went into batches.
    pub used: u64,
    /// Samples without an image member.
    pub no_image: u64,
    /// Samples with an image but no (or an empty) caption.
    pub no_caption: u64,
    /// Samples whose image could not be read or decoded.
    pub undecodable: u64,
    /// Shards that ended before their end-of-archive.
    pub truncated_shards: u64,
}

impl StreamStats {
    /// Adds `other`'s counts.
    pub fn add(&mut self, other: &StreamStats) {
        self.used += other.used;
        self.no_image += other.no_image;
        self.no_caption += other.no_caption;
        self.undecodable += other.undecodable;
        self.truncated_shards += other.truncated_shards;
    }

    /// Samples skipped for any reason.
    pub fn skipped(&self) -> u64 {
        self.no_image + self.no_caption + self.undecodable
    }
}

impl std::fmt::Display for StreamStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} samples used, {} skipped ({} without image, {} without caption, {} undecodable), {} truncated shards",
            self.used,
            self.skipped(),
            self.no_image,
            self.no_caption,
            self.undecodable,
            self.truncated_shards
        )
    }
}

/// A set of shards.
#[derive(Debug, Clone)]
pub struct WebDataset {
    shards: Arc<[PathBuf]>,
}

impl WebDataset {
    /// The shards `spec` names (see [`expand_shards`]).
    pub fn open(spec: &str) -> Result<Self, DataError> {
        Ok(WebDataset {
            shards: expand_shards(spec)?.into(),
        })
    }

    /// The shard files.
    pub fn shards(&self) -> &[PathBuf] {
        &self.shards
    }

    /// Complete samples (image and caption) in all shards, and what a pass skips before
    /// decoding; reads headers and captions only, shards in parallel.
    pub fn count(&self) -> Result<(u64, StreamStats), DataError> {
        let scans: Vec<Result<ShardScan, DataError>> = (0..self.shards.len())
            .into_par_iter()
            .map(|i| scan_shard(&self.shards[i], i))
            .collect();
        let (mut samples, mut stats) = (0, StreamStats::default());
        for scan in scans {
            let scan = scan?;
            samples += scan.samples.len() as u64;
            stats.add(&scan.stats);
        }
        Ok((samples, stats))
    }

    /// The samples of epoch `epoch`: shards in an order drawn from (`seed`, `epoch`), through
    /// a shuffle buffer of `buffer` samples (1: the shards' own order, unshuffled).
    pub fn stream(&self, seed: u64, epoch: usize, buffer: usize) -> SampleStream {
        let order = if buffer <= 1 {
            (0..self.shards.len()).collect()
        } else {
            epoch_order(self.shards.len(), seed, epoch)
        };
        SampleStream {
            shards: self.shards.clone(),
            order,
            next_shard: 0,
            pending: Vec::new().into_iter(),
            buffer: ShuffleBuffer::new(buffer, mix(seed, epoch as u64, 0xb0ff)),
            stats: StreamStats::default(),
        }
    }
}

/// One epoch's samples, in order; images not read yet.
pub struct SampleStream {
    shards: Arc<[PathBuf]>,
    order: Vec<usize>,
    next_shard: usize,
    pending: std::vec::IntoIter<SampleRef>,
    buffer: ShuffleBuffer<SampleRef>,
    stats: StreamStats,
}

impl SampleStream {
    /// What the shards opened so far skipped.
    pub fn stats(&self) -> StreamStats {
        self.stats
    }

    /// The shard file of a sample.
    pub fn shard(&self, sample: &SampleRef) -> &std::path::Path {
        &self.shards[sample.shard]
    }
}

impl Iterator for SampleStream {
    type Item = Result<SampleRef, DataError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(sample) = self.pending.next() {
                match self.buffer.push(sample) {
                    Some(out) => return Some(Ok(out)),
                    None => continue,
                }
            }
            if let Some(&shard) = self.order.get(self.next_shard) {
                self.next_shard += 1;
                match scan_shard(&self.shards[shard], shard) {
                    Ok(scan) => {
                        self.stats.add(&scan.stats);
                        self.pending = scan.samples.into_iter();
                    }
                    Err(e) => return Some(Err(e)),
                }
                continue;
            }
            return self.buffer.pop().map(Ok);
        }
    }
}

/// How shards are drawn for training.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamOptions {
    /// Samples in the shuffle buffer (open_clip's is 5000); 1 keeps the shards' order.
    pub shuffle_buffer: usize,
    /// Samples per epoch (open_clip's `--train-num-samples`); default: every complete
    /// sample, counted by a pass over the headers before training.
    pub num_samples: Option<u64>,
    /// Whether the last, smaller batch of an epoch is kept (validation) or dropped (training:
    /// every step contrasts the same number of pairs).
    pub keep_last: bool,
}

impl Default for StreamOptions {
    fn default() -> Self {
        StreamOptions {
            shuffle_buffer: 5000,
            num_samples: None,
            keep_last: false,
        }
    }
}

/// Batches drawn from shards (see the module's documentation).
pub struct ShardLoader {
    data: WebDataset,
    preprocessor: Preprocessor,
    tokenizer: TextTokenizer,
    context_length: usize,
    batch_size: usize,
    seed: u64,
    options: StreamOptions,
    per_epoch: usize,
    stream: Option<SampleStream>,
    epoch: usize,
    index: usize,
    position: u64,
    stats: StreamStats,
    slice: RankSlice,
}

impl ShardLoader {
    /// Batches of `batch_size` from `data` at `resolution`, captions in `context_length`
    /// tokens, order fixed by `seed`. Counts the samples first unless `options` give their
    /// number.
    pub fn new(
        data: WebDataset,
        resolution: usize,
        context_length: usize,
        batch_size: usize,
        seed: u64,
        options: StreamOptions,
    ) -> Result<Self, DataError> {
        let batch_size = batch_size.max(1);
        let samples = match options.num_samples {
            Some(n) => n,
            None => data.count()?.0,
        };
        let per_epoch = if options.keep_last {
            samples.div_ceil(batch_size as u64)
        } else {
            samples / batch_size as u64
        } as usize;
        Ok(ShardLoader {
            data,
            preprocessor: Preprocessor::new(resolution),
            tokenizer: TextTokenizer::default(),
            context_length,
            batch_size,
            seed,
            options,
            per_epoch,
            stream: None,
            epoch: 0,
            index: 0,
            position: 0,
            stats: StreamStats::default(),
            slice: RankSlice::WHOLE,
        })
    }

    /// Prepares images and captions as `inputs` say (the model's own transform and
    /// tokenizer) instead of OpenAI's.
    pub fn with_inputs(mut self, inputs: &crate::data::ModelInputs) -> Self {
        self.preprocessor = inputs.preprocessor;
        self.tokenizer = inputs.tokenizer.clone();
        self.context_length = inputs.context_length;
        self
    }

    /// Loads only `slice`'s rows of each batch. Every rank walks the same stream of samples
    /// (headers and captions only) and reads and decodes the images of its own rows. A batch
    /// whose images turn out undecodable is then not refilled (that would need the ranks to
    /// agree in the middle of a batch): it trains a few pairs short.
    pub fn sliced(mut self, slice: RankSlice) -> Self {
        self.slice = slice;
        self
    }

    /// The next batch of a run of several processes: the next `batch_size` samples of the
    /// stream, this rank's rows of them decoded.
    fn next_slice(&mut self) -> Option<Result<Batch, DataError>> {
        let mut stream = self.stream.take()?;
        let mut drawn = Vec::with_capacity(self.batch_size);
        for item in stream.by_ref().take(self.batch_size) {
            match item {
                Ok(sample) => drawn.push(sample),
                Err(e) => return Some(Err(e)),
            }
        }
        let first = self.position;
        self.position += drawn.len() as u64;
        let full = drawn.len() == self.batch_size;
        if drawn.is_empty() || (!full && !self.options.keep_last) {
            self.stream = Some(stream);
            self.index = self.per_epoch;
            return None;
        }
        let rows = self.slice.rows(drawn.len());
        let preprocessor = &self.preprocessor;
        let decoded: Vec<Option<Vec<f32>>> = drawn[rows.clone()]
            .par_iter()
            .map(|s| {
                let bytes = read_member(stream.shard(s), s.image).ok()?;
                decode(&bytes).ok().map(|image| preprocessor.pixels(&image))
            })
            .collect();
        self.stream = Some(stream);
        let (mut pixels, mut captions, mut ordinals) = (Vec::new(), Vec::new(), Vec::new());
        for (k, image) in rows.zip(decoded) {
            match image {
                Some(image) => {
                    pixels.extend_from_slice(&image);
                    captions.push(drawn[k].caption.clone());
                    ordinals.push((first + k as u64) as usize);
                }
                None => self.stats.undecodable += 1,
            }
        }
        self.finish(pixels, captions, ordinals)
    }

    /// The batch of these rows, the cursor moved past it.
    fn finish(
        &mut self,
        pixels: Vec<f32>,
        captions: Vec<String>,
        images: Vec<usize>,
    ) -> Option<Result<Batch, DataError>> {
        self.stats.used += captions.len() as u64;
        let tokens = match tokenize(&self.tokenizer, &captions, self.context_length) {
            Ok(tokens) => tokens,
            Err(e) => return Some(Err(e)),
        };
        let batch = Batch {
            epoch: self.epoch,
            index: self.index,
            position: self.position,
            images,
            pixels,
            tokens,
            captions,
        };
        self.index += 1;
        Some(Ok(batch))
    }
}

impl BatchSource for ShardLoader {
    fn batch_size(&self) -> usize {
        self.batch_size
    }

    fn batches_per_epoch(&self) -> usize {
        self.per_epoch
    }

    fn seek(&mut self, epoch: usize, index: usize, position: u64) -> Result<(), DataError> {
        let mut stream = self
            .data
            .stream(self.seed, epoch, self.options.shuffle_buffer);
        for _ in 0..position {
            match stream.next() {
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e),
                None => break,
            }
        }
        self.stream = Some(stream);
        (self.epoch, self.index, self.position) = (epoch, index, position);
        self.stats = StreamStats::default();
        Ok(())
    }

    fn next_batch(&mut self) -> Option<Result<Batch, DataError>> {
        if self.index >= self.per_epoch {
            return None;
        }
        if !self.slice.is_whole() {
            return self.next_slice();
        }
        let mut stream = self.stream.take()?;
        let r = self.preprocessor.resolution();
        let (mut pixels, mut captions, mut ordinals) = (
            Vec::with_capacity(self.batch_size * 3 * r * r),
            Vec::new(),
            Vec::new(),
        );
        while captions.len() < self.batch_size {
            let mut drawn = Vec::new();
            for item in stream.by_ref().take(self.batch_size - captions.len()) {
                match item {
                    Ok(sample) => drawn.push(sample),
                    Err(e) => return Some(Err(e)),
                }
            }
            if drawn.is_empty() {
                break;
            }
            let first = self.position;
            self.position += drawn.len() as u64;
            let preprocessor = &self.preprocessor;
            let decoded: Vec<Option<Vec<f32>>> = drawn
                .par_iter()
                .map(|s| {
                    let bytes = read_member(stream.shard(s), s.image).ok()?;
                    decode(&bytes).ok().map(|image| preprocessor.pixels(&image))
                })
                .collect();
            for (k, (sample, image)) in drawn.into_iter().zip(decoded).enumerate() {
                match image {
                    Some(image) => {
                        pixels.extend_from_slice(&image);
                        captions.push(sample.caption);
                        ordinals.push((first + k as u64) as usize);
                    }
                    None => self.stats.undecodable += 1,
                }
            }
        }
        self.stream = Some(stream);
        let full = captions.len() == self.batch_size;
        if captions.is_empty() || (!full && !self.options.keep_last) {
            self.index = self.per_epoch;
            return None;
        }
        self.finish(pixels, captions, ordinals)
    }

    fn stats(&self) -> StreamStats {
        let mut stats = self.stats;
        if let Some(stream) = &self.stream {
            let scanned = stream.stats();
            stats.no_image += scanned.no_image;
            stats.no_caption += scanned.no_caption;
            stats.truncated_shards += scanned.truncated_shards;
        }
        stats
    }
}
