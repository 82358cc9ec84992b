//! `cargo xtask eval`: zero-shot top-1/top-5 on a labelled image set, as OpenAI's
//! ImageNet notebook computes it (prompt-ensembled weights, logits = 100 · I · W).

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use clip::device::{Backend, Precision};
use clip_model::Clip;
use clip_zeroshot::{
    Cifar, Features, LabelledImages, Prompts, cached_classifier, classifier_key, default_cs,
    evaluate, fit_probe, image_features, read_cifar, weights_identity,
};

use crate::io::progress;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Dataset {
    Cifar10,
    Cifar100,
    Imagefolder,
    /// A CSV/TSV of (image path, label) given as --data-dir (labels: class names, or
    /// indices into --classes).
    Csv,
}

#[derive(clap::Args)]
pub struct Args {
    /// Model weights: a checkpoint file, a model name (ViT-B/32 …), URL or hf-hub:ORG/REPO.
    #[arg(long)]
    weights: PathBuf,
    /// The dataset's layout.
    #[arg(long, value_enum)]
    dataset: Dataset,
    /// Its root: an ImageFolder tree has one directory per class (`0/ … 999/` as ImageNetV2:
    /// integer names are the labels; otherwise sorted names are).
    #[arg(long)]
    data_dir: PathBuf,
    /// Class names, one per line in label order (default: the dataset's, ImageNet's for a
    /// 1000-class integer-named tree, else the directory names).
    #[arg(long)]
    classes: Option<PathBuf>,
    /// Templates, one per line with `{}` (default: the dataset's; ImageNet's 80 for trees).
    #[arg(long)]
    templates: Option<PathBuf>,
    /// Images per forward pass.
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// JSON report.
    #[arg(long, default_value = "eval_report.json")]
    output: PathBuf,
    /// Run the paper's linear probe on image features instead of zero-shot classification
    /// (logistic regression fitted on the training split: CIFAR's, or --train-dir's).
    #[arg(long)]
    linear_probe: bool,
    /// Training images for --linear-probe: an ImageFolder tree, or a table with --dataset csv.
    #[arg(long)]
    train_dir: Option<PathBuf>,
    /// The probe's inverse regularisation C (default: swept on a fifth of the training set).
    #[arg(long)]
    c: Option<f64>,
    /// Compute backend.
    #[arg(long, value_enum, default_value_t = Backend::Flex)]
    backend: Backend,
    /// Float precision of weights and compute (f16/bf16 where the backend has them; int8:
    /// linear layers and convolutions in 8-bit integers, flex only).
    #[arg(long, value_enum, default_value_t = Precision::F32)]
    dtype: Precision,
}

/// The `--dataset` at `dir` (`test`: its test split where it has one).
fn read_data(args: &Args, dir: &Path, test: bool) -> Result<LabelledImages> {
    let classes = match (&args.classes, args.dataset) {
        (Some(file), Dataset::Csv) => Some(Prompts::read_list(file)?),
        _ => None,
    };
    let data = match args.dataset {
        Dataset::Imagefolder => LabelledImages::image_folder(dir)?,
        Dataset::Csv => LabelledImages::table(dir, classes)?,
        Dataset::Cifar10 => LabelledImages::Cifar(read_cifar(dir, Cifar::Ten, test)?),
        Dataset::Cifar100 => LabelledImages::Cifar(read_cifar(dir, Cifar::Hundred, test)?),
    };
    if data.is_empty() {
        bail!("{}: the dataset holds no images", dir.display());
    }
    Ok(data)
}

/// The model, loaded as --backend and --dtype say.
fn load_model(args: &Args) -> Result<Clip> {
    let device = args.backend.device_in(args.dtype)?;
    Ok(Clip::load(&args.weights, &device)?)
}

/// Unnormalised image features of every image, with a progress bar.
fn features(model: &Clip, data: &LabelledImages, batch_size: usize) -> Result<Vec<f32>> {
    let bar = progress(data.len() as u64, "images");
    let out = image_features(model, data, batch_size, |n| bar.inc(n as u64))?;
    bar.finish_and_clear();
    Ok(out)
}

