//! OpenAI's CLIP on Burn, exact to the reference and fast on the CPU: load a model by name
//! or file, embed images and texts, classify zero-shot, evaluate, train.
//!
//! [`ClipPipeline`] is the short way in; the crates it stands on are re-exported for
//! everything else ([`model`], [`vision`], [`text`], [`tokenizer`], [`zeroshot`], [`nn`]).
//!
//! Features, all on by default: `cpu-fast` (the CPU fast paths), `image` (image files),
//! `download` (models by name), `data` (datasets), `train` (`model::train::fit`),
//! `collection` (photo collections: embed, index, search). With
//! `default-features = false` the crate loads checkpoint files and embeds texts and
//! preprocessed pixels, without an HTTP client, image codecs, CSV or random numbers.
//! Backends beyond the default CPU one: `wgpu`, `cuda`, `ndarray`.
//!
//! ```no_run
//! use clip::prelude::*;
//!
//! # fn main() -> Result<(), clip::Error> {
//! let device = Backend::Flex.device()?;
//! let clip = ClipPipeline::load("ViT-B/32", &device)?; // downloaded once, verified
//! let labels = ["a diagram", "a dog", "a cat"];
//! for (label, p) in clip.classify("cat.jpg", &labels, "a photo of {}.")? {
//!     println!("{label}: {p:.3}");
//! }
//! let images = clip.embed_images(&["cat.jpg", "dog.jpg"])?; // [2, 512]
//! let texts = clip.embed_texts(&["a photo of a cat"])?;
//! println!("{:?}", images.similarity(&texts)); // cosine, [2][1]
//! # Ok(()) }
//! ```

pub mod device;
mod embeddings;
mod error;
mod pipeline;
pub mod prelude;

/// Photo collections: embed in shards, index, search (the `collection` feature).
#[cfg(feature = "collection")]
pub use clip_collection as collection;
pub use clip_model as model;
/// NumPy array files (`.npy`, `.npz`), from `clip-model`.
pub use clip_model::npy;
pub use clip_nn as nn;
pub use clip_text as text;
pub use clip_tokenizer as tokenizer;
pub use clip_vision as vision;
pub use clip_zeroshot as zeroshot;

pub use embeddings::Embeddings;
pub use error::Error;
pub use pipeline::ClipPipeline;
