//! `cargo xtask convert-weights`: any supported checkpoint → safetensors Burn loads directly.

use std::path::PathBuf;

use anyhow::Result;
use clip_model::{Checkpoint, SaveDtype};

#[derive(clap::Args)]
pub struct Args {
    /// The checkpoint: OpenAI .pt (TorchScript), torch.save state dict, open_clip or
    /// Hugging Face safetensors; or a model name (ViT-B/32 …), URL or hf-hub:ORG/REPO,
    /// downloaded once into the cache (CLIP_CACHE_DIR).
    #[arg(long)]
    input: PathBuf,
    /// Output safetensors (OpenAI key names, config in the metadata); written atomically.
    #[arg(long)]
    output: PathBuf,
    /// Store tensors as f16 instead of f32.
    #[arg(long, conflicts_with = "keep_dtype")]
    half: bool,
    /// Keep each tensor's dtype as in the input (OpenAI's files mix f16 and f32).
    #[arg(long)]
    keep_dtype: bool,
}

pub fn run(args: Args) -> Result<()> {
    let input = clip_model::hub::resolve(&args.input)?;
    let checkpoint = Checkpoint::open(&input)?;
    let config = checkpoint.config()?;
    println!("format: {}", checkpoint.format);
    println!("architecture: {}", config.name());
    println!("config: {}", serde_json::to_string(&config)?);
    let dtype = match (args.half, args.keep_dtype) {
        (true, _) => SaveDtype::F16,
        (_, true) => SaveDtype::Keep,
        _ => SaveDtype::F32,
    };
    // Loading every tensor into the model checks presence, shape and readability before
    // anything is written. It is held in f16 (half the memory; only validity matters here)
    // and dropped before the output is streamed one tensor at a time.
    let reopened = Checkpoint::open(&input)?;
    drop(reopened.into_model(&burn::tensor::Device::flex(), burn::tensor::DType::F16)?);
    checkpoint.save(&args.output, &config, dtype)?;
    println!(
        "wrote {} tensors to {}",
        checkpoint.tensors.len(),
        args.output.display()
    );
    Ok(())
}
