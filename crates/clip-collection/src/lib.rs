//! A photo collection searched with CLIP, as clip-retrieval does it (embed → index →
//! query), on files, without a server.
//!
//! - [`Inputs`]: what a user points at (a folder, a list file, webdataset shards), listed
//!   lazily as [`Item`]s with stable ids.
//! - [`embed_collection`]: features written in shards ([`Collection`]'s layout), decoding
//!   ahead of the model, resumable, incremental, split over processes by [`Part`].
//! - [`build_index`] and [`Index`]: the rows normalised into a memory-mapped exact matrix or
//!   a usearch HNSW graph ([`IndexKind`]), and top-k search by cosine similarity.
//!
//! ```no_run
//! use clip_collection::{Collection, EmbedOptions, Index, Inputs, build_index, embed_collection};
//! use clip_model::Clip;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let device = burn::tensor::Device::default();
//! let model = Clip::load("ViT-B/32", &device)?;
//! let photos = Collection::at("photos.clip");
//! let inputs = Inputs::open(&["Pictures/".into()])?;
//! embed_collection(&model, &inputs, &photos, &EmbedOptions::default(), |_| {})?;
//! build_index(&photos, clip_collection::IndexKind::Exact)?;
//! let index = Index::open("photos.clip")?;
//! let query = vec![0.0; index.info().width]; // a text's features, from `Clip::encode_text`
//! for hit in index.search(&query, 5)? {
//!     println!("{:.3} {}", hit.score, hit.path);
//! }
//! # Ok(()) }
//! ```

mod embed;
mod error;
mod fingerprint;
mod index;
mod inputs;
pub mod layout;
mod part;

pub use embed::{EmbedEvent, EmbedOptions, EmbedSummary, embed_collection};
pub use error::CollectionError;
pub use fingerprint::fingerprint;
pub use index::{Hit, INDEX_DIR, Index, IndexInfo, IndexKind, build_index};
pub use inputs::{IMAGE_EXTENSIONS, Inputs, Item, Source};
pub use layout::{Collection, Manifest, Row, StoreDtype};
pub use part::Part;
