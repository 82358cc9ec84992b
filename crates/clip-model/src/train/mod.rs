//! Contrastive pretraining and finetuning: the paper's loss, OpenAI's initialisation,
//! AdamW with warmup + cosine, gradient accumulation over the full batch, checkpoints.
//!
//! [`fit`] is the whole run (what `cargo xtask train` calls): epochs over a [`PairSet`],
//! validation recall, `metrics.csv`/`steps.csv`, checkpoints, resume, the final model, with a
//! callback for progress. [`Trainer`] is one step at a time, for a loop of your own:
//!
//! [`PairSet`]: crate::data::PairSet
//!
//! ```no_run
//! use burn::tensor::Device;
//! use clip_model::ClipConfig;
//! use clip_model::train::{OptimOptions, Trainer, pretraining_init};
//! # fn batch() -> (burn::tensor::Tensor<4>, clip_tokenizer::TokenBatch) { unimplemented!() }
//!
//! let device = Device::flex().autodiff();
//! let config = ClipConfig::preset("ViT-B/32").unwrap();
//! let model = pretraining_init(config.init(&device), 42);
//! let options = OptimOptions { lr: 5e-4, warmup_steps: 100, total_steps: 1000, ..Default::default() };
//! let mut trainer = Trainer::new(model, options);
//! let (pixels, tokens) = batch();
//! let stats = trainer.step(pixels, &tokens, 1);
//! println!("loss {:.3}", stats.loss);
//! ```

pub mod distributed;
mod fit;
mod fused_adamw;
mod history;
mod init;
mod loss;
mod optimizer;
mod state;
mod trainer;
mod validation;

pub use fit::{
    CHECKPOINT, FINAL_MODEL, FitError, FitEvent, FitOutcome, FitSpec, ModelSource, Pace, fit,
};
pub use history::{EpochRow, History};
pub use init::pretraining_init;
pub use loss::{ContrastiveOutput, Objective, contrastive_loss, in_batch_accuracy, sigmoid_loss};
pub use optimizer::{OptimOptions, clip_grad_norm, no_decay_params};
pub use state::{CheckpointError, RunState};
pub use trainer::{MAX_LOGIT_SCALE, StepStats, Trainer};

/// The checkpoint-style path of a parameter from the module names a visitor entered
/// (`visual.Vit.proj` → `visual.proj`): enum variants (CamelCase) are not part of it.
pub fn module_path(segments: &[String]) -> String {
    segments
        .iter()
        .filter(|s| !s.starts_with(|c: char| c.is_ascii_uppercase()))
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(".")
}
