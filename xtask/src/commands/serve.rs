//! `cargo xtask serve`: the model (and a collection's index) behind HTTP, until Ctrl-C.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Result, bail};
use clip::ClipPipeline;
use clip::device::{Backend, Precision};
use clip_collection::Index;
use clip_serve::{BatchOptions, Limits, Server};

#[derive(clap::Args)]
pub struct Args {
    /// Model weights: a checkpoint file, a model name (ViT-B/32 …), URL or hf-hub:ORG/REPO
    /// (default with --index: the weights the collection was embedded with).
    #[arg(long)]
    weights: Option<PathBuf>,
    /// A collection indexed by `index`, for `/search` and the search page.
    #[arg(long)]
    index: Option<PathBuf>,
    /// Address to listen on (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: String,
    /// Most texts or images in one forward pass.
    #[arg(long, default_value_t = 32)]
    max_batch: usize,
    /// Under load, longest a forward pass waits for more requests, in milliseconds (never
    /// longer than the previous pass took; an idle model runs a request at once).
    #[arg(long, default_value_t = 5)]
    max_wait_ms: u64,
    /// Requests waiting for the model before new ones get 503.
    #[arg(long, default_value_t = 1024)]
    max_queue: usize,
    /// Largest request body, in MiB.
    #[arg(long, default_value_t = 32)]
    max_body_mb: usize,
    /// Largest image, in pixels (checked before decoding).
    #[arg(long, default_value_t = 40_000_000)]
    max_pixels: u64,
    /// Most inputs in one embeddings request.
    #[arg(long, default_value_t = 256)]
    max_inputs: usize,
    /// Most labels in one classification.
    #[arg(long, default_value_t = 1000)]
    max_labels: usize,
    /// Cut texts longer than the context unless a request says otherwise (default: refuse).
    #[arg(long)]
    truncate: bool,
    /// Compute backend.
    #[arg(long, value_enum, default_value_t = Backend::Flex)]
    backend: Backend,
    /// Float precision of weights and compute.
    #[arg(long, value_enum, default_value_t = Precision::F32)]
    dtype: Precision,
}

pub fn run(args: Args) -> Result<()> {
    if args.max_batch == 0 || args.max_queue == 0 {
        bail!("--max-batch and --max-queue must be at least 1");
    }
    let index = args.index.as_ref().map(Index::open).transpose()?;
    let weights = match (&args.weights, &index) {
        (Some(w), _) => w.clone(),
        (None, Some(index)) => PathBuf::from(&index.info().weights),
        (None, None) => bail!("give --weights (or --index, to serve its collection's model)"),
    };
    let device = args.backend.device_in(args.dtype)?;
    let pipeline = ClipPipeline::load(&weights, &device)?;
    let mut server = Server::new(pipeline, weights.to_string_lossy())
        .batching(BatchOptions {
            max_batch: args.max_batch,
            max_wait: Duration::from_millis(args.max_wait_ms),
            max_queue: args.max_queue,
        })
        .limits(Limits {
            max_body_bytes: args.max_body_mb << 20,
            max_pixels: args.max_pixels,
            max_inputs: args.max_inputs,
            max_labels: args.max_labels,
            truncate: args.truncate,
            ..Limits::default()
        });
    if let Some(index) = index {
        server = server.index(index)?;
    }
    server.run(&args.addr)?;
    Ok(())
}
