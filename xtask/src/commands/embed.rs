//! `cargo xtask embed`: image and text features as `encode_image` / `encode_text` return them,
//! into one `.npz`, or a whole collection into a directory of shards (`--output DIR/`).

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clip_model::Clip;
use ndarray::{Array2, Array4};

use crate::commands::preprocess::skipped_list;
use crate::images::{preprocess_chunks, report_skipped};
use crate::io::{NpzWriter, progress, read_lines, tokenize_lines};
use clip::device::{Backend, Precision};

#[derive(clap::Args)]
pub struct Args {
    /// Model weights: any checkpoint `convert-weights` reads or its output, or a model name
    /// (ViT-B/32 …), URL or hf-hub:ORG/REPO, downloaded once into the cache (CLIP_CACHE_DIR).
    #[arg(long)]
    weights: PathBuf,
    /// Image files to preprocess and embed. With a directory `--output`: also folders
    /// (walked recursively), list files (.txt/.lst, one path per line) and webdataset shards
    /// (`shards/{00000..00009}.tar`).
    #[arg(long, num_args = 1..)]
    images: Vec<PathBuf>,
    /// Preprocessed pixels, f32 .npy [N, 3, R, R].
    #[arg(long)]
    pixels: Option<PathBuf>,
    /// Texts, one per line (UTF-8).
    #[arg(long)]
    texts: Option<PathBuf>,
    /// Output .npz with `image_features` [N, E] and `text_features` [M, E] (f32); or, when it
    /// ends with `/` or is an existing directory, a collection: features in shards
    /// (`img_emb/00000.npy`), a metadata table per shard, a manifest (see docs/search.md).
    #[arg(long)]
    output: PathBuf,
    /// Compute backend.
    #[arg(long, value_enum, default_value_t = Backend::Flex)]
    backend: Backend,
    /// Float precision of weights and compute (f16/bf16 where the backend has them; int8:
    /// linear layers and convolutions in 8-bit integers, flex only).
    #[arg(long, value_enum, default_value_t = Precision::F32)]
    dtype: Precision,
    /// Rows per forward pass.
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// Cut texts longer than the context instead of failing.
    #[arg(long)]
    truncate: bool,
    /// Skip images that do not decode (NaN feature rows, listed in OUTPUT.skipped.tsv)
    /// instead of failing.
    #[arg(long)]
    skip_bad: bool,
    /// Collection output: embed only part I of N (0-based), for N processes on N machines;
    /// each item's part is a hash of its path, the same everywhere.
    #[arg(long, value_name = "I/N")]
    shard: Option<String>,
    /// Collection output: add the new images of a collection whose last run finished.
    #[arg(long)]
    incremental: bool,
    /// Collection output: rows per shard file (what an interrupted run can lose).
    #[arg(long, default_value_t = 10_000)]
    shard_size: usize,
    /// Collection output: how features are stored.
    #[arg(long, value_enum, default_value_t = FeatureDtype::F32)]
    feature_dtype: FeatureDtype,
}

/// How a collection's features are stored.
#[derive(Clone, Copy, clap::ValueEnum)]
enum FeatureDtype {
    F32,
    F16,
}

/// Whether `--output` names a collection directory rather than an `.npz` file.
fn is_collection(output: &std::path::Path) -> bool {
    let text = output.as_os_str().to_string_lossy();
    output.is_dir() || text.ends_with('/') || text.ends_with(std::path::MAIN_SEPARATOR)
}

