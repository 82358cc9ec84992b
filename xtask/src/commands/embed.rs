//! `cargo xtask embed`: image and text features as `encode_image` / `encode_text` return them.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clip_model::Clip;
use clip_vision::preprocess::Preprocessor;
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
    /// Image files to preprocess and embed.
    #[arg(long, num_args = 1..)]
    images: Vec<PathBuf>,
    /// Preprocessed pixels, f32 .npy [N, 3, R, R].
    #[arg(long)]
    pixels: Option<PathBuf>,
    /// Texts, one per line (UTF-8).
    #[arg(long)]
    texts: Option<PathBuf>,
    /// Output .npz with `image_features` [N, E] and `text_features` [M, E] (f32).
    #[arg(long)]
    output: PathBuf,
    /// Compute backend.
    #[arg(long, value_enum, default_value_t = Backend::Flex)]
    backend: Backend,
    /// Float precision of weights and compute (f16/bf16 where the backend has them).
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
}

pub fn run(args: Args) -> Result<()> {
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
        let preprocessor = Preprocessor::new(model.image_resolution());
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
