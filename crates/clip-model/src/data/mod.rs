//! Image–caption data for training, as people have it: Flickr8k and Flickr30k in the
//! layouts their copies ship in (found by themselves), a table of (image, caption), webdataset
//! tar shards streamed from disk, a synthetic set; and the batches an epoch draws from them,
//! prepared ahead of the model on a worker thread.

mod error;
mod flickr;
mod inputs;
mod loader;
mod prefetch;
mod sampling;
mod slice;
pub mod synthetic;
mod table;
pub mod webdataset;

pub use error::DataError;
pub use flickr::{FlickrSet, HELD_OUT_SHARE, Split, find_flickr, read_flickr8k, seeded_split};
pub use inputs::ModelInputs;
pub use loader::{Batch, BatchLoader, BatchSource};
pub use prefetch::{DataPosition, Feed, Prefetch};
pub use sampling::{caption_choice, epoch_order};
pub use slice::RankSlice;
pub use table::{
    CAPTION_COLUMNS, IMAGE_COLUMNS, TableOptions, read_table, read_table_with, read_two_columns,
    sniff_separator,
};
pub use webdataset::{ShardLoader, StreamOptions, StreamStats, WebDataset};

use std::path::PathBuf;

/// Images and their captions (one or more each), in a fixed order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImageCaptions {
    /// Image files.
    pub images: Vec<PathBuf>,
    /// `captions[i]`: the captions of `images[i]`, never empty.
    pub captions: Vec<Vec<String>>,
}

impl ImageCaptions {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.images.len()
    }

    /// Whether there are no images.
    pub fn is_empty(&self) -> bool {
        self.images.is_empty()
    }

    /// Adds a caption to `image`, appending the image if it is new (`index` maps paths to
    /// positions).
    fn push(
        &mut self,
        index: &mut std::collections::HashMap<PathBuf, usize>,
        image: PathBuf,
        caption: String,
    ) {
        let i = *index.entry(image.clone()).or_insert_with(|| {
            self.images.push(image);
            self.captions.push(Vec::new());
            self.images.len() - 1
        });
        self.captions[i].push(caption);
    }
}

/// A training or validation set, held as a list of files or streamed from shards.
#[derive(Debug, Clone)]
pub enum PairSet {
    /// Files and captions listed in memory (Flickr, tables, the synthetic set).
    Pairs(ImageCaptions),
    /// webdataset shards, streamed.
    Shards(WebDataset, StreamOptions),
}

impl PairSet {
    /// The batches of this set for a model reading `inputs`, `batch_size` pairs each, order
    /// fixed by `seed`, of which this process loads `slice`; a list keeps decoded images
    /// when they all fit in `cache_bytes`.
    pub fn loader(
        self,
        inputs: &ModelInputs,
        batch_size: usize,
        seed: u64,
        cache_bytes: usize,
        slice: RankSlice,
    ) -> Result<Box<dyn BatchSource>, DataError> {
        let (resolution, context_length) =
            (inputs.preprocessor.resolution(), inputs.context_length);
        Ok(match self {
            PairSet::Pairs(data) => Box::new(
                BatchLoader::new(
                    data,
                    resolution,
                    context_length,
                    batch_size,
                    seed,
                    cache_bytes,
                )
                .with_inputs(inputs)
                .sliced(slice),
            ),
            PairSet::Shards(data, options) => Box::new(
                ShardLoader::new(data, resolution, context_length, batch_size, seed, options)?
                    .with_inputs(inputs)
                    .sliced(slice),
            ),
        })
    }
}
