//! `cargo xtask train`: contrastive pretraining from scratch or finetuning from weights.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clip_model::ClipConfig;
use clip_model::data::{
    PairSet, StreamOptions, TableOptions, WebDataset, find_flickr, read_table_with,
};
use clip_model::train::distributed::{self, Group};
use clip_model::train::{Objective, OptimOptions};
use std::time::Duration;

use crate::training;
use clip::device::Backend;
use clip_model::train::{FitSpec, ModelSource};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Dataset {
    /// Flickr8k or Flickr30k under --data-dir in any layout their copies ship in (the
    /// releases, Kaggle's, MindFormers'; train split, dev split for validation).
    Flickr8k,
    /// The same discovery as flickr8k (either set is found).
    Flickr30k,
    /// A table of (image path, caption) given by --data-dir (a file); --val-file optional.
    Csv,
    /// webdataset tar shards: --data-dir 'shards/{00000..00099}.tar', a directory or a list
    /// file (several joined by '::'), streamed; --val-file the same for validation.
    Webdataset,
}

/// How the processes of one run find each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Distributed {
    /// This process alone.
    None,
    /// The ranks of an MPI job: `mpirun -np N … train --distributed mpi` or Slurm's `srun`
    /// (needs a build with `--features mpi`).
    Mpi,
}

#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("model").required(true).args(["arch", "config", "init"])))]
pub struct Args {
    /// The data's layout.
    #[arg(long, value_enum, default_value_t = Dataset::Flickr8k)]
    dataset: Dataset,
    /// Flickr's root directory, the table with --dataset csv, the shards with --dataset
    /// webdataset.
    #[arg(long, visible_alias = "train-data")]
    data_dir: PathBuf,
    /// Validation pairs: a table (--dataset csv) or shards (--dataset webdataset).
    #[arg(long, visible_alias = "val-data")]
    val_file: Option<PathBuf>,
    /// Folder that the table's relative image paths start from (default: the table's).
    #[arg(long)]
    image_root: Option<PathBuf>,
    /// The table's image column (default: found from the header: image, filepath, …).
    #[arg(long)]
    csv_img_key: Option<String>,
    /// The table's caption column (default: found from the header: caption, text, title, …).
    #[arg(long)]
    csv_caption_key: Option<String>,
    /// The table's separator, e.g. ',' or '\t' (default: sniffed from the first line).
    #[arg(long)]
    csv_separator: Option<String>,
    /// Samples per epoch of a webdataset (default: counted from the shards' headers).
    #[arg(long)]
    train_num_samples: Option<u64>,
    /// Samples in the webdataset shuffle buffer (1: the shards' own order).
    #[arg(long, default_value_t = 5000)]
    shuffle_buffer: usize,
    /// Keep decoded images in memory between epochs when the whole set fits in this many
    /// MiB (lists only; shards are always streamed).
    #[arg(long, default_value_t = 4096)]
    cache_images_mb: usize,
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
    /// Train as one rank of a job of several processes (on one host or many): each loads
    /// its share of every --batch-size batch, features are gathered so the loss contrasts the
    /// whole batch, gradients are summed; rank 0 writes --output.
    #[arg(long, value_enum, default_value_t = Distributed::None)]
    distributed: Distributed,
    /// Seconds a rank waits for the others in one exchange before it aborts the job (a rank
    /// died, a host vanished).
    #[arg(long, default_value_t = clip_model::train::distributed::DEFAULT_TIMEOUT.as_secs())]
    collective_timeout: u64,
    /// Recompute memory-bound activations in the backward pass instead of keeping them: less
    /// memory for more time (Burn's gradient checkpointing).
    #[arg(long)]
    grad_checkpointing: bool,
    /// The loss: `contrastive` (CLIP's) or `sigmoid` (SigLIP's, open_clip's `--siglip`; the
    /// model gets a logit bias starting at −10). Default: the model's own — sigmoid for a
    /// model whose logits carry a bias (SigLIP), contrastive otherwise.
    #[arg(long, value_enum)]
    loss: Option<Loss>,
}

/// `--loss`.
#[derive(Clone, Copy, clap::ValueEnum)]
enum Loss {
    Contrastive,
    Sigmoid,
}

