//! Per-step losses and per-epoch metrics: kept in the checkpoint (so a resumed run's files
//! are those of an uninterrupted one) and written as `metrics.csv` / `steps.csv`.

use std::fmt::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::StepStats;
use crate::fs::{FileError, write_bytes_atomic};
use crate::retrieval::Recall;

/// One epoch's row of `metrics.csv`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRow {
    /// 0-based epoch.
    pub epoch: usize,
    /// Optimiser steps at its end.
    pub step: usize,
    /// Mean loss of its steps.
    pub train_loss: f64,
    /// Mean in-batch accuracy of its steps.
    pub train_accuracy: f64,
    /// Learning rate of its last step.
    pub lr: f64,
    /// Logit scale `t` after its last step (the temperature is `exp(t)`).
    pub logit_scale: f64,
    /// Image → text Recall@1/5/10, then text → image (absent without a validation set).
    pub val_recall: Option<[f64; 6]>,
    /// Seconds since the run started.
    pub seconds: f64,
}

/// The run's record so far.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    /// `(step, epoch, loss, in-batch accuracy)` of every step.
    pub steps: Vec<(usize, usize, f64, f64)>,
    /// One row per finished epoch.
    pub epochs: Vec<EpochRow>,
    #[serde(default)]
    last: Option<(f64, f64)>,
}

impl History {
    /// The history kept in a checkpoint's `extra` (none: an empty one).
    pub fn from_json(value: &serde_json::Value) -> Result<Self, serde_json::Error> {
        if value.is_null() {
            return Ok(History::default());
        }
        serde_json::from_value(value.clone())
    }

    /// What goes into a checkpoint's `extra`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("history serialises")
    }

    /// Records one optimiser step.
    pub fn record_step(&mut self, step: usize, epoch: usize, stats: &StepStats) {
        self.steps.push((step, epoch, stats.loss, stats.accuracy));
        self.last = Some((stats.lr, stats.logit_scale));
    }

    /// Closes `epoch`: its mean loss and accuracy, the last learning rate and scale, the
    /// validation recall if any, the seconds since the run started.
    pub fn end_epoch(&mut self, epoch: usize, step: usize, recall: Option<Recall>, seconds: f64) {
        let rows: Vec<_> = self.steps.iter().filter(|s| s.1 == epoch).collect();
        let n = rows.len().max(1) as f64;
        let (lr, logit_scale) = self.last.unwrap_or_default();
        self.epochs.push(EpochRow {
            epoch,
            step,
            train_loss: rows.iter().map(|s| s.2).sum::<f64>() / n,
            train_accuracy: rows.iter().map(|s| s.3).sum::<f64>() / n,
            lr,
            logit_scale,
            val_recall: recall.map(|r| {
                let (a, b) = (&r.image_to_text, &r.text_to_image);
                [a[0], a[1], a[2], b[0], b[1], b[2]]
            }),
            seconds,
        });
    }

    /// `epoch 2 (step 40): loss 1.2345, in-batch accuracy 0.500[, val R@1/5/10 …]`.
    pub fn last_epoch_line(&self) -> String {
        let Some(e) = self.epochs.last() else {
            return String::new();
        };
        let mut line = format!(
            "epoch {} (step {}): loss {:.4}, in-batch accuracy {:.3}",
            e.epoch + 1,
            e.step,
            e.train_loss,
            e.train_accuracy
        );
        if let Some(r) = e.val_recall {
            let _ = write!(
                line,
                ", val R@1/5/10 image→text {:.3}/{:.3}/{:.3} text→image {:.3}/{:.3}/{:.3}",
                r[0], r[1], r[2], r[3], r[4], r[5]
            );
        }
        line
    }

    /// Writes `metrics.csv` and `steps.csv` in `dir` (each replaced atomically).
    pub fn write(&self, dir: &Path) -> Result<(), FileError> {
        let mut metrics = String::from(
            "epoch,step,train_loss,train_accuracy,lr,logit_scale,val_i2t_r1,val_i2t_r5,\
             val_i2t_r10,val_t2i_r1,val_t2i_r5,val_t2i_r10,seconds\n",
        );
        for e in &self.epochs {
            let recall = e
                .val_recall
                .map(|r| r.map(|v| format!("{v:.6}")).join(","))
                .unwrap_or_else(|| ",,,,,".to_string());
            let _ = writeln!(
                metrics,
                "{},{},{:.6},{:.6},{:.6e},{:.6},{recall},{:.1}",
                e.epoch + 1,
                e.step,
                e.train_loss,
                e.train_accuracy,
                e.lr,
                e.logit_scale,
                e.seconds
            );
        }
        let mut steps = String::from("step,epoch,loss,accuracy\n");
        for (step, epoch, loss, acc) in &self.steps {
            let _ = writeln!(steps, "{step},{},{loss:.6},{acc:.6}", epoch + 1);
        }
        for (name, body) in [("metrics.csv", metrics), ("steps.csv", steps)] {
            write_bytes_atomic(&dir.join(name), body.as_bytes())?;
        }
        Ok(())
    }
}
