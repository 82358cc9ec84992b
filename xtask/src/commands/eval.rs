//! `cargo xtask eval`: zero-shot top-1/top-5 on a labelled image set, as OpenAI's
//! ImageNet notebook computes it (prompt-ensembled weights, logits = 100 · I · W).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clip_model::Clip;
use clip_tokenizer::Tokenizer;
use clip_vision::preprocess::Preprocessor;
use clip_vision::preprocess::{Mode, PilImage};
use clip_zeroshot::{
    Cifar, CifarSet, Features, LinearProbe, Prompts, TopK, cached_classifier, classifier_key,
    default_cs, read_cifar, read_labelled_table, sweep_c,
};
use rayon::prelude::*;

use crate::images::preprocess_chunks;
use crate::io::{progress, write_atomic};
use clip::device::{Backend, Precision};

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
    /// Float precision of weights and compute (f16/bf16 where the backend has them).
    #[arg(long, value_enum, default_value_t = Precision::F32)]
    dtype: Precision,
}

const IMAGE_EXTENSIONS: [&str; 9] = [
    "jpg", "jpeg", "png", "gif", "webp", "bmp", "tif", "tiff", "ppm",
];

/// Files under `dir`, recursively, sorted.
fn image_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()?;
    entries.sort();
    for path in entries {
        if path.is_dir() {
            image_files(&path, out)?;
        } else if path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
        {
            out.push(path);
        }
    }
    Ok(())
}

/// `(image, label)` pairs of a dataset.
type Samples = Vec<(PathBuf, usize)>;

/// The images to evaluate: files with labels (and the tree's class names), or CIFAR's
/// in-memory images.
enum Data {
    Files(Samples, Vec<String>),
    Cifar(CifarSet),
}

impl Data {
    fn len(&self) -> usize {
        match self {
            Data::Files(samples, _) => samples.len(),
            Data::Cifar(set) => set.images.len(),
        }
    }

    fn labels(&self) -> Vec<usize> {
        match self {
            Data::Files(samples, _) => samples.iter().map(|(_, l)| *l).collect(),
            Data::Cifar(set) => set.labels.clone(),
        }
    }

    /// How to name sample `i` in a message.
    fn name(&self, i: usize) -> String {
        match self {
            Data::Files(samples, _) => samples[i].0.display().to_string(),
            Data::Cifar(_) => format!("CIFAR test image {i}"),
        }
    }
}

/// Preprocesses every image of `data` in order and hands them over in chunks.
fn each_image_batch(
    data: &Data,
    preprocessor: Preprocessor,
    mut sink: impl FnMut(&[Vec<f32>]) -> Result<()>,
) -> Result<()> {
    match data {
        Data::Files(samples, _) => {
            let paths: Vec<PathBuf> = samples.iter().map(|(p, _)| p.clone()).collect();
            preprocess_chunks(&paths, preprocessor, false, sink)?;
        }
        Data::Cifar(set) => {
            let bar = progress(set.images.len() as u64, "images");
            for chunk in set.images.chunks(256) {
                let rows: Vec<Vec<f32>> = chunk
                    .par_iter()
                    .map(|hwc| {
                        preprocessor.pixels(&PilImage::from_u8(Mode::Rgb, 32, 32, hwc.clone()))
                    })
                    .collect();
                sink(&rows)?;
                bar.inc(chunk.len() as u64);
            }
            bar.finish_and_clear();
        }
    }
    Ok(())
}

/// Unnormalised image features `[n, embed]` (row-major) of every image of `data`, as the
/// paper's linear probe uses them.
fn image_features(model: &Clip, data: &Data, batch_size: usize) -> Result<(Vec<f32>, usize)> {
    let preprocessor = Preprocessor::new(model.image_resolution());
    let mut out = Vec::new();
    each_image_batch(data, preprocessor, |rows| {
        out.extend(model.image_features(&rows.concat(), batch_size, |_| {}));
        Ok(())
    })?;
    Ok((out, model.config.embed_dim))
}

