//! The training driver shared by `cargo xtask train` and `cargo xtask demo`: epochs over a
//! [`BatchLoader`], checkpoints, resume, validation recall, `metrics.csv` and the loss curve.

mod history;
mod plot;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use burn::module::Module;
use burn::tensor::Device;
use clip_model::data::{BatchLoader, ImageCaptions};
use clip_model::train::{OptimOptions, RunState, Trainer, pretraining_init};
use clip_model::{Clip, ClipConfig};

pub use history::History;

/// Where the model of a new run comes from.
#[derive(Debug, Clone)]
pub enum ModelSource {
    /// A fresh model of this architecture with OpenAI's initialisation.
    Scratch(ClipConfig),
    /// Finetuning from these weights (any format `Clip::load` reads), held in f32.
    Init(PathBuf),
}

/// Everything a run needs.
pub struct RunSpec {
    pub train: ImageCaptions,
    pub val: Option<ImageCaptions>,
    pub source: ModelSource,
    pub output: PathBuf,
    pub epochs: usize,
    pub batch_size: usize,
    pub grad_accum: usize,
    pub options: OptimOptions,
    pub seed: u64,
    pub device: Device,
    /// Devices a batch's pieces are spread over (empty or one: just `device`).
    pub devices: Vec<Device>,
    pub resume: bool,
    /// Save a checkpoint every this many steps (and at each epoch's end).
    pub checkpoint_every: usize,
    /// Stop (with a checkpoint) after this many steps in this invocation.
    pub stop_after: Option<usize>,
    /// Bytes of preprocessed pixels kept in memory between epochs.
    pub cache_bytes: usize,
    /// Draw progress bars.
    pub progress: bool,
}

/// What a finished (or stopped) run reports.
pub struct RunOutcome {
    pub model: Clip,
    pub steps: usize,
    pub finished: bool,
    pub history: History,
}

const CHECKPOINT: &str = "checkpoint";
pub const FINAL_MODEL: &str = "model.safetensors";

/// Runs (or resumes) training as `spec` says.
pub fn run(spec: RunSpec) -> Result<RunOutcome> {
    let started = Instant::now();
    std::fs::create_dir_all(&spec.output)
        .with_context(|| format!("cannot create {}", spec.output.display()))?;
    let checkpoint = spec.output.join(CHECKPOINT);
    let has_checkpoint = Trainer::checkpoint_exists(&checkpoint);
    let device = spec.device.clone().autodiff();

    let (mut trainer, mut state, mut history) = if spec.resume {
        if !has_checkpoint {
            bail!(
                "--resume: {} holds no checkpoint to continue",
                spec.output.display()
            );
        }
        let (trainer, state) = Trainer::resume(&checkpoint, &device)?;
        let history = History::from_json(&state.extra).context("checkpoint's metrics")?;
        eprintln!(
            "resuming {} at step {} (epoch {}, batch {})",
            spec.output.display(),
            state.step,
            state.epoch + 1,
            state.batch_in_epoch
        );
        (trainer, state, history)
    } else {
        if has_checkpoint {
            bail!(
                "{} already holds a run; pass --resume to continue it or choose another --output",
                spec.output.display()
            );
        }
        let model = match &spec.source {
            ModelSource::Scratch(config) => {
                config.validate()?;
                pretraining_init(config.init(&device), spec.seed)
            }
            ModelSource::Init(path) => Clip::load(path, &spec.device)?,
        };
        let config = model.config.clone();
        let trainer = Trainer::new(model, spec.options.clone());
        let state = RunState {
            step: 0,
            epoch: 0,
            batch_in_epoch: 0,
            seed: spec.seed,
            config,
            options: spec.options.clone(),
            extra: serde_json::Value::Null,
        };
        (trainer, state, History::default())
    };

    let config = state.config.clone();
    let mut loader = BatchLoader::new(
        spec.train,
        config.image_resolution,
        config.context_length,
        spec.batch_size,
        state.seed,
        spec.cache_bytes,
    );
    let per_epoch = loader.batches_per_epoch();
    if per_epoch == 0 {
        bail!("the training set has no full batch");
    }
    let total = spec.epochs * per_epoch;
    if !spec.resume {
        // The schedule's length is known only now that the data is.
        trainer.options.total_steps = total;
        state.options.total_steps = total;
    }
    let mut val_loader = spec.val.map(|val| {
        BatchLoader::new(
            val,
            config.image_resolution,
            config.context_length,
            spec.batch_size,
            state.seed,
            spec.cache_bytes,
        )
    });

    let workers: Vec<Device> = spec.devices.iter().map(|d| d.clone().autodiff()).collect();
    let interrupted = interrupt_flag();
    let bar = spec
        .progress
        .then(|| crate::io::progress(total as u64, "steps"));
    if let Some(bar) = &bar {
        bar.set_position(state.step as u64);
    }
    let mut steps_here = 0;
    let mut finished = true;
    'epochs: while state.epoch < spec.epochs {
        while state.batch_in_epoch < per_epoch {
            let batch = loader.batch(state.epoch, state.batch_in_epoch)?;
            let pixels = batch.pixel_tensor(config.image_resolution, &device);
            let stats = trainer.step_on(pixels, &batch.tokens, spec.grad_accum, &workers);
            if !stats.loss.is_finite() {
                bail!(
                    "the loss became {} at step {}; lower --lr (last checkpoint kept)",
                    stats.loss,
                    trainer.step
                );
            }
            history.record_step(trainer.step, state.epoch, &stats);
            state.batch_in_epoch += 1;
            state.step = trainer.step;
            steps_here += 1;
            if let Some(bar) = &bar {
                bar.inc(1);
                bar.set_message(format!("loss {:.4}", stats.loss));
            }
            let stop = interrupted.load(Ordering::SeqCst)
                || spec.stop_after.is_some_and(|n| steps_here >= n);
            if stop || trainer.step.is_multiple_of(spec.checkpoint_every.max(1)) {
                save(&trainer, &mut state, &history, &checkpoint)?;
            }
            if stop {
                finished = false;
                break 'epochs;
            }
        }
        let val = match val_loader.as_mut() {
            Some(v) => Some(validate(&trainer.model, v)?),
            None => None,
        };
        history.end_epoch(
            state.epoch,
            trainer.step,
            val,
            started.elapsed().as_secs_f64(),
        );
        history.write(&spec.output)?;
        plot::loss_curve(&history, &spec.output.join("loss.png"))?;
        if let Some(bar) = bar.as_ref().filter(|b| !b.is_hidden()) {
            bar.println(history.last_epoch_line());
        } else {
            eprintln!("{}", history.last_epoch_line());
        }
        state.epoch += 1;
        state.batch_in_epoch = 0;
        save(&trainer, &mut state, &history, &checkpoint)?;
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let model = trainer.model.valid();
    if finished {
        let out = spec.output.join(FINAL_MODEL);
        model.save(&out, clip_model::SaveDtype::F32)?;
    } else {
        eprintln!(
            "stopped at step {}; the checkpoint in {} continues it with --resume",
            trainer.step,
            checkpoint.display()
        );
    }
    Ok(RunOutcome {
        model,
        steps: trainer.step,
        finished,
        history,
    })
}