impl Loss {
    fn objective(self) -> Objective {
        match self {
            Loss::Contrastive => Objective::Contrastive,
            Loss::Sigmoid => Objective::Sigmoid,
        }
    }
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
    if args.collective_timeout == 0 {
        bail!("--collective-timeout must be at least 1 second");
    }
    let group = match args.distributed {
        Distributed::None => None,
        Distributed::Mpi => Some(distributed::mpi(Duration::from_secs(
            args.collective_timeout,
        ))?),
    };
    let Some(group) = group else {
        return train(args, None);
    };
    if group.ranks() > args.batch_size {
        // Every rank must reach this point; all of them stop here the same way.
        bail!(
            "--batch-size {} is smaller than the {} ranks: each rank needs rows of every batch",
            args.batch_size,
            group.ranks()
        );
    }
    match train(args, Some(group.clone())) {
        Ok(()) => Ok(()),
        Err(error) => {
            // The other ranks may be waiting for this one: end the whole job.
            eprintln!("error: rank {}: {error:#}", group.rank());
            group.abort(1)
        }
    }
}

/// Reads the data and runs the training as this process's part of `group`.
fn train(args: Args, group: Option<Group>) -> Result<()> {
    if let Some(group) = group.as_ref().filter(|g| g.rank() == 0) {
        eprintln!(
            "distributed: {} ranks, {} pairs per step, about {} per rank",
            group.ranks(),
            args.batch_size,
            args.batch_size / group.ranks()
        );
    }
    let source = if let Some(arch) = &args.arch {
        ModelSource::Scratch(ClipConfig::preset(arch)?)
    } else if let Some(file) = &args.config {
        ModelSource::Scratch(read_config(file)?)
    } else {
        ModelSource::Init(args.init.clone().expect("clap requires one model source"))
    };
    let (train, val, found) = read_data(&args)?;
    let options = OptimOptions {
        lr: args.lr,
        weight_decay: args.weight_decay,
        warmup_steps: args.warmup_steps,
        max_grad_norm: (args.max_grad_norm > 0.0).then_some(args.max_grad_norm),
        ..OptimOptions::default()
    };
    let outcome = training::run(
        FitSpec {
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
            cache_bytes: args.cache_images_mb << 20,
            stop: None,
            group: group.clone(),
            grad_checkpointing: args.grad_checkpointing,
            objective: args.loss.map(Loss::objective),
        },
        found,
    )?;
    let leader = group.as_ref().is_none_or(|g| g.rank() == 0);
    if outcome.finished && leader {
        println!(
            "trained {} steps; model: {}",
            outcome.steps,
            args.output.join(clip_model::train::FINAL_MODEL).display()
        );
    }
    Ok(())
}

/// The training and validation sets, and what was found on disk (for the log).
fn read_data(args: &Args) -> Result<(PairSet, Option<PairSet>, Option<String>)> {
    Ok(match args.dataset {
        Dataset::Flickr8k | Dataset::Flickr30k => {
            let set = find_flickr(&args.data_dir, args.seed)?;
            let found = format!(
                "data: {}: {} training images{}",
                set.layout,
                set.train.len(),
                set.val
                    .as_ref()
                    .map(|v| format!(", {} validation", v.len()))
                    .unwrap_or_default()
            );
            (
                PairSet::Pairs(set.train),
                set.val.map(PairSet::Pairs),
                Some(found),
            )
        }
        Dataset::Csv => {
            let options = TableOptions {
                image_root: args.image_root.clone(),
                image_key: args.csv_img_key.clone(),
                caption_key: args.csv_caption_key.clone(),
                separator: args.csv_separator.as_deref().map(separator).transpose()?,
            };
            let train = read_table_with(&args.data_dir, &options)?;
            let val = match &args.val_file {
                Some(file) => Some(PairSet::Pairs(read_table_with(file, &options)?)),
                None => None,
            };
            (PairSet::Pairs(train), val, None)
        }
        Dataset::Webdataset => {
            let options = StreamOptions {
                shuffle_buffer: args.shuffle_buffer.max(1),
                num_samples: args.train_num_samples,
                keep_last: false,
            };
            let shards = |path: &Path| -> Result<WebDataset> {
                let spec = path.to_str().context("the shard pattern is not UTF-8")?;
                Ok(WebDataset::open(spec)?)
            };
            let val = match &args.val_file {
                Some(file) => Some(PairSet::Shards(shards(file)?, StreamOptions::default())),
                None => None,
            };
            (PairSet::Shards(shards(&args.data_dir)?, options), val, None)
        }
    })
}

/// `--csv-separator`: one character, or `\t` / `tab` for a tab.
fn separator(text: &str) -> Result<u8> {
    match text {
        "\\t" | "tab" | "\t" => Ok(b'\t'),
        _ if text.len() == 1 && text.is_ascii() => Ok(text.as_bytes()[0]),
        _ => bail!("--csv-separator must be one character (or '\\t'), not '{text}'"),
    }
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