pub fn run(args: Args) -> Result<()> {
    if is_collection(&args.output) {
        return run_collection(args);
    }
    if args.shard.is_some() || args.incremental {
        bail!(
            "--shard and --incremental are for a collection: give a directory as --output (ending in /)"
        );
    }
    if args.images.is_empty() && args.pixels.is_none() && args.texts.is_none() {
        bail!("nothing to embed: give --images, --pixels and/or --texts");
    }
    if !args.images.is_empty() && args.pixels.is_some() {
        bail!("give either --images or --pixels, not both");
    }
    if args.batch_size == 0 {
        bail!("--batch-size must be at least 1");
    }
    if !args.skip_bad
        && let Some(missing) = args.images.iter().find(|p| !p.is_file())
    {
        bail!("{}: no such image file", missing.display());
    }
    let device = args.backend.device_in(args.dtype)?;
    // Read every input before the (slow) model load, so bad input fails fast.
    let pixels = args.pixels.as_ref().map(read_pixels).transpose()?;
    let texts = args.texts.as_ref().map(|p| read_lines(p)).transpose()?;

    let model = Clip::load(&args.weights, &device)?;
    let embed_dim = model.config.embed_dim;
    let mut npz = NpzWriter::default();

    let mut skipped = Vec::new();
    let image_features = if let Some(pixels) = pixels {
        let [n, c, h, w] = <[usize; 4]>::try_from(pixels.shape()).expect("4-D");
        let r = model.image_resolution();
        if c != 3 || h != r || w != r {
            bail!(
                "{}: pixels have shape [{n}, {c}, {h}, {w}], the model needs [N, 3, {r}, {r}]",
                args.pixels.as_ref().unwrap().display()
            );
        }
        let flat = pixels
            .as_standard_layout()
            .into_owned()
            .into_raw_vec_and_offset()
            .0;
        let bar = progress(n as u64, "images");
        let out = model.image_features(&flat, args.batch_size, |k| bar.inc(k as u64));
        bar.finish_and_clear();
        Array2::from_shape_vec((n, embed_dim), out)?
    } else if !args.images.is_empty() {
        let preprocessor = model.preprocessor();
        let mut out = Vec::with_capacity(args.images.len() * embed_dim);
        skipped = preprocess_chunks(&args.images, preprocessor, args.skip_bad, |rows| {
            // Skipped images (NaN rows) get NaN features without a forward pass.
            for group in rows.chunk_by(|a, b| a[0].is_nan() == b[0].is_nan()) {
                if group[0][0].is_nan() {
                    out.extend(std::iter::repeat_n(f32::NAN, group.len() * embed_dim));
                } else {
                    out.extend(model.image_features(&group.concat(), args.batch_size, |_| {}));
                }
            }
            Ok(())
        })?;
        Array2::from_shape_vec((args.images.len(), embed_dim), out)?
    } else {
        Array2::zeros((0, embed_dim))
    };
    npz.add("image_features", &image_features)?;

    let text_features = match texts {
        Some(lines) => {
            let texts_path = args.texts.as_ref().expect("texts were read from a path");
            let batch = tokenize_lines(
                &model.tokenizer()?,
                &lines,
                texts_path,
                model.config.context_length,
                args.truncate,
            )?;
            let n = batch.len();
            let bar = progress(n as u64, "texts");
            let out = model.text_features(&batch, args.batch_size, |k| bar.inc(k as u64));
            bar.finish_and_clear();
            Array2::from_shape_vec((n, embed_dim), out)?
        }
        None => Array2::zeros((0, embed_dim)),
    };
    npz.add("text_features", &text_features)?;
    npz.write(&args.output)?;
    report_skipped(&skipped, &skipped_list(&args.output))?;
    eprintln!(
        "wrote {} image and {} text features to {}",
        image_features.nrows(),
        text_features.nrows(),
        args.output.display()
    );
    Ok(())
}

fn read_pixels(path: &PathBuf) -> Result<Array4<f32>> {
    ndarray_npy::read_npy(path)
        .with_context(|| format!("{}: not an f32 .npy of shape [N, 3, R, R]", path.display()))
}

/// `--output DIR/`: the images into a collection directory, streamed and resumable.
fn run_collection(args: Args) -> Result<()> {
    use clip_collection::{Collection, EmbedEvent, EmbedOptions, Part, StoreDtype};
    if args.pixels.is_some() || args.texts.is_some() {
        bail!(
            "a collection holds images: give --images (folders, lists, shards), not --pixels or --texts"
        );
    }
    if args.images.is_empty() {
        bail!("nothing to embed: give --images DIR|LIST.txt|SHARDS");
    }
    if args.batch_size == 0 || args.shard_size == 0 {
        bail!("--batch-size and --shard-size must be at least 1");
    }
    let part = match &args.shard {
        Some(spec) => spec.parse::<Part>()?,
        None => Part::WHOLE,
    };
    let inputs = clip_collection::Inputs::open(&args.images)?;
    if inputs.iter().next().is_none() {
        bail!("no images in {:?}", args.images);
    }
    let device = args.backend.device_in(args.dtype)?;
    let model = Clip::load(&args.weights, &device)?;
    // A file by its absolute path, so `search` finds it from any directory; a name as given.
    let weights = match args.weights.exists() {
        true => std::path::absolute(&args.weights)?,
        false => args.weights.clone(),
    };
    let options = EmbedOptions {
        weights: weights.display().to_string(),
        part,
        batch_size: args.batch_size,
        shard_rows: args.shard_size,
        dtype: match args.feature_dtype {
            FeatureDtype::F32 => StoreDtype::F32,
            FeatureDtype::F16 => StoreDtype::F16,
        },
        incremental: args.incremental,
    };
    let collection = Collection::at(&args.output);
    let bar = indicatif::ProgressBar::hidden();
    let summary =
        clip_collection::embed_collection(&model, &inputs, &collection, &options, |event| {
            match event {
                EmbedEvent::Plan { inputs, done, todo } => {
                    if done > 0 {
                        eprintln!("{done} of {inputs} images already embedded; {todo} to go");
                    }
                    bar.set_length(todo as u64);
                    bar.set_style(
                    indicatif::ProgressStyle::with_template(
                        "{bar:40} {pos}/{len} images {per_sec} [{elapsed_precise}<{eta_precise}]",
                    )
                    .expect("valid template"),
                );
                    bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
                }
                EmbedEvent::Embedded(n) => bar.inc(n as u64),
                EmbedEvent::ShardWritten(_) => {}
            }
        })?;
    bar.finish_and_clear();
    let rate = summary.embedded as f64 / summary.seconds.max(1e-9);
    eprintln!(
        "embedded {} images ({} unreadable, {} already there) in {:.1} s, {rate:.1} images/s, into {}",
        summary.embedded,
        summary.errors,
        summary.already,
        summary.seconds,
        args.output.display()
    );
    println!(
        "{}",
        serde_json::json!({
            "images": summary.embedded,
            "skipped": summary.errors,
            "already": summary.already,
            "seconds": summary.seconds,
            "images_per_second": rate,
            "output": args.output.display().to_string(),
        })
    );
    Ok(())
}
