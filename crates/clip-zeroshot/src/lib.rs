//! Zero-shot classification with CLIP, as OpenAI's notebooks and README do it.
//!
//! - [`Prompts`]: class names and templates as data files (OpenAI's ImageNet 1000 classes
//!   with its 80 templates and the 7-template subset, CIFAR-10/100 with their 18), or your own.
//! - [`zeroshot_classifier`]: per class, encode every template, L2-normalise, average,
//!   re-normalise — OpenAI's prompt ensembling — giving weights `[E, C]`.
//! - [`classify`]: one image against candidate labels with one template, probabilities
//!   sorted best first (the README example).

mod classifier;
mod classify;
mod error;
mod prompts;

pub use classifier::zeroshot_classifier;
pub use classify::{classify, predict_once};
pub use error::ZeroShotError;
pub use prompts::Prompts;
