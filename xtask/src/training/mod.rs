//! The training driver shared by `cargo xtask train` and `cargo xtask demo`: epochs over a
//! [`BatchLoader`], checkpoints, resume, validation recall, `metrics.csv` and the loss curve.

mod history;
mod plot;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use burn::module::Module;
use burn::tensor::Device;
use clip_model::data::{
    BatchLoader, BatchSource, DataError, DataPosition, Feed, PairSet, Prefetch, ShardLoader,
    StreamOptions,
};
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
    pub train: PairSet,
    pub val: Option<PairSet>,
    /// What was found on disk, logged once the run starts.
    pub found: Option<String>,
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
            samples_in_epoch: 0,
            seed: spec.seed,
            config,
            options: spec.options.clone(),
            extra: serde_json::Value::Null,
        };
        (trainer, state, History::default())
    };

    if let Some(found) = &spec.found {
        eprintln!("{found}");
    }
    let config = state.config.clone();
    let loader = spec.train.loader(
        config.image_resolution,
        config.context_length,
        spec.batch_size,
        state.seed,
        spec.cache_bytes,
    )?;
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
    let mut val_set = spec
        .val
        .map(|val| Validation::new(val, &config, spec.batch_size, state.seed, spec.cache_bytes))
        .transpose()?;

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
    let from = DataPosition {
        epoch: state.epoch,
        batch: state.batch_in_epoch,
        samples: state.samples_in_epoch,
    };
    let mut feeds = Prefetch::spawn(loader, from, spec.epochs, 2);
    let (mut waited, mut stepping, mut pairs) = (Duration::ZERO, Duration::ZERO, 0);
    loop {
        let asked = Instant::now();
        let Some(feed) = feeds.next() else { break };
        waited += asked.elapsed();
        let batch = match feed? {
            Feed::Batch(batch) => batch,
            Feed::EpochEnd { stats, .. } => {
                let val = match val_set.as_mut() {
                    Some(v) => Some(v.recall(&trainer.model)?),
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
                let mut line = history.last_epoch_line();
                if stats.skipped() + stats.truncated_shards > 0 {
                    line.push_str(&format!("\n  data: {stats}"));
                }
                if let Some(bar) = bar.as_ref().filter(|b| !b.is_hidden()) {
                    bar.println(line);
                } else {
                    eprintln!("{line}");
                }
                state.epoch += 1;
                state.batch_in_epoch = 0;
                state.samples_in_epoch = 0;
                save(&trainer, &mut state, &history, &checkpoint)?;
                continue;
            }
        };
        let step_started = Instant::now();
        let pixels = batch.pixel_tensor(config.image_resolution, &device);
        let stats = trainer.step_on(pixels, &batch.tokens, spec.grad_accum, &workers);
        stepping += step_started.elapsed();
        pairs += batch.images.len();
        if !stats.loss.is_finite() {
            bail!(
                "the loss became {} at step {}; lower --lr (last checkpoint kept)",
                stats.loss,
                trainer.step
            );
        }
        history.record_step(trainer.step, state.epoch, &stats);
        state.batch_in_epoch = batch.index + 1;
        state.samples_in_epoch = batch.position;
        state.step = trainer.step;
        steps_here += 1;
        if let Some(bar) = &bar {
            bar.inc(1);
            bar.set_message(format!("loss {:.4}", stats.loss));
        }
        let stop =
            interrupted.load(Ordering::SeqCst) || spec.stop_after.is_some_and(|n| steps_here >= n);
        if stop || trainer.step.is_multiple_of(spec.checkpoint_every.max(1)) {
            save(&trainer, &mut state, &history, &checkpoint)?;
        }
        if stop {
            finished = false;
            break;
        }
    }
    drop(feeds);
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    if steps_here > 0 {
        eprintln!("{}", throughput_line(steps_here, pairs, stepping, waited));
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

/// `12 steps, 96 pairs: 31.5 pairs/s (model step 32.0 pairs/s), 1.6% of the time waiting for
/// data` — the training loop's pace and whether the data pipeline held it back.
fn throughput_line(steps: usize, pairs: usize, stepping: Duration, waited: Duration) -> String {
    let total = (stepping + waited).as_secs_f64().max(1e-9);
    format!(
        "{steps} steps, {pairs} pairs: {:.1} pairs/s (model step {:.1} pairs/s), {:.1}% of the time waiting for data",
        pairs as f64 / total,
        pairs as f64 / stepping.as_secs_f64().max(1e-9),
        100.0 * waited.as_secs_f64() / total
    )
}

fn save(trainer: &Trainer, state: &mut RunState, history: &History, dir: &Path) -> Result<()> {
    state.extra = history.to_json();
    trainer
        .save_checkpoint(dir, state)
        .with_context(|| format!("cannot write the checkpoint {}", dir.display()))
}

/// A validation set: a list (every caption of every image) or shards (read in order, one
/// caption per sample).
enum Validation {
    Pairs(BatchLoader),
    Shards(Box<ShardLoader>),
}

impl Validation {
    fn new(
        set: PairSet,
        config: &ClipConfig,
        batch_size: usize,
        seed: u64,
        cache_bytes: usize,
    ) -> Result<Self> {
        let (resolution, context) = (config.image_resolution, config.context_length);
        Ok(match set {
            PairSet::Pairs(data) => Validation::Pairs(BatchLoader::new(
                data,
                resolution,
                context,
                batch_size,
                seed,
                cache_bytes,
            )),
            PairSet::Shards(data, options) => {
                let options = StreamOptions {
                    shuffle_buffer: 1,
                    keep_last: true,
                    ..options
                };
                let loader =
                    ShardLoader::new(data, resolution, context, batch_size, seed, options)?;
                Validation::Shards(Box::new(loader))
            }
        })
    }

    /// Image ↔ text Recall@1/5/10 of `model` over the set.
    fn recall(&mut self, model: &Clip) -> Result<clip_zeroshot::Recall> {
        let model = model.valid();
        match self {
            Validation::Pairs(loader) => {
                let (count, step) = (loader.data().len(), loader.batch_size().max(1));
                let chunks = (0..count).step_by(step).map(|start| {
                    let idx: Vec<usize> = (start..(start + step).min(count)).collect();
                    let captions = idx
                        .iter()
                        .map(|&i| loader.data().captions[i].clone())
                        .collect();
                    Ok((loader.pixels(&idx)?, captions))
                });
                recall(&model, chunks)
            }
            Validation::Shards(loader) => {
                loader.seek(0, 0, 0)?;
                let chunks = std::iter::from_fn(|| loader.next_batch()).map(|batch| {
                    batch.map(|b| (b.pixels, b.captions.into_iter().map(|c| vec![c]).collect()))
                });
                recall(&model, chunks)
            }
        }
    }
}

/// Recall@1/5/10 over chunks of (pixels of n images, each image's captions).
fn recall(
    model: &Clip,
    chunks: impl Iterator<Item = Result<(Vec<f32>, Vec<Vec<String>>), DataError>>,
) -> Result<clip_zeroshot::Recall> {
    let device = model.logit_scale.val().device();
    let tokenizer = clip_tokenizer::Tokenizer::new();
    let resolution = model.image_resolution();
    let mut image_features = Vec::new();
    let mut text_features = Vec::new();
    let mut text_image = Vec::new();
    let mut images = 0;
    for chunk in chunks {
        let (pixels, captions) = chunk?;
        let n = captions.len();
        let mut texts = Vec::new();
        for (k, all) in captions.into_iter().enumerate() {
            text_image.extend(std::iter::repeat_n(images + k, all.len()));
            texts.extend(all);
        }
        images += n;
        let pixels = clip_vision::preprocess::pixels_to_tensor(pixels, resolution, &device);
        image_features.push(model.encode_image(pixels));
        let tokens = tokenizer.tokenize(&texts, model.config.context_length, true)?;
        text_features.push(model.encode_text(&clip_text::TokenIds::from(&tokens)));
    }
    if image_features.is_empty() {
        bail!("the validation set has no pairs");
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
