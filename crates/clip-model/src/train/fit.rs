//! The training driver: epochs over the data, validation, the metrics history, checkpoints
//! (periodic, at each epoch's end, and when asked to stop), resume, the final model.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use burn::module::Module;
use burn::tensor::Device;

use super::distributed::{self, Collective, Group};
use super::validation::Validation;
use super::{History, Objective, OptimOptions, RunState, StepStats, Trainer, pretraining_init};
use crate::data::{
    DataError, DataPosition, Feed, ModelInputs, PairSet, Prefetch, RankSlice, StreamStats,
};
use crate::{Clip, ClipConfig, ConfigError, LoadError, SaveDtype};

/// The checkpoint folder inside a run's output directory.
pub const CHECKPOINT: &str = "checkpoint";
/// The trained model, written into the output directory when a run finishes.
pub const FINAL_MODEL: &str = "model.safetensors";

/// Where the model of a new run comes from.
#[derive(Debug, Clone)]
pub enum ModelSource {
    /// A fresh model of this architecture with OpenAI's initialisation.
    Scratch(ClipConfig),
    /// Finetuning from these weights (any format [`Clip::load`] reads), held in f32.
    Init(PathBuf),
}

/// Everything a run needs.
pub struct FitSpec {
    /// Training pairs.
    pub train: PairSet,
    /// Validation pairs: Recall@1/5/10 at each epoch's end.
    pub val: Option<PairSet>,
    /// The model of a new run (ignored when resuming).
    pub source: ModelSource,
    /// The run's directory: checkpoint, `metrics.csv`, `steps.csv`, the final model.
    pub output: PathBuf,
    /// Epochs in the whole run.
    pub epochs: usize,
    /// Pairs per optimiser step.
    pub batch_size: usize,
    /// Pieces each batch's gradient is accumulated over (the loss is still the full batch's).
    pub grad_accum: usize,
    /// Optimiser and schedule (`total_steps` is set from the data).
    pub options: OptimOptions,
    /// Seeds the initialisation, the data order and the split of pieces.
    pub seed: u64,
    /// The device the model lives on (its autodiff twin trains).
    pub device: Device,
    /// Devices a batch's pieces are spread over (empty or one: just `device`).
    pub devices: Vec<Device>,
    /// Continue the run in `output` instead of starting one.
    pub resume: bool,
    /// Save a checkpoint every this many steps (and at each epoch's end).
    pub checkpoint_every: usize,
    /// Stop (with a checkpoint) after this many steps in this call.
    pub stop_after: Option<usize>,
    /// Bytes of preprocessed pixels kept in memory between epochs.
    pub cache_bytes: usize,
    /// Set (from another thread, e.g. a Ctrl-C handler) to stop after the current step with
    /// a checkpoint.
    pub stop: Option<Arc<AtomicBool>>,
    /// The ranks of a job of several processes (`None`: this process alone). Each loads its
    /// rows of every global batch of `batch_size`; rank 0 alone validates and writes the
    /// checkpoint, metrics and final model; the others read the checkpoint when resuming.
    pub group: Option<Group>,
    /// Recompute memory-bound activations in the backward pass instead of keeping them
    /// (Burn's balanced gradient checkpointing): less memory, more time.
    pub grad_checkpointing: bool,
    /// The loss of a new run (`None`: the model's — sigmoid when its logits carry a bias).
    /// The sigmoid loss gives a model without a bias one (−10, open_clip's start; a model
    /// from scratch also starts at scale ln 10); the contrastive loss drops a model's bias.
    pub objective: Option<Objective>,
}

/// What a finished (or stopped) run reports.
pub struct FitOutcome {
    /// The model as trained so far.
    pub model: Clip,
    /// Optimiser steps of the whole run.
    pub steps: usize,
    /// Whether every epoch ran (else the checkpoint continues it).
    pub finished: bool,
    /// Losses and metrics of the whole run.
    pub history: History,
}

/// What a run reports as it goes, for progress bars and logs.
pub enum FitEvent<'a> {
    /// An existing run is being continued.
    Resumed {
        /// The run's directory.
        output: &'a Path,
        /// Where it stands.
        state: &'a RunState,
    },
    /// Steps are about to run: `total` in the whole run, `done` already.
    Started {
        /// Steps in the whole run.
        total: usize,
        /// Steps already taken.
        done: usize,
    },
    /// One optimiser step was taken.
    Step {
        /// Steps taken in the whole run.
        step: usize,
        /// What it measured.
        stats: &'a StepStats,
    },
    /// An epoch ended; `history` holds its row, `data` what the epoch's data skipped.
    EpochEnd {
        /// The run's record so far.
        history: &'a History,
        /// What the epoch's data used and skipped.
        data: &'a StreamStats,
    },
    /// The steps of this call are done: how fast they went and how long data was awaited.
    Pace(Pace),
    /// The run stopped before its end; the checkpoint in `checkpoint` continues it.
    Stopped {
        /// Steps taken in the whole run.
        step: usize,
        /// The checkpoint folder.
        checkpoint: &'a Path,
    },
}

