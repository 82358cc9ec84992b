//! `cargo xtask eval`: zero-shot top-1/top-5 on a labelled image set, as OpenAI's
//! ImageNet notebook computes it (prompt-ensembled weights, logits = 100 · I · W).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clip_model::Clip;
use clip_tokenizer::Tokenizer;
use clip_vision::preprocess::Preprocessor;
use clip_zeroshot::{Prompts, predict_once, zeroshot_classifier};

use crate::backend::Backend;
use crate::images::preprocess_chunks;
use crate::io::{progress, write_atomic};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Dataset {
    Cifar10,
    Cifar100,
    Imagefolder,
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
    /// Run a linear probe on image features instead of zero-shot classification.
    #[arg(long)]
    linear_probe: bool,
    /// Compute backend.
    #[arg(long, value_enum, default_value_t = Backend::Flex)]
    backend: Backend,
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
    if args.linear_probe {
        bail!("--linear-probe is not available in this build yet (zero-shot evaluation is)");
    }
    let (samples, folder_names) = match args.dataset {
        Dataset::Imagefolder => image_folder(&args.data_dir)?,
        Dataset::Cifar10 | Dataset::Cifar100 => bail!(
            "reading CIFAR's pickle files is not available in this build yet; \
             export the images to an ImageFolder tree and use --dataset imagefolder"
        ),
    };
    let default = if folder_names.len() == 1000 && folder_names[0] == "0" {
        Prompts::imagenet()
    } else {
        let imagenet = Prompts::imagenet();
        Prompts::new(folder_names.clone(), imagenet.templates)?
    };
    let read = |path: &Option<PathBuf>, fallback: Vec<String>| -> Result<Vec<String>> {
        match path {
            Some(p) => Ok(std::fs::read_to_string(p)
                .with_context(|| format!("cannot read {}", p.display()))?
                .lines()
                .map(str::trim_end)
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect()),
            None => Ok(fallback),
        }
    };
    let prompts = Prompts::new(
        read(&args.classes, default.classes)?,
        read(&args.templates, default.templates)?,
    )?;
    if let Some((path, label)) = samples.iter().find(|(_, l)| *l >= prompts.classes.len()) {
        bail!(
            "{}: label {label} but only {} class names were given",
            path.display(),
            prompts.classes.len()
        );
    }

    let device = args.backend.device()?;
    let model = Clip::load(&args.weights, &device)?;
    let tokenizer = Tokenizer::new();
    let texts = prompts.classes.len() * prompts.templates.len();
    let bar = progress(texts as u64, "prompts");
    let weights = zeroshot_classifier(&model, &tokenizer, &prompts, args.batch_size, |n| {
        bar.inc(n as u64)
    })?;
    bar.finish_and_clear();

    let paths: Vec<PathBuf> = samples.iter().map(|(p, _)| p.clone()).collect();
    let preprocessor = Preprocessor::new(model.image_resolution());
    let k = 5.min(prompts.classes.len());
    let (mut top1, mut top5, mut seen) = (0usize, 0usize, 0usize);
    preprocess_chunks(&paths, preprocessor, false, |rows| {
        for batch in rows.chunks(args.batch_size) {
            let pixels = preprocessor.to_tensor(batch, &device);
            let logits: Vec<f32> = predict_once(&model, pixels, weights.clone(), 100.0)
                .into_data()
                .convert::<f32>()
                .try_into_vec()
                .map_err(|e| anyhow::anyhow!("reading logits: {e:?}"))?;
            for row in logits.chunks(prompts.classes.len()) {
                let label = samples[seen].1;
                let mut order: Vec<usize> = (0..row.len()).collect();
                order.sort_by(|&a, &b| row[b].total_cmp(&row[a]));
                top1 += usize::from(order[0] == label);
                top5 += usize::from(order[..k].contains(&label));
                seen += 1;
            }
        }
        Ok(())
    })?;

    let (top1, top5) = (top1 as f64 / seen as f64, top5 as f64 / seen as f64);
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
