//! Finetune a model for a few steps on your own image–caption table (a CSV with `image` and
//! `caption` columns, image paths relative to the table), then save it.
//!
//! ```sh
//! cargo run -p clip --example finetune_csv [-- TABLE.csv [WEIGHTS [OUTPUT_DIR]]]
//! ```
//!
//! Without arguments it writes a four-row table of the shipped example images and finetunes
//! the shipped tiny model on it for three steps.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clip::model::data::{PairSet, read_table};
use clip::model::train::{FitEvent, FitSpec, ModelSource, OptimOptions, fit};
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
    let scratch = tempfile::tempdir()?;
    let mut args = std::env::args_os().skip(1).map(PathBuf::from);
    let table = match args.next() {
        Some(table) => table,
        None => example_table(&shipped.join("examples"), scratch.path())?,
    };
    let weights = args
        .next()
        .unwrap_or_else(|| shipped.join("tiny-shapes.safetensors"));
    let output = args.next().unwrap_or_else(|| scratch.path().join("run"));

    let pairs = read_table(&table)?;
    let spec = FitSpec {
        train: PairSet::Pairs(pairs),
        val: None,
        source: ModelSource::Init(weights),
        output: output.clone(),
        epochs: 3,
        batch_size: 4,
        grad_accum: 1,
        options: OptimOptions {
            lr: 1e-5,
            ..OptimOptions::default()
        },
        seed: 0,
        device: Backend::Flex.device()?,
        devices: Vec::new(),
        resume: false,
        checkpoint_every: 1000,
        stop_after: None,
        cache_bytes: 64 << 20,
        stop: None,
        group: None,
        grad_checkpointing: false,
        objective: None,
    };
    let outcome = fit(spec, |event| {
        if let FitEvent::Step { step, stats } = event {
            println!("step {step}: loss {:.4}", stats.loss);
        }
    })?;
    println!(
        "finetuned {} steps: {}",
        outcome.steps,
        output.join(clip::model::train::FINAL_MODEL).display()
    );
    Ok(())
}

/// `image,caption` rows for the example images, captions from their names.
fn example_table(images: &Path, dir: &Path) -> std::io::Result<PathBuf> {
    let mut csv = String::from("image,caption\n");
    let mut names: Vec<_> = std::fs::read_dir(images)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "jpg"))
        .collect();
    names.sort();
    for path in names {
        let stem = path.file_stem().unwrap_or_default().to_string_lossy();
        csv.push_str(&format!(
            "{},\"a photo of a {}.\"\n",
            path.display(),
            stem.replace('-', " ")
        ));
    }
    let table = dir.join("pairs.csv");
    std::fs::write(&table, csv)?;
    Ok(table)
}
