//! Search a folder of images by text: embed every image once, embed the query, print the
//! images best first with their cosine similarity.
//!
//! ```sh
//! cargo run -p clip --example embed_folder [-- FOLDER "QUERY" [WEIGHTS]]
//! ```

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clip::prelude::*;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../weights");
    let mut args = std::env::args_os().skip(1);
    let folder = args
        .next()
        .map_or_else(|| shipped.join("examples"), PathBuf::from);
    let query = args.next().map_or_else(
        || "a photo of a red circle.".to_owned(),
        |q| q.to_string_lossy().into_owned(),
    );
    let weights = args
        .next()
        .map_or_else(|| shipped.join("tiny-shapes.safetensors"), PathBuf::from);

    let mut images: Vec<PathBuf> = std::fs::read_dir(&folder)
        .map_err(|e| format!("{}: {e}", folder.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| is_image(p))
        .collect();
    images.sort();
    if images.is_empty() {
        return Err(format!("{}: no .jpg/.jpeg/.png/.webp images", folder.display()).into());
    }

    let device = Backend::Flex.device()?;
    let clip = ClipPipeline::load(&weights, &device)?;
    let features = clip.embed_images(&images)?;
    let scores = clip.embed_texts(&[query.as_str()])?.similarity(&features);
    let mut ranked: Vec<(&PathBuf, f32)> = images.iter().zip(scores[0].iter().copied()).collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
    println!("{query}");
    for (path, score) in ranked {
        println!("{score:.4}  {}", path.display());
    }
    Ok(())
}

fn is_image(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| ["jpg", "jpeg", "png", "webp"].contains(&e.to_ascii_lowercase().as_str()))
}
