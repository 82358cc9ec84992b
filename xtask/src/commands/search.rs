//! `cargo xtask search`: the images of an indexed collection most like a text or an image.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clip::ClipPipeline;
use clip::device::{Backend, Precision};
use clip_collection::{Index, fingerprint};

#[derive(clap::Args)]
pub struct Args {
    /// The collection directory, indexed by `index`.
    #[arg(long)]
    index: PathBuf,
    /// Search by this text.
    #[arg(long, conflicts_with = "image")]
    text: Option<String>,
    /// Search by this image.
    #[arg(long)]
    image: Option<PathBuf>,
    /// How many results.
    #[arg(long, default_value_t = 20)]
    k: usize,
    /// Prompt template for --text; `{}` is replaced by the text ("a photo of {}.").
    #[arg(long, default_value = "{}")]
    template: String,
    /// One JSON object per result (`rank`, `score`, `path`) instead of a table.
    #[arg(long)]
    json: bool,
    /// Model weights (default: those the collection was embedded with).
    #[arg(long)]
    weights: Option<PathBuf>,
    /// Compute backend.
    #[arg(long, value_enum, default_value_t = Backend::Flex)]
    backend: Backend,
    /// Float precision of weights and compute.
    #[arg(long, value_enum, default_value_t = Precision::F32)]
    dtype: Precision,
    /// Cut a text longer than the context instead of failing.
    #[arg(long)]
    truncate: bool,
}

pub fn run(args: Args) -> Result<()> {
    if args.text.is_none() && args.image.is_none() {
        bail!("nothing to search for: give --text or --image");
    }
    if args.template.matches("{}").count() != 1 {
        bail!(
            "--template {:?} must contain exactly one {{}}",
            args.template
        );
    }
    if let Some(image) = &args.image {
        // Before the slow model load.
        clip_vision::preprocess::open(image)?;
    }
    let index = Index::open(&args.index)?;
    let info = index.info();
    let weights = args
        .weights
        .clone()
        .unwrap_or_else(|| PathBuf::from(&info.weights));
    let device = args.backend.device_in(args.dtype)?;
    let clip = ClipPipeline::load(&weights, &device)?.truncate(args.truncate);
    if fingerprint(clip.model()) != info.fingerprint {
        bail!(
            "{}: these weights are not the ones the collection was embedded with ({})",
            weights.display(),
            info.weights
        );
    }
    let query = match (&args.text, &args.image) {
        (Some(text), _) => clip.embed_texts(&[args.template.replace("{}", text)])?,
        (None, Some(image)) => clip.embed_images(&[image])?,
        (None, None) => unreachable!("checked above"),
    };
    let hits = index.search(query.row(0), args.k)?;
    for (rank, hit) in hits.iter().enumerate() {
        if args.json {
            println!(
                "{}",
                serde_json::json!({"rank": rank + 1, "score": hit.score, "path": hit.path})
            );
        } else {
            println!("{:>3}  {:.4}  {}", rank + 1, hit.score, hit.path);
        }
    }
    Ok(())
}
