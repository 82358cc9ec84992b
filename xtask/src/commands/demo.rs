//! `cargo xtask demo`: generates a synthetic image–caption set, trains a tiny CLIP on it
//! from scratch on the CPU, and classifies images of colour × shape combinations that were
//! never in training, zero-shot. The last line printed is one JSON object.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clip_model::data::synthetic::{self, Labelled, SyntheticOptions};
use clip_model::data::{PairSet, Split, read_flickr8k};
use clip_model::train::OptimOptions;
use clip_model::{Clip, ClipConfig, VisionLayers};
use clip_zeroshot::{Prompts, zeroshot_classifier, zeroshot_logits};

use crate::training;
use clip::device::Backend;
use clip_model::train::{FitSpec, ModelSource};

/// Templates of the zero-shot classifier (phrasings the captions also use).
pub const TEMPLATES: [&str; 3] = ["a {}", "a photo of a {}.", "there is a {} in this picture"];

#[derive(clap::Args)]
pub struct Args {
    /// Directory for the data and the run (replaced if it holds an earlier demo).
    #[arg(long, default_value = "demo-run")]
    output: PathBuf,
    /// Training images (seen colour × shape combinations).
    #[arg(long, default_value_t = 4000)]
    train_images: usize,
    #[arg(long, default_value_t = 20)]
    epochs: usize,
    #[arg(long, default_value_t = 100)]
    batch_size: usize,
    #[arg(long, default_value_t = 2e-3)]
    lr: f64,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Also write the trained model here (f16 safetensors), e.g. weights/tiny-shapes.safetensors.
    #[arg(long)]
    save_weights: Option<PathBuf>,
    /// Compute backend.
    #[arg(long, value_enum, default_value_t = Backend::Flex)]
    backend: Backend,
}

/// The demo's architecture: a ModifiedResNet (one bottleneck per stage, width 16) on 64-pixel
/// images and a 2-layer text transformer of width 64.
pub fn tiny_config() -> ClipConfig {
    ClipConfig {
        embed_dim: 64,
        image_resolution: 64,
        vision_layers: VisionLayers::ResNet([1, 1, 1, 1]),
        vision_width: 16,
        vision_patch_size: None,
        context_length: 24,
        vocab_size: 49408,
        transformer_width: 64,
        transformer_heads: 2,
        transformer_layers: 2,
        activation: clip_nn::Activation::QuickGelu,
        vision_head_width: 32,
        ..ClipConfig::preset("RN50").expect("a preset")
    }
}

const MARKER: &str = "demo.json";

pub fn run(args: Args) -> Result<()> {
    let started = Instant::now();
    prepare_dir(&args.output)?;
    let data_dir = args.output.join("data");
    eprintln!("generating the synthetic set in {} …", data_dir.display());
    let options = SyntheticOptions {
        train: args.train_images,
        seed: args.seed,
        ..SyntheticOptions::default()
    };
    let test = synthetic::generate(&data_dir, &options)?;
    let train = read_flickr8k(&data_dir, Split::Train)?;
    let val = read_flickr8k(&data_dir, Split::Dev)?;
    let per_epoch = train.len() / args.batch_size.max(2);
    let outcome = training::run(
        FitSpec {
            train: PairSet::Pairs(train),
            val: Some(PairSet::Pairs(val)),
            source: ModelSource::Scratch(tiny_config()),
            output: args.output.join("run"),
            epochs: args.epochs,
            batch_size: args.batch_size.max(2),
            grad_accum: 1,
            options: OptimOptions {
                lr: args.lr,
                weight_decay: 0.1,
                warmup_steps: per_epoch.min(50),
                ..OptimOptions::default()
            },
            seed: args.seed,
            device: args.backend.device()?,
            devices: Vec::new(),
            resume: false,
            checkpoint_every: 10_000,
            stop_after: None,
            cache_bytes: 1 << 30,
            stop: None,
            group: None,
            grad_checkpointing: false,
            objective: None,
        },
        None,
    )?;
    let model = outcome.model;
    let Evaluation {
        seen_top1,
        heldout_top1,
        per_class,
        examples,
    } = evaluate(&model, &test)?;
    eprintln!(
        "zero-shot on test images (classes: all {} colour × shape names):",
        synthetic::class_names().len()
    );
    for (name, accuracy) in &per_class {
        eprintln!("  held out {name}: top-1 {accuracy:.3}");
    }
    for (path, truth, guess, held_out) in examples {
        eprintln!(
            "  {}: {guess}{} (truth: {truth}{})",
            path.file_name().unwrap_or_default().to_string_lossy(),
            if guess == truth { " ✓" } else { " ✗" },
            if held_out {
                ", never seen in training"
            } else {
                ""
            }
        );
    }
    if let Some(out) = &args.save_weights {
        if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        model.save(out, clip_model::SaveDtype::F16)?;
        eprintln!("saved the model to {}", out.display());
    }
    let report = serde_json::json!({
        "heldout_top1": heldout_top1,
        "seen_top1": seen_top1,
        "steps": outcome.steps,
        "seconds": (started.elapsed().as_secs_f64() * 10.0).round() / 10.0,
        "train_loss": outcome.history.epochs.last().map(|e| e.train_loss),
        "heldout_per_class": per_class.iter().cloned().collect::<serde_json::Map<_, _>>(),
        "test_images": test.len(),
    });
    clip_model::fs::write_bytes_atomic(
        &args.output.join(MARKER),
        format!("{report:#}\n").as_bytes(),
    )?;
    println!("{report}");
    Ok(())
}

