//! `cargo xtask bench`: encoding throughput of one architecture with random weights (or of
//! a checkpoint, `--weights`),
//! printed as one JSON line `{"arch", "batch", "backend", "images_per_s", "texts_per_s"}`
//! (plus `"dtype"`, and `"cpu_matmul"`: the kernels of the CPU fast path's matrix products
//! on float32 `flex`, or null where that path is not taken; `"threads"`: the worker threads
//! of the CPU thread pool; `"cpu"`: the processor's model name, so that a figure says which
//! CPU it came from).
//! `tests/reference/bench_model.py` runs OpenAI's code on the same shapes for the ratio.

use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use burn::tensor::{Distribution, Tensor};
use clip_model::{Clip, ClipConfig};

use clip::device::{Backend, Precision};

#[derive(clap::Args)]
pub struct Args {
    /// Architecture: RN50, RN101, RN50x4, RN50x16, RN50x64, ViT-B/32, ViT-B/16, ViT-L/14,
    /// ViT-L/14@336px.
    #[arg(long, required_unless_present = "weights")]
    arch: Option<String>,
    /// Measure these weights instead of random ones (a checkpoint file or model name; the
    /// architecture is theirs).
    #[arg(long, conflicts_with = "arch")]
    weights: Option<std::path::PathBuf>,
    /// Images (and texts) per forward pass.
    #[arg(long, default_value_t = 16)]
    batch: usize,
    /// Seconds to measure each of image and text encoding (after one warm-up batch).
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Compute backend.
    #[arg(long, value_enum, default_value_t = Backend::Flex)]
    backend: Backend,
    /// Float precision of weights and compute (f16/bf16 where the backend has them; int8:
    /// linear layers and convolutions in 8-bit integers, flex only).
    #[arg(long, value_enum, default_value_t = Precision::F32)]
    dtype: Precision,
}

/// Runs `step` (which handles `batch` items and waits for its result) until `seconds` pass.
fn throughput(
    batch: usize,
    seconds: f64,
    mut step: impl FnMut(usize) -> Result<()>,
) -> Result<f64> {
    step(0)?; // warm-up: allocations, kernel compilation on GPU backends
    let budget = Duration::from_secs_f64(seconds);
    let start = Instant::now();
    let mut done = 0;
    let mut i = 1;
    while done == 0 || start.elapsed() < budget {
        step(i)?;
        done += batch;
        i += 1;
    }
    Ok(done as f64 / start.elapsed().as_secs_f64())
}

pub fn run(args: Args) -> Result<()> {
    if args.batch == 0 {
        bail!("--batch must be at least 1");
    }
    if !(args.seconds > 0.0 && args.seconds.is_finite()) {
        bail!("--seconds must be a positive number");
    }
    let device = args.backend.device_in(args.dtype)?;
    let model: Clip = match (&args.arch, &args.weights) {
        (_, Some(weights)) => Clip::load(weights, &device)?,
        (Some(arch), None) => ClipConfig::preset(arch)?.init(&device),
        (None, None) => unreachable!("clap requires one"),
    };
    let config = model.config.clone();
    let r = config.image_resolution;

    let pixels = Tensor::<4>::random(
        [args.batch, 3, r, r],
        Distribution::Normal(0.0, 1.0),
        &device,
    );
    let images_per_s = throughput(args.batch, args.seconds, |_| {
        model.encode_image(pixels.clone()).into_data();
        Ok(())
    })?;

    // Realistic prompts: "a photo of a {class}." over ImageNet's class names, a new batch
    // each step (tokenization included, as a user pays for it).
    let classes = clip_zeroshot::Prompts::imagenet().classes;
    let tokenizer = model.tokenizer()?;
    let texts_per_s = throughput(args.batch, args.seconds, |step| {
        let prompts: Vec<String> = (0..args.batch)
            .map(|j| {
                format!(
                    "a photo of a {}.",
                    classes[(step * args.batch + j) % classes.len()]
                )
            })
            .collect();
        let batch = tokenizer.tokenize(&prompts, config.context_length, true)?;
        model.encode_text(&batch).into_data();
        Ok(())
    })?;

    let fast_path =
        args.backend == Backend::Flex && matches!(args.dtype, Precision::F32 | Precision::Int8);
    let line = serde_json::json!({
        "arch": config.name(),
        "batch": args.batch,
        "backend": args.backend.name(),
        "dtype": args.dtype.name(),
        "cpu_matmul": fast_path.then(clip_nn::cpu_matmul),
        "panel_kernel": if fast_path { clip_nn::panel_kernel() } else { None },
        "images_per_s": (images_per_s * 100.0).round() / 100.0,
        "texts_per_s": (texts_per_s * 100.0).round() / 100.0,
        "threads": rayon::current_num_threads(),
        "cpu": cpu_model(),
    });
    println!("{line}");
    Ok(())
}

/// The processor's model name (`/proc/cpuinfo`'s first `model name`), else the architecture.
fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, name)| name.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string())
}
