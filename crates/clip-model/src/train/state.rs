//! Training checkpoints: model, optimiser state and run position, replaced atomically so a
//! run killed at any moment resumes from its last complete checkpoint.

use std::fs;
use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use super::{OptimOptions, Trainer};
use crate::ClipConfig;

/// Why a checkpoint could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// A file-system failure.
    #[error("{path}: {error}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause (shown in the message, so not a chained source).
        error: std::io::Error,
    },
    /// A part of the checkpoint that does not read back.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

impl CheckpointError {
    fn io(path: &Path, source: std::io::Error) -> Self {
        CheckpointError::Io {
            path: path.to_path_buf(),
            error: source,
        }
    }

    fn invalid(path: &Path, message: impl ToString) -> Self {
        CheckpointError::Invalid {
            path: path.to_path_buf(),
            message: message.to_string(),
        }
    }
}

/// Where a run is: enough, with the model and optimiser, to continue it exactly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunState {
    /// Optimiser steps taken.
    pub step: usize,
    /// Epoch in progress (0-based).
    pub epoch: usize,
    /// Batches of that epoch already consumed.
    pub batch_in_epoch: usize,
    /// Samples of that epoch's data stream already consumed, skipped ones included (what a
    /// streamed set resumes from; lists resume from `batch_in_epoch` alone).
    #[serde(default)]
    pub samples_in_epoch: u64,
    /// Seed of the data order (each epoch's order is derived from it).
    pub seed: u64,
    /// The architecture.
    pub config: ClipConfig,
    /// Optimiser and schedule settings.
    pub options: OptimOptions,
    /// Anything else the driver needs back (arguments, metrics so far).
    #[serde(default)]
    pub extra: serde_json::Value,
}

const MODEL: &str = "model.bpk";
const OPTIM: &str = "optim.bpk";
const STATE: &str = "state.json";

impl Trainer {
    /// Writes `dir` (model, optimiser, `state.json`). The new checkpoint is assembled in
    /// `dir.tmp` and swapped in with renames, so `dir` always holds a complete checkpoint
    /// (or, between two renames, `dir.old` does — [`Trainer::resume`] looks there too).
    pub fn save_checkpoint(&self, dir: &Path, state: &RunState) -> Result<(), CheckpointError> {
        let tmp = sibling(dir, "tmp");
        let old = sibling(dir, "old");
        if tmp.exists() {
            fs::remove_dir_all(&tmp).map_err(|e| CheckpointError::io(&tmp, e))?;
        }
        fs::create_dir_all(&tmp).map_err(|e| CheckpointError::io(&tmp, e))?;
        let model_file = tmp.join(MODEL);
        self.model
            .valid()
            .save_file(&model_file)
            .map_err(|e| CheckpointError::invalid(&model_file, e))?;
        if let Some(tokenizer) = &self.model.hf_tokenizer {
            crate::tokenizer::copy_to(tokenizer.path(), &model_file)
                .map_err(|e| CheckpointError::io(&model_file, e))?;
        }
        let optim_file = tmp.join(OPTIM);
        self.optim
            .save(&optim_file)
            .map_err(|e| CheckpointError::invalid(&optim_file, e))?;
        let state_file = tmp.join(STATE);
        let json = serde_json::to_string_pretty(state).expect("run state serialises");
        write_synced(&state_file, json.as_bytes())?;
        if dir.exists() {
            if old.exists() {
                fs::remove_dir_all(&old).map_err(|e| CheckpointError::io(&old, e))?;
            }
            fs::rename(dir, &old).map_err(|e| CheckpointError::io(dir, e))?;
        }
        fs::rename(&tmp, dir).map_err(|e| CheckpointError::io(dir, e))?;
        if old.exists() {
            fs::remove_dir_all(&old).map_err(|e| CheckpointError::io(&old, e))?;
        }
        Ok(())
    }

    /// Reads the checkpoint in `dir` (or `dir.old` if a save was interrupted between its
    /// renames) and rebuilds the trainer on `device`.
    pub fn resume(dir: &Path, device: &Device) -> Result<(Trainer, RunState), CheckpointError> {
        let complete = complete_checkpoint(dir);
        let dir = complete.as_deref().unwrap_or(dir);
        let state_file = dir.join(STATE);
        let text =
            fs::read_to_string(&state_file).map_err(|e| CheckpointError::io(&state_file, e))?;
        let state: RunState =
            serde_json::from_str(&text).map_err(|e| CheckpointError::invalid(&state_file, e))?;
        state
            .config
            .validate()
            .map_err(|e| CheckpointError::invalid(&state_file, e))?;
        let model_file = dir.join(MODEL);
        if !model_file.exists() {
            return Err(CheckpointError::invalid(&model_file, "missing"));
        }
        let mut model = state
            .config
            .init(device)
            .try_load_file(&model_file)
            .map_err(|e| CheckpointError::invalid(&model_file, e))?
            .train();
        model.hf_tokenizer = crate::tokenizer::load(&model_file, &state.config)
            .map_err(|e| CheckpointError::invalid(&model_file, e))?;
        let optim_file = dir.join(OPTIM);
        if !optim_file.exists() {
            return Err(CheckpointError::invalid(&optim_file, "missing"));
        }
        let optim = state
            .options
            .build(&model)
            .load(&optim_file)
            .map_err(|e| CheckpointError::invalid(&optim_file, e))?;
        let trainer = Trainer {
            model,
            optim,
            options: state.options.clone(),
            step: state.step,
            gradient_sum: Default::default(),
        };
        Ok((trainer, state))
    }
}

impl Trainer {
    /// Whether `dir` (or, after an interrupted save, `dir.old`) holds a checkpoint that
    /// [`Trainer::resume`] can read.
    pub fn checkpoint_exists(dir: &Path) -> bool {
        complete_checkpoint(dir).is_some()
    }
}

/// The directory holding the last complete checkpoint: `dir`, or `dir.old` when a save was
/// interrupted between its renames.
fn complete_checkpoint(dir: &Path) -> Option<PathBuf> {
    [dir.to_path_buf(), sibling(dir, "old")]
        .into_iter()
        .find(|d| d.join(STATE).exists())
}

/// `run/checkpoint` → `run/checkpoint.tmp`.
fn sibling(dir: &Path, suffix: &str) -> PathBuf {
    let mut name = dir.file_name().unwrap_or_default().to_os_string();
    name.push(".");
    name.push(suffix);
    dir.with_file_name(name)
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), CheckpointError> {
    use std::io::Write;
    let mut file = fs::File::create(path).map_err(|e| CheckpointError::io(path, e))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| CheckpointError::io(path, e))
}