/// Refuses to overwrite a directory that is not an earlier demo's.
fn prepare_dir(dir: &Path) -> Result<()> {
    if dir.exists() {
        let empty = std::fs::read_dir(dir)
            .with_context(|| format!("cannot read {}", dir.display()))?
            .next()
            .is_none();
        if !empty && !dir.join(MARKER).exists() && !dir.join("data").join("Flickr8k_text").exists()
        {
            bail!(
                "{} exists and is not an earlier demo's output; choose another --output",
                dir.display()
            );
        }
        for sub in ["data", "run", MARKER] {
            let path = dir.join(sub);
            if path.is_dir() {
                std::fs::remove_dir_all(&path)
            } else if path.exists() {
                std::fs::remove_file(&path)
            } else {
                Ok(())
            }
            .with_context(|| format!("cannot clear {}", path.display()))?;
        }
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))
}

type Example = (PathBuf, String, String, bool);

/// What the zero-shot evaluation found.
struct Evaluation {
    seen_top1: f64,
    heldout_top1: f64,
    /// Top-1 of each held-out class.
    per_class: Vec<(String, serde_json::Value)>,
    /// `(image, truth, guess, held out)` for a few images.
    examples: Vec<Example>,
}

/// Zero-shot top-1 of seen and held-out images, per held-out class, and a few predictions.
fn evaluate(model: &Clip, test: &[Labelled]) -> Result<Evaluation> {
    let device = model.logit_scale.val().device();
    let classes = synthetic::class_names();
    let prompts = Prompts::new(
        classes.clone(),
        TEMPLATES.iter().map(|t| t.to_string()).collect(),
    )?;
    let weights = zeroshot_classifier(model, &model.tokenizer()?, &prompts, 256, |_| {})?;
    let preprocessor = model.preprocessor();
    let mut hits = [(0usize, 0usize); 2];
    let mut by_class = std::collections::BTreeMap::<usize, (usize, usize)>::new();
    let mut confusions = std::collections::BTreeMap::<(usize, usize), usize>::new();
    let mut examples = Vec::new();
    for chunk in test.chunks(128) {
        let paths: Vec<&PathBuf> = chunk.iter().map(|item| &item.path).collect();
        let images = preprocessor
            .load_all(&paths)
            .into_iter()
            .collect::<Result<Vec<_>, _>>()?;
        let pixels = preprocessor.to_tensor(&images, &device);
        let guesses: Vec<i64> = zeroshot_logits(model, pixels, weights.clone(), 100.0)
            .argmax(1)
            .into_data()
            .convert::<i64>()
            .try_to_vec::<i64>()
            .expect("class indices");
        for (item, &guess) in chunk.iter().zip(&guesses) {
            let group = &mut hits[usize::from(item.held_out)];
            group.1 += 1;
            let hit = usize::from(guess as usize == item.class);
            group.0 += hit;
            if item.held_out {
                if hit == 0 {
                    *confusions.entry((item.class, guess as usize)).or_default() += 1;
                }
                let entry = by_class.entry(item.class).or_default();
                entry.0 += hit;
                entry.1 += 1;
            }
            let wanted = if item.held_out { 3 } else { 2 };
            if examples
                .iter()
                .filter(|e: &&Example| e.3 == item.held_out)
                .count()
                < wanted
            {
                examples.push((
                    item.path.clone(),
                    classes[item.class].clone(),
                    classes[guess as usize].clone(),
                    item.held_out,
                ));
            }
        }
    }
    let rate = |(h, n): (usize, usize)| h as f64 / n.max(1) as f64;
    let per_class = by_class
        .into_iter()
        .map(|(class, counts)| {
            let worst = confusions
                .iter()
                .filter(|((c, _), _)| *c == class)
                .max_by_key(|(_, n)| **n);
            if let Some(((_, guess), n)) = worst {
                note_confusion(&classes[class], &classes[*guess], *n, counts.1);
            }
            (classes[class].clone(), serde_json::json!(rate(counts)))
        })
        .collect();
    Ok(Evaluation {
        seen_top1: rate(hits[0]),
        heldout_top1: rate(hits[1]),
        per_class,
        examples,
    })
}

/// Says which class a held-out class is most often taken for.
fn note_confusion(class: &str, guess: &str, times: usize, of: usize) {
    eprintln!("  held out {class}: taken for {guess} in {times} of {of} images");
}
