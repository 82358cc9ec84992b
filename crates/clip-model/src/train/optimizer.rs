//! AdamW with decoupled weight decay on weight matrices only, linear warmup then cosine
//! decay, and global gradient-norm clipping (PyTorch's `clip_grad_norm_`).

use std::f64::consts::PI;

use burn::module::{Module, ModuleVisitor, Param, ParamGroup, ParamId};
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use super::fused_adamw::FusedAdamW;
use crate::Clip;

/// Optimiser and schedule settings (defaults: the CLIP paper's AdamW β = (0.9, 0.98),
/// ε = 1e-6, weight decay 0.2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OptimOptions {
    /// Peak learning rate, reached after the warmup.
    pub lr: f64,
    /// Decoupled weight decay for weight matrices (not gains, biases, embeddings).
    pub weight_decay: f64,
    /// Adam β₁.
    pub beta_1: f32,
    /// Adam β₂.
    pub beta_2: f32,
    /// Adam ε.
    pub epsilon: f32,
    /// Linear warmup from 0 to `lr` over this many optimiser steps.
    pub warmup_steps: usize,
    /// Total optimiser steps; the cosine reaches 0 there.
    pub total_steps: usize,
    /// Clip the global gradient norm to this value (`None`: no clipping).
    pub max_grad_norm: Option<f64>,
}

impl Default for OptimOptions {
    fn default() -> Self {
        OptimOptions {
            lr: 5e-4,
            weight_decay: 0.2,
            beta_1: 0.9,
            beta_2: 0.98,
            epsilon: 1e-6,
            warmup_steps: 0,
            total_steps: 1,
            max_grad_norm: Some(1.0),
        }
    }
}

impl OptimOptions {
    /// Learning rate of optimiser step `step` (0-based): `lr·(step+1)/warmup` during the
    /// warmup, then `½·lr·(1 + cos(π·e/E))` over the remaining `E` steps (open_clip's
    /// `cosine_lr`).
    pub fn lr_at(&self, step: usize) -> f64 {
        if step < self.warmup_steps {
            return self.lr * (step + 1) as f64 / self.warmup_steps as f64;
        }
        let e = (step - self.warmup_steps) as f64;
        let total = self.total_steps.saturating_sub(self.warmup_steps).max(1) as f64;
        0.5 * (1.0 + (PI * (e / total).min(1.0)).cos()) * self.lr
    }

    /// The optimiser: AdamW with weight decay on every parameter of rank ≥ 2 that is not an
    /// embedding, and a second AdamW without decay for the rest (Burn's `AdamW`, its update
    /// fused on the CPU fast path: [`FusedAdamW`]).
    pub fn build(&self, model: &Clip) -> ModuleOptimizer {
        let adamw =
            |decay: f64| FusedAdamW::new(self.beta_1, self.beta_2, self.epsilon, decay as f32);
        let no_decay = ParamGroup::from_ids(no_decay_params(model));
        ModuleOptimizer::from(adamw(self.weight_decay)).with_group(no_decay, adamw(0.0), None)
    }
}

/// Ids of the parameters that take no weight decay: gains, biases (rank 1), embeddings
/// and the logit scale.
pub fn no_decay_params(model: &Clip) -> Vec<ParamId> {
    #[derive(Default)]
    struct Collect {
        path: Vec<String>,
        ids: Vec<ParamId>,
    }
    impl ModuleVisitor for Collect {
        fn enter_module(&mut self, name: &str, _: &str) {
            self.path.push(name.to_string());
        }
        fn exit_module(&mut self, _: &str, _: &str) {
            self.path.pop();
        }
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let path = super::module_path(&self.path);
            if D < 2 || path.contains("embedding") {
                self.ids.push(param.id);
            }
        }
    }
    let mut collect = Collect::default();
    model.visit(&mut collect);
    collect.ids
}

/// Scales `grads` so their global L2 norm is at most `max_norm` (PyTorch's
/// `clip_grad_norm_`: factor `max_norm / (norm + 1e-6)` when below 1); returns the norm
/// before clipping.
pub fn clip_grad_norm(model: &Clip, grads: &mut GradientsParams, max_norm: Option<f64>) -> f64 {
    /// Σ g² over every gradient: in one parallel pass each on the CPU fast path
    /// (`fast`, f64), else as Burn's ops (`slow`, one tensor summed at the end).
    struct Norm<'a> {
        grads: &'a GradientsParams,
        fast: f64,
        slow: Option<Tensor<1>>,
    }
    impl ModuleVisitor for Norm<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let Some(g) = self.grads.get::<D>(param.id) else {
                return;
            };
            if let Some(s) = clip_nn::squared_sum(&g) {
                self.fast += s;
                return;
            }
            let s = g.square().sum();
            self.slow = Some(match self.slow.take() {
                Some(acc) => acc + s,
                None => s,
            });
        }
    }
    struct Scale<'a> {
        grads: &'a mut GradientsParams,
        factor: f64,
    }
    impl ModuleVisitor for Scale<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if let Some(g) = self.grads.remove::<D>(param.id) {
                self.grads.register(param.id, g.mul_scalar(self.factor));
            }
        }
    }
    let mut norm = Norm {
        grads,
        fast: 0.0,
        slow: None,
    };
    model.visit(&mut norm);
    let slow = norm.slow.map_or(0.0, |s| s.into_scalar::<f32>() as f64);
    let total = (norm.fast + slow).sqrt();
    if let Some(max) = max_norm {
        let factor = max / (total + 1e-6);
        if factor < 1.0 {
            model.visit(&mut Scale { grads, factor });
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warmup_then_cosine() {
        let o = OptimOptions {
            lr: 1.0,
            warmup_steps: 4,
            total_steps: 14,
            ..Default::default()
        };
        assert_eq!(o.lr_at(0), 0.25);
        assert_eq!(o.lr_at(3), 1.0);
        assert_eq!(o.lr_at(4), 1.0);
        assert!((o.lr_at(9) - 0.5).abs() < 1e-12);
        assert!(o.lr_at(14).abs() < 1e-12);
        assert!(o.lr_at(100).abs() < 1e-12);
    }
}
