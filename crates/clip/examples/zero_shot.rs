//! Zero-shot classification of one image, as OpenAI's README example, with the tiny model
//! this project ships (it knows coloured shapes; the orange ring was held out of its training).
//!
//! ```sh
//! cargo run -p clip --example zero_shot [-- IMAGE [WEIGHTS]]
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

fn run() -> Result<(), clip::Error> {
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../weights");
    let mut args = std::env::args_os().skip(1).map(PathBuf::from);
    let image = args
        .next()
        .unwrap_or_else(|| shipped.join("examples/orange-ring.jpg"));
    let weights = args
        .next()
        .unwrap_or_else(|| shipped.join("tiny-shapes.safetensors"));

    let device = Backend::Flex.device()?;
    let clip = ClipPipeline::load(&weights, &device)?;
    let labels = ["orange ring", "orange cross", "red ring", "blue square"];
    for (label, probability) in clip.classify(&image, &labels, "a photo of a {}.")? {
        println!("{label}: {probability:.3}");
    }
    Ok(())
}