/// `eval --linear-probe`: features of the training split, a validation sweep of C on a
/// held-out fifth of it (unless `--c` is given), a refit on all of it, test accuracy.
fn linear_probe(args: &Args, test: &LabelledImages) -> Result<()> {
    let train_dir = match args.dataset {
        Dataset::Cifar10 | Dataset::Cifar100 => &args.data_dir,
        Dataset::Imagefolder | Dataset::Csv => match &args.train_dir {
            Some(dir) => dir,
            None => bail!(
                "--linear-probe on an ImageFolder tree or a table needs --train-dir with \
                 the training images"
            ),
        },
    };
    let train = read_data(args, train_dir, false)?;
    let model = load_model(args)?;
    let dim = model.config.embed_dim;
    eprintln!("features of {} training images …", train.len());
    let train_x = features(&model, &train, args.batch_size)?;
    eprintln!("features of {} test images …", test.len());
    let test_x = features(&model, test, args.batch_size)?;
    let (train_y, test_y) = (train.labels(), test.labels());
    if args.c.is_none() {
        eprintln!("sweeping C over {} values …", default_cs().len());
    }
    let train_features = Features {
        values: &train_x,
        dim,
        labels: &train_y,
    };
    let fitted = fit_probe(train_features, args.c)?;
    let fit = fitted.probe.fit_report();
    if !fit.converged {
        eprintln!(
            "warning: the probe did not converge ({}: gradient {:.2e} after {} iterations, \
             tolerance {:.2e})",
            fit.stop, fit.gradient_norm, fit.iterations, fit.gradient_tolerance
        );
    }
    let accuracy = fitted.probe.accuracy(Features {
        values: &test_x,
        dim,
        labels: &test_y,
    })?;
    let c = fitted.c;
    println!(
        "Linear probe accuracy: {:.2} (C = {c:.4})",
        100.0 * accuracy
    );
    let report = serde_json::json!({
        "weights": args.weights.display().to_string(),
        "dataset": format!("{:?}", args.dataset).to_lowercase(),
        "data_dir": args.data_dir.display().to_string(),
        "mode": "linear_probe",
        "train_images": train.len(),
        "images": test.len(),
        "c": c,
        "sweep": fitted.sweep.iter().map(|p| serde_json::json!({
            "c": p.c,
            "val_accuracy": p.val_accuracy,
            "iterations": p.fit.iterations,
            "converged": p.fit.converged,
        })).collect::<Vec<_>>(),
        "top1": accuracy,
        "probe": {
            "iterations": fit.iterations,
            "objective": fit.objective,
            "gradient_norm": fit.gradient_norm,
            "gradient_tolerance": fit.gradient_tolerance,
            "converged": fit.converged,
            "stop": fit.stop,
        },
    });
    write_report(&args.output, &report)
}

/// Writes the JSON report (atomically) and says where.
fn write_report(path: &Path, report: &serde_json::Value) -> Result<()> {
    clip_model::fs::write_bytes_atomic(path, format!("{report:#}\n").as_bytes())?;
    eprintln!("report: {}", path.display());
    Ok(())
}

pub fn run(args: Args) -> Result<()> {
    if args.batch_size == 0 {
        bail!("--batch-size must be at least 1");
    }
    let data = read_data(&args, &args.data_dir, true)?;
    if args.linear_probe {
        return linear_probe(&args, &data);
    }
    let default = data.default_prompts()?;
    let read = |path: &Option<PathBuf>, fallback: Vec<String>| match path {
        Some(p) => Prompts::read_list(p),
        None => Ok(fallback),
    };
    let prompts = Prompts::new(
        read(&args.classes, default.classes)?,
        read(&args.templates, default.templates)?,
    )?;
    // Before the (slow) model load.
    data.check_labels(prompts.classes.len())?;

    let model = load_model(&args)?;
    let texts = prompts.classes.len() * prompts.templates.len();
    let bar = progress(texts as u64, "prompts");
    let cache = clip_model::hub::cache_dir()?.join("zeroshot");
    let key = classifier_key(&weights_identity(&args.weights), &model, &prompts);
    let (weights, cached) = cached_classifier(
        &model,
        &model.tokenizer()?,
        &prompts,
        args.batch_size,
        &cache,
        &key,
        |n| bar.inc(n as u64),
    )?;
    bar.finish_and_clear();
    if cached {
        eprintln!("classifier weights from the cache ({})", cache.display());
    }

    let bar = progress(data.len() as u64, "images");
    let counts = evaluate(&model, &data, &weights, args.batch_size, |n| {
        bar.inc(n as u64)
    })?;
    bar.finish_and_clear();
    let seen = counts.seen;
    let (top1, top5) = counts.rates();
    println!("Top-1 accuracy: {:.2}", 100.0 * top1);
    println!("Top-5 accuracy: {:.2}", 100.0 * top5);
    let report = serde_json::json!({
        "weights": args.weights.display().to_string(),
        "dataset": format!("{:?}", args.dataset).to_lowercase(),
        "data_dir": args.data_dir.display().to_string(),
        "images": seen,
        "classes": prompts.classes.len(),
        "templates": prompts.templates.len(),
        "top1": top1,
        "top5": top5,
    });
    write_report(&args.output, &report)
}