fn save(trainer: &Trainer, state: &mut RunState, history: &History, dir: &Path) -> Result<()> {
    state.extra = history.to_json();
    trainer
        .save_checkpoint(dir, state)
        .with_context(|| format!("cannot write the checkpoint {}", dir.display()))
}

/// Image ↔ text Recall@1/5/10 over a validation set, every caption of every image.
fn validate(model: &Clip, loader: &mut BatchLoader) -> Result<clip_zeroshot::Recall> {
    let model = model.valid();
    let device = model.logit_scale.val().device();
    let tokenizer = clip_tokenizer::Tokenizer::new();
    let resolution = model.image_resolution();
    let mut image_features = Vec::new();
    let mut text_features = Vec::new();
    let mut text_image = Vec::new();
    let (count, step) = (loader.data().len(), loader.batch_size().max(1));
    for start in (0..count).step_by(step) {
        let idx: Vec<usize> = (start..(start + step).min(count)).collect();
        let mut captions = Vec::new();
        for &i in &idx {
            for caption in &loader.data().captions[i] {
                captions.push(caption.clone());
                text_image.push(i);
            }
        }
        let pixels = loader.pixels(&idx)?;
        let pixels = burn::tensor::Tensor::<4>::from_data(
            burn::tensor::TensorData::new(pixels, [idx.len(), 3, resolution, resolution]),
            &device,
        );
        image_features.push(model.encode_image(pixels));
        let tokens = tokenizer.tokenize(&captions, model.config.context_length, true)?;
        text_features.push(model.encode_text(&clip_text::TokenIds::from(&tokens)));
    }
    Ok(clip_zeroshot::retrieval_recall(
        burn::tensor::Tensor::cat(image_features, 0),
        burn::tensor::Tensor::cat(text_features, 0),
        &text_image,
        &[1, 5, 10],
    ))
}

/// Set on Ctrl-C: the loop checkpoints and stops after the current step.
fn interrupt_flag() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let set = flag.clone();
    // A second handler cannot be installed (demo after train in one process): then Ctrl-C
    // simply ends the process, and the last periodic checkpoint is what remains.
    let _ = ctrlc::set_handler(move || {
        if set.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
        eprintln!("\ninterrupted: finishing the current step and saving a checkpoint…");
    });
    flag
}