/// The pace of the steps of one call.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    /// Steps taken.
    pub steps: usize,
    /// Pairs trained on (by every rank of a job).
    pub pairs: usize,
    /// Time in the model's steps.
    pub stepping: Duration,
    /// Time waiting for the next batch.
    pub waited: Duration,
}

impl std::fmt::Display for Pace {
    /// `12 steps, 96 pairs: 31.5 pairs/s (model step 32.0 pairs/s), 1.6% of the time waiting
    /// for data` — the loop's pace and whether the data pipeline held it back.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let total = (self.stepping + self.waited).as_secs_f64().max(1e-9);
        write!(
            f,
            "{} steps, {} pairs: {:.1} pairs/s (model step {:.1} pairs/s), {:.1}% of the time \
             waiting for data",
            self.steps,
            self.pairs,
            self.pairs as f64 / total,
            self.pairs as f64 / self.stepping.as_secs_f64().max(1e-9),
            100.0 * self.waited.as_secs_f64() / total
        )
    }
}

/// Why a run could not start or go on.
#[derive(Debug, thiserror::Error)]
pub enum FitError {
    /// Resuming a directory that holds no checkpoint.
    #[error("--resume: {} holds no checkpoint to continue", .0.display())]
    NothingToResume(PathBuf),
    /// Starting a run in a directory that holds one.
    #[error(
        "{} already holds a run; pass --resume to continue it or choose another --output",
        .0.display()
    )]
    RunExists(PathBuf),
    /// Fewer pairs than one batch.
    #[error("the training set has no full batch")]
    NoFullBatch,
    /// A validation set without pairs.
    #[error("the validation set has no pairs")]
    EmptyValidation,
    /// The loss overflowed.
    #[error("the loss became {loss} at step {step}; lower --lr (last checkpoint kept)")]
    NonFiniteLoss {
        /// The loss.
        loss: f64,
        /// The step.
        step: usize,
    },
    /// A checkpoint's metrics history that does not read.
    #[error("checkpoint's metrics: {0}")]
    History(#[from] serde_json::Error),
    /// The data.
    #[error(transparent)]
    Data(#[from] DataError),
    /// The checkpoint.
    #[error(transparent)]
    Checkpoint(#[from] super::CheckpointError),
    /// The initial weights.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// The final model's file.
    #[error(transparent)]
    Save(#[from] crate::SaveError),
    /// Ranks of one job that start from different places.
    #[error(
        "rank {rank} starts at step {step} with weights unlike rank 0's (at step {step_0}): every \
         rank must read the same --output (a filesystem all hosts share) and the same model"
    )]
    RanksDiffer {
        /// The rank that differs.
        rank: usize,
        /// Its step.
        step: usize,
        /// Rank 0's step.
        step_0: usize,
    },
    /// An architecture that cannot be built.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Validation captions.
    #[error(transparent)]
    Tokenizer(#[from] clip_tokenizer::TokenizerError),
    /// The output directory or a metrics file.
    #[error(transparent)]
    File(#[from] crate::fs::FileError),
}

/// Runs (or resumes) training as `spec` says, telling `events` how it goes.
pub fn fit(spec: FitSpec, mut events: impl FnMut(FitEvent<'_>)) -> Result<FitOutcome, FitError> {
    let started = Instant::now();
    let group = spec.group.clone();
    // Rank 0 (or a process alone) writes; the other ranks only read.
    let leader = group.as_ref().is_none_or(|g| g.rank() == 0);
    if leader {
        std::fs::create_dir_all(&spec.output).map_err(|error| crate::fs::FileError {
            path: spec.output.clone(),
            action: "create it",
            error,
        })?;
    }
    let checkpoint = spec.output.join(CHECKPOINT);
    let has_checkpoint = Trainer::checkpoint_exists(&checkpoint);
    let autodiff = |device: &Device| {
        let device = device.clone().autodiff();
        if spec.grad_checkpointing {
            device.gradient_checkpointing()
        } else {
            device
        }
    };
    let device = autodiff(&spec.device);

    let (mut trainer, mut state, mut history) = if spec.resume {
        if !has_checkpoint {
            return Err(FitError::NothingToResume(spec.output));
        }
        let (trainer, state) = Trainer::resume(&checkpoint, &device)?;
        let history = History::from_json(&state.extra)?;
        events(FitEvent::Resumed {
            output: &spec.output,
            state: &state,
        });
        (trainer, state, history)
    } else {
        if has_checkpoint && leader {
            return Err(FitError::RunExists(spec.output));
        }
        let model = match &spec.source {
            ModelSource::Scratch(config) => {
                let mut config = config.clone();
                if let Some(objective) = spec.objective {
                    config.logit_bias = objective == Objective::Sigmoid;
                }
                config.validate()?;
                pretraining_init(config.init(&device), spec.seed)
            }
            ModelSource::Init(path) => {
                let model = Clip::load(path, &spec.device)?;
                match spec.objective {
                    Some(objective) => with_objective(model, objective),
                    None => model,
                }
            }
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

    if let Some(group) = &group {
        agree_on_start(group.as_ref(), &trainer, state.step)?;
    }
    let config = state.config.clone();
    let slice = group.as_ref().map_or(RankSlice::WHOLE, |g| RankSlice {
        rank: g.rank(),
        ranks: g.ranks(),
    });
    let inputs = ModelInputs::of(&trainer.model)?;
    let loader = spec.train.loader(
        &inputs,
        spec.batch_size,
        state.seed,
        spec.cache_bytes,
        slice,
    )?;
    let per_epoch = loader.batches_per_epoch();
    if per_epoch == 0 {
        return Err(FitError::NoFullBatch);
    }
    let total = spec.epochs * per_epoch;
    if !spec.resume {
        // The schedule's length is known only now that the data is.
        trainer.options.total_steps = total;
        state.options.total_steps = total;
    }
    let mut val_set = spec
        .val
        .filter(|_| leader)
        .map(|val| Validation::new(val, &inputs, spec.batch_size, state.seed, spec.cache_bytes))
        .transpose()?;

    let workers: Vec<Device> = spec.devices.iter().map(autodiff).collect();
    events(FitEvent::Started {
        total,
        done: state.step,
    });
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
                if leader {
                    history.write(&spec.output)?;
                }
                events(FitEvent::EpochEnd {
                    history: &history,
                    data: &stats,
                });
                state.epoch += 1;
                state.batch_in_epoch = 0;
                state.samples_in_epoch = 0;
                if leader {
                    save(&trainer, &mut state, &history, &checkpoint)?;
                }
                continue;
            }
        };
        let step_started = Instant::now();
        let pixels = batch.pixel_tensor(config.image_resolution, &device);
        let stats = match &group {
            Some(group) => trainer.step_across(
                pixels,
                &batch.tokens,
                spec.grad_accum,
                &workers,
                group.as_ref(),
            ),
            None => trainer.step_on(pixels, &batch.tokens, spec.grad_accum, &workers),
        };
        stepping += step_started.elapsed();
        pairs += stats.pairs;
        if !stats.loss.is_finite() {
            return Err(FitError::NonFiniteLoss {
                loss: stats.loss,
                step: trainer.step,
            });
        }
        history.record_step(trainer.step, state.epoch, &stats);
        state.batch_in_epoch = batch.index + 1;
        state.samples_in_epoch = batch.position;
        state.step = trainer.step;
        steps_here += 1;
        events(FitEvent::Step {
            step: trainer.step,
            stats: &stats,
        });
        let asked = spec.stop.as_ref().is_some_and(|s| s.load(Ordering::SeqCst));
        // Every rank stops after the same step: a signal may reach them at different times.
        let asked = match &group {
            Some(group) => distributed::any(group.as_ref(), asked),
            None => asked,
        };
        let stop = asked || spec.stop_after.is_some_and(|n| steps_here >= n);
        if leader && (stop || trainer.step.is_multiple_of(spec.checkpoint_every.max(1))) {
            save(&trainer, &mut state, &history, &checkpoint)?;
        }
        if stop {
            finished = false;
            break;
        }
    }
    drop(feeds);
    if steps_here > 0 {
        events(FitEvent::Pace(Pace {
            steps: steps_here,
            pairs,
            stepping,
            waited,
        }));
    }
    let model = trainer.model.valid();
    if finished {
        if leader {
            model.save(spec.output.join(FINAL_MODEL), SaveDtype::F32)?;
        }
    } else {
        events(FitEvent::Stopped {
            step: trainer.step,
            checkpoint: &checkpoint,
        });
    }
    Ok(FitOutcome {
        model,
        steps: trainer.step,
        finished,
        history,
    })
}

/// Checks that every rank starts from rank 0's step and weights.
fn agree_on_start(group: &dyn Collective, trainer: &Trainer, step: usize) -> Result<(), FitError> {
    let [sum, abs] = distributed::fingerprint(&trainer.model);
    let all = group.all_gather(&[step as f32, sum as f32, abs as f32]);
    let ranks: Vec<&[f32]> = all.chunks(3).collect();
    match ranks.iter().position(|r| *r != ranks[0]) {
        None => Ok(()),
        Some(rank) => Err(FitError::RanksDiffer {
            rank,
            step: ranks[rank][0] as usize,
            step_0: ranks[0][0] as usize,
        }),
    }
}

fn save(
    trainer: &Trainer,
    state: &mut RunState,
    history: &History,
    dir: &Path,
) -> Result<(), FitError> {
    state.extra = history.to_json();
    Ok(trainer.save_checkpoint(dir, state)?)
}

/// `model` set up for `objective`: a logit bias of −10 added for the sigmoid loss (its scale
/// kept), the bias dropped for the contrastive one.
fn with_objective(mut model: Clip, objective: Objective) -> Clip {
    let sigmoid = objective == Objective::Sigmoid;
    model.config.logit_bias = sigmoid;
    model.logit_bias = match (sigmoid, model.logit_bias.take()) {
        (true, Some(bias)) => Some(bias),
        (true, None) => {
            let device = model.logit_scale.val().device();
            Some(burn::module::Param::from_tensor(
                burn::tensor::Tensor::from_floats([-10.0f32], &device),
            ))
        }
        (false, _) => None,
    };
    model
}
