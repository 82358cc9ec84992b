//! CLIP: both encoders, the projections and the logit scale (OpenAI's `clip/model.py`),
//! the nine published configurations, and loading of every checkpoint format users hold.
//!
//! Features (all on by default): `download` (models by name or URL), `data` (image–caption
//! sets and their loader), `train` (`train::fit` and the contrastive loss). Inference from a
//! checkpoint file needs none of them (`default-features = false`).
//!
//! ```no_run
//! use burn::tensor::Device;
//! use clip_model::Clip;
//!
//! # fn main() -> Result<(), clip_model::LoadError> {
//! let device = Device::default();
//! let model = Clip::load("ViT-B-32.pt", &device)?;
//! println!("loaded {}", model.config.name());
//! # Ok(()) }
//! ```

pub mod checkpoint;
mod clip;
mod companion;
mod config;
#[cfg(feature = "data")]
pub mod data;
mod error;
pub mod fs;
pub mod hub;
pub mod npy;
pub mod retrieval;
pub mod tokenizer;
#[cfg(feature = "train")]
pub mod train;

pub use checkpoint::{Checkpoint, Format, SaveDtype};
pub use clip::{Clip, l2_normalize, to_f32_vec};
pub use config::{
    ClipConfig, ConfigError, ImageTransform, TextPoolName, VisionLayers, VisionPool,
    available_models,
};
pub use error::{LoadError, SaveError};
