//! `cargo xtask train`: contrastive pretraining from scratch or finetuning from weights.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clip_model::ClipConfig;
use clip_model::data::{ImageCaptions, Split, read_flickr8k, read_table};
use clip_model::train::OptimOptions;

use crate::backend::Backend;
use crate::training::{self, ModelSource, RunSpec};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Dataset {
    /// Flickr8k's layout under --data-dir (train split; dev split for validation).
    Flickr8k,
    /// A CSV/TSV of (image path, caption) given by --data-dir (a file); --val-file optional.
    Csv,
}

#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("model").required(true).args(["arch", "config", "init"])))]
pub struct Args {
    /// The data's layout.
    #[arg(long, value_enum, default_value_t = Dataset::Flickr8k)]
    dataset: Dataset,
    /// Flickr8k's root directory, or the CSV/TSV file with --dataset csv.
    #[arg(long)]
    data_dir: PathBuf,
    /// A CSV/TSV of validation pairs (with --dataset csv).
    #[arg(long)]
    val_file: Option<PathBuf>,
    /// Pretrain one of the published architectures from scratch (RN50 … ViT-L/14@336px).
    #[arg(long)]
    arch: Option<String>,
    /// Pretrain from scratch a custom architecture: a JSON of build_model's fields.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Finetune these weights (a checkpoint file or model name); training is in f32.
    #[arg(long)]
    init: Option<PathBuf>,
    /// Run directory: checkpoint/, metrics.csv, steps.csv, loss.png, model.safetensors.
    #[arg(long)]
    output: PathBuf,
    #[arg(long, default_value_t = 10)]
    epochs: usize,
    /// Pairs contrasted per step.
    #[arg(long, default_value_t = 128)]
    batch_size: usize,
    /// Peak learning rate (after warmup; cosine decay to 0 at the end).
    #[arg(long, default_value_t = 5e-4)]
    lr: f64,
    #[arg(long, default_value_t = 0.2)]
    weight_decay: f64,
    #[arg(long, default_value_t = 100)]
    warmup_steps: usize,
    /// Micro-batches per step: activations of one at a time, loss over the whole batch.
    #[arg(long, default_value_t = 1)]
    grad_accum: usize,
    /// Clip the global gradient norm (0: no clipping).
    #[arg(long, default_value_t = 1.0)]
    max_grad_norm: f64,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Compute backend.
    #[arg(long, value_enum, default_value_t = Backend::Flex)]
    backend: Backend,
    /// Data parallelism: spread each batch over this many devices of --backend (GPUs by
    /// index; on the CPU backends, worker threads on the one device), features and gradients
    /// gathered so the loss still contrasts the whole batch.
    #[arg(long, default_value_t = 1)]
    devices: usize,
    /// Continue the run in --output from its last checkpoint.
    #[arg(long)]
    resume: bool,
    /// Checkpoint every this many steps (and at each epoch's end).
    #[arg(long, default_value_t = 200)]
    checkpoint_every: usize,
    /// Stop after this many steps, checkpointed (continue later with --resume).
    #[arg(long)]
    stop_after: Option<usize>,
}

pub fn run(args: Args) -> Result<()> {
    if args.batch_size < 2 {
        bail!("--batch-size must be at least 2: the loss contrasts the pairs of a batch");
    }
    if args.epochs == 0 {
        bail!("--epochs must be at least 1");
    }
    if args.grad_accum == 0 || args.grad_accum > args.batch_size {
        bail!("--grad-accum must be between 1 and --batch-size");
    }
    if args.devices == 0 || args.devices > args.batch_size {
        bail!("--devices must be between 1 and --batch-size");
    }
    if !(args.lr.is_finite() && args.lr > 0.0) {
        bail!("--lr must be a positive number");
    }
    let source = if let Some(arch) = &args.arch {
        ModelSource::Scratch(ClipConfig::preset(arch)?)
    } else if let Some(file) = &args.config {
        ModelSource::Scratch(read_config(file)?)
    } else {
        ModelSource::Init(args.init.clone().expect("clap requires one model source"))
    };
    let (train, val) = read_data(&args)?;
    let options = OptimOptions {
        lr: args.lr,
        weight_decay: args.weight_decay,
        warmup_steps: args.warmup_steps,
        max_grad_norm: (args.max_grad_norm > 0.0).then_some(args.max_grad_norm),
        ..OptimOptions::default()
    };
    let outcome = training::run(RunSpec {
        train,
        val,
        source,
        output: args.output.clone(),
        epochs: args.epochs,
        batch_size: args.batch_size,
        grad_accum: args.grad_accum,
        options,
        seed: args.seed,
        device: args.backend.device()?,
        devices: args.backend.devices(args.devices)?,
        resume: args.resume,
        checkpoint_every: args.checkpoint_every,
        stop_after: args.stop_after,
        cache_bytes: 4 << 30,
        progress: true,
    })?;
    if outcome.finished {
        println!(
            "trained {} steps; model: {}",
            outcome.steps,
            args.output.join(training::FINAL_MODEL).display()
        );
    }
    Ok(())
}

fn read_data(args: &Args) -> Result<(ImageCaptions, Option<ImageCaptions>)> {
    Ok(match args.dataset {
        Dataset::Flickr8k => {
            if !args.data_dir.is_dir() {
                bail!("{} is not a directory", args.data_dir.display());
            }
            let train = read_flickr8k(&args.data_dir, Split::Train)?;
            let dev_list = args
                .data_dir
                .join("Flickr8k_text")
                .join("Flickr8k.devImages.txt");
            let val = if dev_list.exists() {
                Some(read_flickr8k(&args.data_dir, Split::Dev)?)
            } else {
                None
            };
            (train, val)
        }
        Dataset::Csv => {
            let train = read_table(&args.data_dir)?;
            let val = args.val_file.as_deref().map(read_table).transpose()?;
            (train, val)
        }
    })
}

/// A JSON of `build_model`'s fields (see `ClipConfig`), checked before use.
pub fn read_config(file: &Path) -> Result<ClipConfig> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let config: ClipConfig = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a CLIP configuration", file.display()))?;
    config
        .validate()
        .with_context(|| format!("{}", file.display()))?;
    Ok(config)
}
