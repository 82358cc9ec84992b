//! Zero-shot classification with CLIP, as OpenAI's notebooks and README do it.
//!
//! - [`Prompts`]: class names and templates as data files (OpenAI's ImageNet 1000 classes
//!   with its 80 templates and the 7-template subset, CIFAR-10/100 with their 18), or your own.
//! - [`zeroshot_classifier`]: per class, encode every template, L2-normalise, average,
//!   re-normalise — OpenAI's prompt ensembling — giving weights `[E, C]`.
//! - [`label_probabilities`]: one image against candidate labels with one template,
//!   probabilities sorted best first (the README example).
//! - [`zeroshot_logits`], [`TopK`], [`top_k_accuracy`]: images against classifier weights,
//!   and the notebook's top-1/top-5 accuracy.
//! - With the `data` feature (on by default): labelled image sets ([`LabelledImages`]:
//!   folders, tables, CIFAR) and the [`evaluate`] loop over them.

mod cache;
mod cifar;
mod classifier;
mod classify;
mod error;
#[cfg(feature = "data")]
mod evaluate;
#[cfg(feature = "data")]
mod images;
mod probe;
mod prompts;
#[cfg(feature = "data")]
mod table;

pub use cache::{cached_classifier, classifier_key, weights_identity};
pub use cifar::{Cifar, CifarError, CifarSet, read_cifar};
pub use classifier::zeroshot_classifier;
pub use classify::{TopK, label_probabilities, top_k_accuracy, zeroshot_logits};
/// Retrieval Recall@K lives with the model (training validates with it); re-exported here
/// beside the other evaluations.
pub use clip_model::retrieval::{Recall, retrieval_recall};
pub use error::ZeroShotError;
#[cfg(feature = "data")]
pub use evaluate::{evaluate, image_features};
#[cfg(feature = "data")]
pub use images::{IMAGE_EXTENSIONS, LabelledImages, image_files};
pub use probe::{
    Features, FitReport, GRADIENT_TOLERANCE, LinearProbe, ProbeFit, SweepPoint, default_cs,
    fit_probe, sweep_c,
};
pub use prompts::Prompts;
#[cfg(feature = "data")]
pub use table::read_labelled_table;
