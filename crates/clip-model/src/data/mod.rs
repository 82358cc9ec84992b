//! Image–caption data for training: Flickr8k's layout, a CSV/TSV of (image, caption), a
//! synthetic set in Flickr8k's layout, and the batches an epoch draws from them.

mod error;
mod flickr8k;
mod loader;
mod sampling;
pub mod synthetic;
mod table;

pub use error::DataError;
pub use flickr8k::{Split, read_flickr8k};
pub use loader::{Batch, BatchLoader};
pub use sampling::{caption_choice, epoch_order};
pub use table::{read_table, read_two_columns};

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
