//! `cargo xtask make-shards`: the synthetic coloured-shapes set written as webdataset
//! shards (img2dataset's layout), to try streamed training at any size without a download.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Result, bail};
use clip_model::data::synthetic::write_shards;

#[derive(clap::Args)]
pub struct Args {
    /// Directory to write `00000.tar`, `00001.tar`, … into.
    #[arg(long)]
    output: PathBuf,
    /// Image–caption pairs in all.
    #[arg(long, default_value_t = 10_000)]
    pairs: usize,
    /// Pairs per shard.
    #[arg(long, default_value_t = 1000)]
    per_shard: usize,
    /// Side of the square JPEG images in pixels.
    #[arg(long, default_value_t = 64)]
    size: u32,
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

pub fn run(args: Args) -> Result<()> {
    if args.pairs == 0 || args.per_shard == 0 || args.size < 8 {
        bail!("--pairs and --per-shard must be positive and --size at least 8");
    }
    let started = Instant::now();
    let shards = write_shards(
        &args.output,
        args.pairs,
        args.per_shard,
        args.size,
        args.seed,
    )?;
    println!(
        "wrote {} pairs in {} shards to {} in {:.1} s",
        args.pairs,
        shards.len(),
        args.output.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
