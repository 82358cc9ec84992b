//! `cargo xtask predict`: one image against candidate labels, as OpenAI's README example.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clip_model::Clip;

use clip::device::{Backend, Precision};

#[derive(clap::Args)]
pub struct Args {
    /// Model weights: a checkpoint file, a model name (ViT-B/32 …), URL or hf-hub:ORG/REPO.
    #[arg(long)]
    weights: PathBuf,
    /// The image to classify.
    #[arg(long)]
    image: PathBuf,
    /// Candidate labels, comma-separated ("a diagram,a dog,a cat").
    #[arg(long)]
    labels: String,
    /// Prompt template; `{}` is replaced by each label.
    #[arg(long, default_value = "{}")]
    template: String,
    /// How many labels to print.
    #[arg(long, default_value_t = 5)]
    top_k: usize,
    /// Compute backend.
    #[arg(long, value_enum, default_value_t = Backend::Flex)]
    backend: Backend,
    /// Float precision of weights and compute (f16/bf16 where the backend has them; int8:
    /// linear layers and convolutions in 8-bit integers, flex only).
    #[arg(long, value_enum, default_value_t = Precision::F32)]
    dtype: Precision,
}

pub fn run(args: Args) -> Result<()> {
    let labels: Vec<String> = args
        .labels
        .split(',')
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    if labels.is_empty() {
        bail!("--labels is empty: give candidate labels separated by commas");
    }
    // Check the template before the slow model load.
    clip_zeroshot::Prompts::new(labels.clone(), vec![args.template.clone()])?;
    let image = clip_vision::preprocess::open(&args.image)?;
    let device = args.backend.device_in(args.dtype)?;
    let model = Clip::load(&args.weights, &device)?;
    let preprocessor = model.preprocessor();
    let pixels = preprocessor.to_tensor(&[preprocessor.pixels(&image)], &device);
    let ranked = clip_zeroshot::label_probabilities(
        &model,
        &model.tokenizer()?,
        pixels,
        &labels,
        &args.template,
    )?;
    for (label, probability) in ranked.iter().take(args.top_k) {
        println!("{label}: {probability:.6}");
    }
    Ok(())
}