/// `eval --linear-probe`: features of the training split, a validation sweep of C on a
/// held-out fifth of it (unless `--c` is given), a refit on all of it, test accuracy.
fn linear_probe(args: &Args, test: &Data) -> Result<()> {
    let train = match args.dataset {
        Dataset::Cifar10 => Data::Cifar(read_cifar(&args.data_dir, Cifar::Ten, false)?),
        Dataset::Cifar100 => Data::Cifar(read_cifar(&args.data_dir, Cifar::Hundred, false)?),
        Dataset::Imagefolder | Dataset::Csv => {
            let Some(dir) = &args.train_dir else {
                bail!(
                    "--linear-probe on an ImageFolder tree or a table needs --train-dir with \
                     the training images"
                );
            };
            let (samples, names) = if args.dataset == Dataset::Csv {
                labelled_table(dir, args.classes.as_deref())?
            } else {
                image_folder(dir)?
            };
            Data::Files(samples, names)
        }
    };
    let device = args.backend.device_in(args.dtype)?;
    let model = Clip::load(&args.weights, &device)?;
    eprintln!("features of {} training images …", train.len());
    let (train_x, dim) = image_features(&model, &train, args.batch_size)?;
    eprintln!("features of {} test images …", test.len());
    let (test_x, _) = image_features(&model, test, args.batch_size)?;
    let train_y = train.labels();
    let test_y = test.labels();
    let all = Features {
        values: &train_x,
        dim,
        labels: &train_y,
    };
    let (c, sweep) = match args.c {
        Some(c) => (c, Vec::new()),
        None => {
            // Every fifth image (by position) validates; the rest trains.
            let (mut fit_x, mut fit_y, mut val_x, mut val_y) = (vec![], vec![], vec![], vec![]);
            for (i, &label) in train_y.iter().enumerate() {
                let row = &train_x[i * dim..(i + 1) * dim];
                if i % 5 == 4 {
                    val_x.extend_from_slice(row);
                    val_y.push(label);
                } else {
                    fit_x.extend_from_slice(row);
                    fit_y.push(label);
                }
            }
            let cs = default_cs();
            eprintln!("sweeping C over {} values …", cs.len());
            sweep_c(
                Features {
                    values: &fit_x,
                    dim,
                    labels: &fit_y,
                },
                Features {
                    values: &val_x,
                    dim,
                    labels: &val_y,
                },
                &cs,
                LinearProbe::DEFAULT_MAX_ITERATIONS,
            )?
        }
    };
    let probe = LinearProbe::fit(all, c, LinearProbe::DEFAULT_MAX_ITERATIONS)?;
    let fit = probe.fit_report();
    if !fit.converged {
        eprintln!(
            "warning: the probe did not converge ({}: gradient {:.2e} after {} iterations, \
             tolerance {:.2e})",
            fit.stop, fit.gradient_norm, fit.iterations, fit.gradient_tolerance
        );
    }
    let accuracy = probe.accuracy(Features {
        values: &test_x,
        dim,
        labels: &test_y,
    })?;
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
        "sweep": sweep.iter().map(|p| serde_json::json!({
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
    write_atomic(&args.output, |tmp| {
        Ok(std::fs::write(tmp, format!("{report:#}\n"))?)
    })?;
    eprintln!("report: {}", args.output.display());
    Ok(())
}

/// A class-name or template file: one entry per line, trailing whitespace and blank lines
/// dropped.
fn read_list(path: &Path) -> Result<Vec<String>> {
    Ok(crate::io::read_lines(path)?
        .into_iter()
        .map(|l| l.trim_end().to_string())
        .filter(|l| !l.is_empty())
        .collect())
}

/// A labelled table: its samples and class names — `classes_file`'s lines when given
/// (labels are names from it or indices into it), else the labels' distinct values, sorted.
fn labelled_table(table: &Path, classes_file: Option<&Path>) -> Result<(Samples, Vec<String>)> {
    let rows = read_labelled_table(table)?;
    let names: Vec<String> = match classes_file {
        Some(file) => read_list(file)?,
        None => {
            let mut names: Vec<String> = rows.iter().map(|(_, l)| l.clone()).collect();
            names.sort();
            names.dedup();
            names
        }
    };
    let samples = rows
        .into_iter()
        .map(|(path, label)| {
            let index = names
                .iter()
                .position(|n| *n == label)
                .or_else(|| classes_file.and(label.parse::<usize>().ok()));
            match index {
                Some(i) if i < names.len() => Ok((path, i)),
                _ => bail!(
                    "{}: label '{label}' of {} is not one of the {} classes",
                    table.display(),
                    path.display(),
                    names.len()
                ),
            }
        })
        .collect::<Result<Samples>>()?;
    Ok((samples, names))
}

/// What identifies the weights for the classifier cache: a file's canonical path, size and
/// modification time (a rewritten file gets a new key); a model name or URL as given.
fn weights_identity(weights: &Path) -> String {
    match (weights.canonicalize(), std::fs::metadata(weights)) {
        (Ok(path), Ok(meta)) => {
            let modified = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos());
            format!("{}|{}|{modified}", path.display(), meta.len())
        }
        _ => weights.display().to_string(),
    }
}

/// ImageNet's prompts for a 1000-class integer-named tree, else the directory names with
/// ImageNet's templates.
fn folder_prompts(names: &[String]) -> Result<Prompts> {
    Ok(if names.len() == 1000 && names[0] == "0" {
        Prompts::imagenet()
    } else {
        Prompts::new(names.to_vec(), Prompts::imagenet().templates)?
    })
}

/// An ImageFolder tree: its samples and the class directory names in label order.
fn image_folder(root: &Path) -> Result<(Samples, Vec<String>)> {
    let mut dirs: Vec<String> = std::fs::read_dir(root)
        .with_context(|| format!("cannot read {}", root.display()))?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    if dirs.is_empty() {
        bail!(
            "{}: no class directories (expected one directory per class)",
            root.display()
        );
    }
    let numeric: Option<Vec<usize>> = dirs.iter().map(|d| d.parse().ok()).collect();
    let names: Vec<String> = match &numeric {
        Some(labels) => {
            let n = labels.iter().max().unwrap() + 1;
            (0..n).map(|i| i.to_string()).collect()
        }
        None => {
            dirs.sort();
            dirs.clone()
        }
    };
    let mut samples = Vec::new();
    for (i, dir) in dirs.iter().enumerate() {
        let label = numeric.as_ref().map_or(i, |l| l[i]);
        let mut files = Vec::new();
        image_files(&root.join(dir), &mut files)?;
        samples.extend(files.into_iter().map(|f| (f, label)));
    }
    samples.sort();
    if samples.is_empty() {
        bail!("{}: the dataset holds no images", root.display());
    }
    Ok((samples, names))
}

pub fn run(args: Args) -> Result<()> {
    if args.batch_size == 0 {
        bail!("--batch-size must be at least 1");
    }
    let data = match args.dataset {
        Dataset::Imagefolder => {
            let (samples, names) = image_folder(&args.data_dir)?;
            Data::Files(samples, names)
        }
        Dataset::Csv => {
            let (samples, names) = labelled_table(&args.data_dir, args.classes.as_deref())?;
            Data::Files(samples, names)
        }
        Dataset::Cifar10 => Data::Cifar(read_cifar(&args.data_dir, Cifar::Ten, true)?),
        Dataset::Cifar100 => Data::Cifar(read_cifar(&args.data_dir, Cifar::Hundred, true)?),
    };
    if data.len() == 0 {
        bail!("{}: the dataset holds no images", args.data_dir.display());
    }
    if args.linear_probe {
        return linear_probe(&args, &data);
    }
    let default = match &data {
        Data::Cifar(set) if set.classes.len() == 10 => Prompts::cifar10(),
        Data::Cifar(_) => Prompts::cifar100(),
        Data::Files(_, names) => folder_prompts(names)?,
    };
    let read = |path: &Option<PathBuf>, fallback: Vec<String>| match path {
        Some(p) => read_list(p),
        None => Ok(fallback),
    };
    let prompts = Prompts::new(
        read(&args.classes, default.classes)?,
        read(&args.templates, default.templates)?,
    )?;
    let labels = data.labels();
    if let Some(position) = labels.iter().position(|&l| l >= prompts.classes.len()) {
        bail!(
            "{}: label {} but only {} class names were given",
            data.name(position),
            labels[position],
            prompts.classes.len()
        );
    }

    let device = args.backend.device_in(args.dtype)?;
    let model = Clip::load(&args.weights, &device)?;
    let tokenizer = Tokenizer::new();
    let texts = prompts.classes.len() * prompts.templates.len();
    let bar = progress(texts as u64, "prompts");
    let cache = clip_model::hub::cache_dir()?.join("zeroshot");
    let key = classifier_key(&weights_identity(&args.weights), &model, &prompts);
    let (weights, cached) = cached_classifier(
        &model,
        &tokenizer,
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

    let preprocessor = Preprocessor::new(model.image_resolution());
    let mut counts = TopK::default();
    let mut score = |rows: &[Vec<f32>]| -> Result<()> {
        for batch in rows.chunks(args.batch_size) {
            let pixels = preprocessor.to_tensor(batch, &device);
            let first = counts.seen;
            counts.add_images(
                &model,
                pixels,
                &weights,
                100.0,
                &labels[first..first + batch.len()],
            );
        }
        Ok(())
    };
    each_image_batch(&data, preprocessor, &mut score)?;
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
    write_atomic(&args.output, |tmp| {
        Ok(std::fs::write(tmp, format!("{report:#}\n"))?)
    })?;
    eprintln!("report: {}", args.output.display());
    Ok(())
}
